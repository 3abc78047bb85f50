// The spectral-moment kernel of spectral_moments.cpp on a CUDA device. One warp per owned
// atom: for each radius it accumulates the walk weights v_j over the atom's 2-hop
// neighbourhood in an open-addressing hash table in shared memory (the CPU kernel's dense
// scratch array has no per-warp counterpart on a GPU), then reduces m1..m4 across the warp.
// Per-atom results are summed on the host in the CPU kernel's order of fixed chunks.
#include "spectral_moments.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace mlff {

namespace {

constexpr int kWarpSize = 32;
constexpr int kWarpsPerBlock = 2;
// Entries per warp: 16 bytes each, 32 KB of shared memory per block. A 2-hop neighbourhood
// larger than this (about 30 neighbours per atom within the radius) reports an overflow.
constexpr int kTableSize = 1024;
constexpr unsigned long long kEmpty = ~0ull;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("CUDA spectral kernel: ") + what + ": " +
                             cudaGetErrorString(status));
}

// A device buffer freed when it leaves scope.
template <typename T>
struct DeviceArray {
  T* data = nullptr;
  explicit DeviceArray(size_t n) { check(cudaMalloc(&data, sizeof(T) * (n ? n : 1)), "cudaMalloc"); }
  DeviceArray(const T* host, size_t n) : DeviceArray(n) {
    check(cudaMemcpy(data, host, sizeof(T) * n, cudaMemcpyHostToDevice), "copy to device");
  }
  ~DeviceArray() { cudaFree(data); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
};

__device__ void table_add(unsigned long long* keys, double* values, long long node, double v,
                          int* overflow) {
  unsigned int slot = static_cast<unsigned int>(node * 2654435761ull) & (kTableSize - 1);
  for (int probe = 0; probe < kTableSize; ++probe) {
    const unsigned long long seen = atomicCAS(&keys[slot], kEmpty, static_cast<unsigned long long>(node));
    if (seen == kEmpty || seen == static_cast<unsigned long long>(node)) {
      atomicAdd(&values[slot], v);
      return;
    }
    slot = (slot + 1) & (kTableSize - 1);
  }
  atomicExch(overflow, 1);
}

__device__ double table_get(const unsigned long long* keys, const double* values, long long node) {
  unsigned int slot = static_cast<unsigned int>(node * 2654435761ull) & (kTableSize - 1);
  for (int probe = 0; probe < kTableSize; ++probe) {
    if (keys[slot] == static_cast<unsigned long long>(node)) return values[slot];
    if (keys[slot] == kEmpty) return 0.0;
    slot = (slot + 1) & (kTableSize - 1);
  }
  return 0.0;
}

__device__ double warp_sum(double v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// per_atom[(i * n_radii + r) * 4 + m]: atom i's (M^(m+1))_ii at radius r. Edge weights are
// evaluated where they are used (a cosine is cheap on the device, memory traffic is not).
__global__ void moments_kernel(long long n_local, int n_radii, const double* radii,
                               const long long* offsets, const long long* index,
                               const double* distance, const long long* row_end,
                               const double* inv_degree, double* per_atom, int* overflow) {
  __shared__ unsigned long long keys_all[kWarpsPerBlock][kTableSize];
  __shared__ double values_all[kWarpsPerBlock][kTableSize];
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const long long i = static_cast<long long>(blockIdx.x) * kWarpsPerBlock + warp;
  if (i >= n_local) return;  // the whole warp leaves together
  unsigned long long* keys = keys_all[warp];
  double* values = values_all[warp];

  for (int r = 0; r < n_radii; ++r) {
    for (int t = lane; t < kTableSize; t += kWarpSize) {
      keys[t] = kEmpty;
      values[t] = 0.0;
    }
    __syncwarp();
    // v_j = sum over k in {i} u N(i) of A_ik A_kj / d_k (A_kk = 1); q = -1 stands for i
    const double radius = radii[r];
    const long long n_i = row_end[i * n_radii + r] - offsets[i];
    for (long long q = -1; q < n_i; ++q) {
      const long long k = q < 0 ? i : index[offsets[i] + q];
      const double a_ik = q < 0 ? 1.0 : spectral_edge_weight(distance[offsets[i] + q], radius);
      const double c = a_ik * inv_degree[k * n_radii + r];
      const long long n_k = row_end[k * n_radii + r] - offsets[k];
      for (long long p = lane - 1; p < n_k; p += kWarpSize) {
        const double a_kj = p < 0 ? 1.0 : spectral_edge_weight(distance[offsets[k] + p], radius);
        table_add(keys, values, p < 0 ? k : index[offsets[k] + p], c * a_kj, overflow);
      }
    }
    __syncwarp();
    // (M^2)_ii d_i = sum_j A_ij^2 / d_j, (M^3)_ii d_i = sum_j A_ij v_j / d_j,
    // (M^4)_ii d_i = sum_j v_j^2 / d_j
    double s2 = 0.0, s3 = 0.0, s4 = 0.0;
    for (long long q = lane - 1; q < n_i; q += kWarpSize) {
      const long long j = q < 0 ? i : index[offsets[i] + q];
      const double a_ij = q < 0 ? 1.0 : spectral_edge_weight(distance[offsets[i] + q], radius);
      const double inv_dj = inv_degree[j * n_radii + r];
      s2 += a_ij * a_ij * inv_dj;
      s3 += a_ij * table_get(keys, values, j) * inv_dj;
    }
    for (int t = lane; t < kTableSize; t += kWarpSize)
      if (keys[t] != kEmpty)
        s4 += values[t] * values[t] * inv_degree[static_cast<long long>(keys[t]) * n_radii + r];
    s2 = warp_sum(s2);
    s3 = warp_sum(s3);
    s4 = warp_sum(s4);
    if (lane == 0) {
      const double inv_di = inv_degree[i * n_radii + r];
      double* out = per_atom + (i * n_radii + r) * kNumMoments;
      out[0] = inv_di;
      out[1] = inv_di * s2;
      out[2] = inv_di * s3;
      out[3] = inv_di * s4;
    }
    __syncwarp();
  }
}

}  // namespace

std::vector<double> moment_sums_cuda(const SortedNeighbors& nb, const std::vector<double>& degrees,
                                     const std::vector<double>& radii, int64_t n_local) {
  check_moment_inputs(nb, degrees, radii, n_local);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
    throw std::runtime_error("CUDA spectral kernel: no CUDA device");
  const int64_t n_radii = radii.size(), slot_size = n_radii * kNumMoments;
  std::vector<double> total(slot_size, 0.0);
  if (n_local == 0) return total;

  const std::vector<double> inv_degree = inverse_degrees(degrees);
  const std::vector<int64_t> row_end = radius_row_ends(nb, radii);
  static_assert(sizeof(long long) == sizeof(int64_t), "int64_t is long long on CUDA hosts");
  auto as_ll = [](const std::vector<int64_t>& v) { return reinterpret_cast<const long long*>(v.data()); };
  DeviceArray<long long> d_offsets(as_ll(nb.offsets), nb.offsets.size());
  DeviceArray<long long> d_index(as_ll(nb.index), nb.index.size());
  DeviceArray<double> d_distance(nb.distance.data(), nb.distance.size());
  DeviceArray<double> d_radii(radii.data(), radii.size());
  DeviceArray<long long> d_row_end(as_ll(row_end), row_end.size());
  DeviceArray<double> d_inv_degree(inv_degree.data(), inv_degree.size());
  DeviceArray<double> d_per_atom(n_local * slot_size);
  const int zero = 0;
  DeviceArray<int> d_overflow(&zero, 1);

  const long long blocks = (n_local + kWarpsPerBlock - 1) / kWarpsPerBlock;
  moments_kernel<<<static_cast<unsigned int>(blocks), kWarpsPerBlock * kWarpSize>>>(
      n_local, static_cast<int>(n_radii), d_radii.data, d_offsets.data, d_index.data,
      d_distance.data, d_row_end.data, d_inv_degree.data, d_per_atom.data, d_overflow.data);
  check(cudaGetLastError(), "kernel launch");
  std::vector<double> per_atom(n_local * slot_size);
  int overflow = 0;
  check(cudaMemcpy(per_atom.data(), d_per_atom.data, sizeof(double) * per_atom.size(),
                   cudaMemcpyDeviceToHost), "copy to host");
  check(cudaMemcpy(&overflow, d_overflow.data, sizeof(int), cudaMemcpyDeviceToHost),
        "copy to host");
  if (overflow)
    throw DeviceTableOverflow("CUDA spectral kernel: an atom's 2-hop neighbourhood exceeds " +
                              std::to_string(kTableSize) + " atoms");

  // the CPU kernel's summation order (kMomentChunk)
  std::vector<double> chunk(slot_size);
  for (int64_t begin = 0; begin < n_local; begin += kMomentChunk) {
    std::fill(chunk.begin(), chunk.end(), 0.0);
    for (int64_t i = begin; i < std::min(n_local, begin + kMomentChunk); ++i)
      for (int64_t q = 0; q < slot_size; ++q) chunk[q] += per_atom[i * slot_size + q];
    for (int64_t q = 0; q < slot_size; ++q) total[q] += chunk[q];
  }
  return total;
}

}  // namespace mlff
