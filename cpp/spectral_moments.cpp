#include "spectral_moments.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace mlff {

namespace {

void check_radii(const std::vector<double>& radii) {
  if (radii.empty()) throw std::invalid_argument("radii must not be empty");
  for (size_t k = 0; k < radii.size(); ++k) {
    if (!(radii[k] > 0.0) || !std::isfinite(radii[k]))
      throw std::invalid_argument("radii must be positive and finite");
    if (k > 0 && !(radii[k] > radii[k - 1]))
      throw std::invalid_argument("radii must be strictly ascending");
  }
}

// Entries of a node's row closer than each radius: a merge of the row with the radii.
void count_within(const SortedNeighbors& nb, const std::vector<double>& radii, int64_t node,
                  int64_t* counts) {
  const int64_t begin = nb.offsets[node], end = nb.offsets[node + 1];
  int64_t p = begin;
  for (size_t k = 0; k < radii.size(); ++k) {
    while (p < end && nb.distance[p] < radii[k]) ++p;
    counts[k] = p - begin;
  }
}

void check_nodes(const SortedNeighbors& nb) {
  if (nb.offsets.empty() || nb.offsets.front() != 0 ||
      nb.offsets.back() != static_cast<int64_t>(nb.index.size()) ||
      nb.index.size() != nb.distance.size())
    throw std::invalid_argument("malformed SortedNeighbors");
}

}  // namespace

SortedNeighbors sort_neighbors(int64_t n_nodes, const int64_t* centers, const int64_t* neighbors,
                               const double* distances, int64_t n_edges) {
  if (n_nodes < 0 || n_edges < 0) throw std::invalid_argument("negative node or edge count");
  auto kept = [&](int64_t e) { return centers[e] != neighbors[e] && distances[e] > 0.0; };
  SortedNeighbors nb;
  nb.offsets.assign(n_nodes + 1, 0);
  for (int64_t e = 0; e < n_edges; ++e) {
    const int64_t c = centers[e], n = neighbors[e];
    if (c < 0 || c >= n_nodes || n < 0 || n >= n_nodes)
      throw std::invalid_argument("edge " + std::to_string(e) + " (" + std::to_string(c) +
                                  " -> " + std::to_string(n) + ") lies outside nodes [0, " +
                                  std::to_string(n_nodes) + ")");
    if (!std::isfinite(distances[e]) || distances[e] < 0.0)
      throw std::invalid_argument("edge distances must be finite and non-negative");
    if (kept(e)) ++nb.offsets[c + 1];
  }
  for (int64_t n = 0; n < n_nodes; ++n) nb.offsets[n + 1] += nb.offsets[n];

  // Counting sort by center (stable), then each row by (distance, index): the result does
  // not depend on the order of the edges.
  nb.index.resize(nb.offsets.back());
  nb.distance.resize(nb.offsets.back());
  std::vector<int64_t> next(nb.offsets.begin(), nb.offsets.end() - 1);
  for (int64_t e = 0; e < n_edges; ++e) {
    if (!kept(e)) continue;
    const int64_t p = next[centers[e]]++;
    nb.index[p] = neighbors[e];
    nb.distance[p] = distances[e];
  }
  at::parallel_for(0, n_nodes, 1024, [&](int64_t begin, int64_t end) {
    std::vector<std::pair<double, int64_t>> row;
    for (int64_t n = begin; n < end; ++n) {
      row.clear();
      for (int64_t p = nb.offsets[n]; p < nb.offsets[n + 1]; ++p)
        row.emplace_back(nb.distance[p], nb.index[p]);
      std::sort(row.begin(), row.end());
      for (size_t q = 0; q < row.size(); ++q) {
        nb.distance[nb.offsets[n] + q] = row[q].first;
        nb.index[nb.offsets[n] + q] = row[q].second;
      }
    }
  });
  return nb;
}

std::vector<double> node_degrees(const SortedNeighbors& nb, const std::vector<double>& radii,
                                 int64_t begin, int64_t end) {
  check_nodes(nb);
  check_radii(radii);
  if (begin < 0 || end < begin || end > nb.num_nodes())
    throw std::invalid_argument("node range outside [0, n_nodes)");
  const int64_t n_radii = radii.size();
  std::vector<double> degrees((end - begin) * n_radii);
  at::parallel_for(begin, end, 1024, [&](int64_t b, int64_t e) {
    std::vector<int64_t> counts(n_radii);
    for (int64_t n = b; n < e; ++n) {
      count_within(nb, radii, n, counts.data());
      for (int64_t k = 0; k < n_radii; ++k) {
        double degree = 1.0;  // the self-loop
        for (int64_t p = nb.offsets[n]; p < nb.offsets[n] + counts[k]; ++p)
          degree += spectral_edge_weight(nb.distance[p], radii[k]);
        degrees[(n - begin) * n_radii + k] = degree;
      }
    }
  });
  return degrees;
}

void check_moment_inputs(const SortedNeighbors& nb, const std::vector<double>& degrees,
                         const std::vector<double>& radii, int64_t n_local) {
  check_nodes(nb);
  check_radii(radii);
  const int64_t n_nodes = nb.num_nodes(), n_radii = radii.size();
  if (static_cast<int64_t>(degrees.size()) != n_nodes * n_radii)
    throw std::invalid_argument("degrees must have n_nodes x n_radii = " +
                                std::to_string(n_nodes) + " x " + std::to_string(n_radii) +
                                " entries, got " + std::to_string(degrees.size()));
  if (n_local < 0 || n_local > n_nodes)
    throw std::invalid_argument("n_local must lie in [0, n_nodes]");
}

std::vector<double> inverse_degrees(const std::vector<double>& degrees) {
  std::vector<double> inv_degree(degrees.size());
  for (size_t q = 0; q < degrees.size(); ++q) {
    if (!(degrees[q] >= 1.0) || !std::isfinite(degrees[q]))
      throw std::invalid_argument("degrees must be finite and >= 1 (the self-loop counts)");
    inv_degree[q] = 1.0 / degrees[q];
  }
  return inv_degree;
}

std::vector<int64_t> radius_row_ends(const SortedNeighbors& nb, const std::vector<double>& radii) {
  const int64_t n_nodes = nb.num_nodes(), n_radii = radii.size();
  std::vector<int64_t> row_end(n_nodes * n_radii);
  at::parallel_for(0, n_nodes, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      int64_t* ends = row_end.data() + n * n_radii;
      count_within(nb, radii, n, ends);
      for (int64_t r = 0; r < n_radii; ++r) ends[r] += nb.offsets[n];
    }
  });
  return row_end;
}

std::vector<double> moment_sums(const SortedNeighbors& nb, const std::vector<double>& degrees,
                                const std::vector<double>& radii, int64_t n_local) {
  check_moment_inputs(nb, degrees, radii, n_local);
  const int64_t n_nodes = nb.num_nodes(), n_radii = radii.size();
  const int64_t n_entries = static_cast<int64_t>(nb.index.size());

  const std::vector<double> inv_degree = inverse_degrees(degrees);
  const std::vector<int64_t> row_end = radius_row_ends(nb, radii);

  // Fixed chunks of atoms, each summed in order into its own slot, then the slots in order:
  // the floating-point result is the same for any number of threads.
  const int64_t n_chunks = (n_local + kMomentChunk - 1) / kMomentChunk;
  const int64_t slot_size = n_radii * kNumMoments;
  std::vector<double> chunk_sums(n_chunks * slot_size, 0.0);
  // One radius at a time, so that the edge weights (a cosine each, too dear to evaluate again
  // in every 2-hop walk) are stored for one radius only: n_entries doubles, not n_radii times.
  std::vector<double> weight(n_entries);
  for (int64_t r = 0; r < n_radii; ++r) {
    at::parallel_for(0, n_nodes, 1024, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n)
        for (int64_t p = nb.offsets[n]; p < row_end[n * n_radii + r]; ++p)
          weight[p] = spectral_edge_weight(nb.distance[p], radii[r]);
    });
    auto inv_d = [&](int64_t n) { return inv_degree[n * n_radii + r]; };
    at::parallel_for(0, n_chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
      std::vector<double> v(n_nodes, 0.0);  // walk weights of the current atom; zero elsewhere
      std::vector<int64_t> touched;         // the nodes where v is non-zero, to reset them
      for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
        double* s = chunk_sums.data() + chunk * slot_size + r * kNumMoments;
        const int64_t atom_end = std::min(n_local, (chunk + 1) * kMomentChunk);
        for (int64_t i = chunk * kMomentChunk; i < atom_end; ++i) {
          const int64_t row_i = nb.offsets[i], end_i = row_end[i * n_radii + r];
          // v_j = sum over k in {i} u N(i) of A_ik A_kj / d_k (A_kk = 1)
          auto scatter = [&](int64_t k, double a_ik) {
            const double c = a_ik * inv_d(k);
            if (v[k] == 0.0) touched.push_back(k);
            v[k] += c;
            for (int64_t p = nb.offsets[k]; p < row_end[k * n_radii + r]; ++p) {
              const int64_t j = nb.index[p];
              if (v[j] == 0.0) touched.push_back(j);
              v[j] += c * weight[p];
            }
          };
          scatter(i, 1.0);
          for (int64_t q = row_i; q < end_i; ++q) scatter(nb.index[q], weight[q]);
          // (M^2)_ii d_i = sum_j A_ij^2 / d_j, (M^3)_ii d_i = sum_j A_ij v_j / d_j,
          // (M^4)_ii d_i = sum_j v_j^2 / d_j
          double s2 = inv_d(i), s3 = v[i] * inv_d(i), s4 = 0.0;
          for (int64_t q = row_i; q < end_i; ++q) {
            const int64_t j = nb.index[q];
            s2 += weight[q] * weight[q] * inv_d(j);
            s3 += weight[q] * v[j] * inv_d(j);
          }
          for (const int64_t j : touched) {
            s4 += v[j] * v[j] * inv_d(j);
            v[j] = 0.0;
          }
          touched.clear();
          const double inv_di = inv_d(i);
          s[0] += inv_di;
          s[1] += inv_di * s2;
          s[2] += inv_di * s3;
          s[3] += inv_di * s4;
        }
      }
    });
  }

  std::vector<double> total(slot_size, 0.0);
  for (int64_t chunk = 0; chunk < n_chunks; ++chunk)
    for (int64_t q = 0; q < slot_size; ++q) total[q] += chunk_sums[chunk * slot_size + q];
  return total;
}

namespace {

std::invalid_argument no_cuda_kernel() {
  return std::invalid_argument("this build has no CUDA spectral kernel (it needs nvcc and a "
                               "CUDA build of torch at build time)");
}

}  // namespace

MomentDevice moment_device(const std::string& name) {
  if (name != "cpu" && name != "cuda")
    throw std::invalid_argument("device must be 'cpu' or 'cuda', not '" + name + "'");
  if (name == "cuda" && !kHasCudaKernel) throw no_cuda_kernel();
  return name == "cuda" ? MomentDevice::kCuda : MomentDevice::kCpu;
}

std::vector<double> moment_sums(const SortedNeighbors& nb, const std::vector<double>& degrees,
                                const std::vector<double>& radii, int64_t n_local,
                                MomentDevice device) {
  if (device == MomentDevice::kCpu) return moment_sums(nb, degrees, radii, n_local);
#ifdef MLFF_TTT_CUDA
  try {
    return moment_sums_cuda(nb, degrees, radii, n_local);
  } catch (const DeviceTableOverflow&) {
    return moment_sums(nb, degrees, radii, n_local);
  }
#else
  throw no_cuda_kernel();
#endif
}

double moment_distance(const double* moments, const double* mean, const double* std) {
  double sum = 0.0;
  for (int k = 0; k < kNumMoments; ++k) {
    // A moment that never varied in training (a rigid crystal's graph at a radius between
    // two neighbour shells) still gets a finite scale: any change of it is then far out.
    const double scale = std::max(std::abs(std[k]), kMomentStdFloor * std::abs(mean[k]) + 1e-300);
    const double z = (moments[k] - mean[k]) / scale;
    sum += z * z;
  }
  return std::sqrt(sum / kNumMoments);
}

int choose_radius(const std::vector<double>& distances, double threshold) {
  if (distances.empty()) throw std::invalid_argument("distances must not be empty");
  for (const double d : distances)
    if (std::isnan(d)) throw std::invalid_argument("distances must not be NaN");
  const int last = static_cast<int>(distances.size()) - 1;
  if (distances[last] <= threshold) return last;
  const int best = static_cast<int>(std::min_element(distances.begin(), distances.end()) -
                                    distances.begin());
  return distances[best] == distances[last] ? last : best;
}

}  // namespace mlff
