#include "radius_refiner.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace mlff {

namespace {

// Grid radii are matched to the exported ones within this tolerance (A), so that values
// typed in an input deck with a few digits find their statistics.
constexpr double kRadiusTolerance = 1e-6;

std::string list(const std::vector<double>& values) {
  std::string out;
  for (double v : values) out += (out.empty() ? "" : " ") + std::to_string(v);
  return out;
}

}  // namespace

RadiusRefiner::RadiusRefiner(const ModelInfo& info, const std::vector<double>& grid,
                             bool use_default_grid, MomentDevice device)
    : info_(info), device_(device) {
  const std::string problem = info.statistics_problem();
  if (!problem.empty()) throw std::runtime_error(problem);
  if (!use_default_grid && grid.empty()) throw std::invalid_argument("the rr_grid is empty");
  std::vector<double> radii = use_default_grid ? info.rr_radii : grid;
  for (double r : radii)
    if (!(r > 0.0 && r <= info.cutoff + kRadiusTolerance))
      throw std::invalid_argument("rr_grid radius " + std::to_string(r) +
                                  " is outside (0, " + std::to_string(info.cutoff) +
                                  "] (the trained cutoff)");
  radii.push_back(info.cutoff);
  std::sort(radii.begin(), radii.end());
  for (double r : radii) {
    if (!grid_.empty() && std::abs(r - grid_.back()) <= kRadiusTolerance) continue;
    int row = -1;
    for (size_t k = 0; k < info.rr_radii.size(); ++k)
      if (std::abs(info.rr_radii[k] - r) <= kRadiusTolerance) row = static_cast<int>(k);
    if (row < 0)
      throw std::invalid_argument("the model file has no reference statistics for radius " +
                                  std::to_string(r) + "; it has them for: " +
                                  list(info.rr_radii) + " (re-export with --rr-grid)");
    grid_.push_back(info.rr_radii[row]);
    rows_.push_back(row);
  }
  const int last = rows_.back();
  threshold_ = info.rr_distance_mean[last] + kMonitorShiftStd * info.rr_distance_std[last];
  rr_threshold_ = info.rr_distance_mean[last] + kRRGateStd * info.rr_distance_std[last];
}

void RadiusRefiner::prepare(const Graph& graph, bool all_radii) {
  radii_ = all_radii ? grid_ : std::vector<double>{grid_.back()};
  const int64_t n_edges = graph.num_edges();
  std::vector<double> distances(n_edges);
  for (int64_t e = 0; e < n_edges; ++e) {
    const double* v = graph.edge_vec.data() + 3 * e;
    distances[e] = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  }
  neighbors_ = sort_neighbors(graph.n_nodes, graph.centers.data(), graph.neighbors.data(),
                              distances.data(), n_edges);
  n_local_ = graph.n_local;
  degrees_ = node_degrees(neighbors_, radii_, 0, graph.n_nodes);
}

std::vector<double> RadiusRefiner::local_sums() const {
  return moment_sums(neighbors_, degrees_, radii_, n_local_, device_);
}

SpectralResult RadiusRefiner::finish(const std::vector<double>& global_sums,
                                     double n_atoms) const {
  const int n = num_radii();
  if (static_cast<int>(global_sums.size()) != n * kNumMoments || !(n_atoms > 0))
    throw std::invalid_argument("moment sums do not match the radii evaluated");
  SpectralResult out;
  const size_t offset = rows_.size() - n;   // the monitor alone evaluates the last radius
  for (int k = 0; k < n; ++k) {
    double mean[kNumMoments];
    for (int m = 0; m < kNumMoments; ++m) mean[m] = global_sums[k * kNumMoments + m] / n_atoms;
    const size_t row = kNumMoments * rows_[offset + k];
    out.distances.push_back(
        moment_distance(mean, info_.rr_moments.data() + row, info_.rr_moment_std.data() + row));
  }
  out.cutoff_distance = out.distances.back();
  out.connectivity_shift = out.cutoff_distance > threshold_;
  out.radius = radii_[choose_radius(out.distances, rr_threshold_)];
  return out;
}

}  // namespace mlff
