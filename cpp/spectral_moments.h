// Spectral moments of radius graphs, for choosing a cutoff radius at test time.
//
// For a radius r the graph has a weighted adjacency A with self-loops: A_ii = 1 and, for
// 0 < d_ij = |x_i - x_j| < r, A_ij = w(d_ij, r), the cosine envelope the models weight their
// messages with, scaled to r (spectral_edge_weight). Degrees are d_i = sum_j A_ij and
// M = D^-1/2 A D^-1/2 (the normalized Laplacian's eigenvalues are 1 - eig(M)). The weights
// make every moment a continuous function of the positions: with 0/1 edges a neighbour shell
// sitting at the radius (diamond silicon's third shell at 4.503 A against a 4.5 A cutoff)
// flipped in and out of the graph with thermal noise, so the perfect crystal lay far from the
// training crystals it is the zero-temperature limit of.
//
// The spectral moments (1/N) tr(M^k), k = 1..4, are means over atoms of (M^k)_ii, and each
// atom's term needs only its 2-hop neighbourhood, so they cost O(N) instead of a dense
// eigendecomposition. Neighbour rows sorted by distance hold the neighbours within any r as
// a prefix: one pass over the atoms serves every candidate radius.
//
// Nodes are owned atoms [0, n_local) followed by ghost/image atoms, as in the model graph.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef __CUDACC__
#define MLFF_HOST_DEVICE __host__ __device__
#else
#define MLFF_HOST_DEVICE
#endif

namespace mlff {

constexpr int kNumMoments = 4;

// The weight of an edge of length `distance` in the graph at `radius`: the models' cosine
// envelope (models/layers.py CosineEnvelope) with the radius as its cutoff, so at the trained
// cutoff the spectral graph weights each edge as the model does. 1 at zero length, falling
// smoothly (zero slope at both ends) to 0 at the radius; 0 beyond.
MLFF_HOST_DEVICE inline double spectral_edge_weight(double distance, double radius) {
  constexpr double kPi = 3.14159265358979323846;
  return distance < radius ? 0.5 * (::cos(kPi * distance / radius) + 1.0) : 0.0;
}

// Neighbour rows in CSR layout, each sorted by distance (ties by neighbour index).
struct SortedNeighbors {
  std::vector<int64_t> offsets;   // n_nodes + 1; row of node n: [offsets[n], offsets[n+1])
  std::vector<int64_t> index;     // neighbour node
  std::vector<double> distance;   // its distance, ascending within a row

  int64_t num_nodes() const { return static_cast<int64_t>(offsets.size()) - 1; }
};

// Groups directed edges (centers[e] -> neighbors[e], length distances[e]) by center and sorts
// each row. Self-edges and zero-length edges are dropped: the self-loop is implicit. The list
// must be full (both directions of every pair) for the moments to be those of A.
SortedNeighbors sort_neighbors(int64_t n_nodes, const int64_t* centers, const int64_t* neighbors,
                               const double* distances, int64_t n_edges);

// Degrees of nodes [begin, end) at every radius, (end - begin) x R row-major:
// 1 + the sum of the weights of the row entries closer than radii[k]. Radii must be
// ascending and positive.
std::vector<double> node_degrees(const SortedNeighbors& neighbors,
                                 const std::vector<double>& radii, int64_t begin, int64_t end);

// Sums over owned atoms of (M^k)_ii, R x kNumMoments row-major. `degrees` is n_nodes x R and
// must be exact for every node within 2 hops of an owned atom (a ghost's own row may be
// incomplete; LAMMPS forward-communicates them); rows must be complete for nodes within one
// hop. The result does not depend on the number of threads.
std::vector<double> moment_sums(const SortedNeighbors& neighbors,
                                const std::vector<double>& degrees,
                                const std::vector<double>& radii, int64_t n_local);

// Both kernels sum the per-atom terms in chunks of this many atoms, each chunk in atom order,
// then the chunks in order: that fixes the floating-point result for any thread count and
// makes the CPU and CUDA sums agree to rounding of the per-atom terms.
constexpr int64_t kMomentChunk = 256;

// What both moment_sums implementations share: input checks (std::invalid_argument),
// 1 / degree per node and radius, and where each node's row prefix closer than radii[r] ends
// (index n * R + r, an offset into SortedNeighbors::index).
void check_moment_inputs(const SortedNeighbors& neighbors, const std::vector<double>& degrees,
                         const std::vector<double>& radii, int64_t n_local);
std::vector<double> inverse_degrees(const std::vector<double>& degrees);
std::vector<int64_t> radius_row_ends(const SortedNeighbors& neighbors,
                                     const std::vector<double>& radii);

// An atom's 2-hop neighbourhood does not fit the CUDA kernel's per-warp table.
struct DeviceTableOverflow : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The same sums computed on a CUDA device (a warp per atom); only in builds with the CUDA
// kernel (MLFF_TTT_CUDA). Throws std::runtime_error without a device, DeviceTableOverflow
// when an atom's 2-hop neighbourhood exceeds the kernel's per-warp table.
std::vector<double> moment_sums_cuda(const SortedNeighbors& neighbors,
                                     const std::vector<double>& degrees,
                                     const std::vector<double>& radii, int64_t n_local);

// Where moment sums are computed, and whether this build can compute them on a CUDA device
// (MLFF_TTT_CUDA: nvcc and a CUDA build of torch were present at build time).
enum class MomentDevice { kCpu, kCuda };
#ifdef MLFF_TTT_CUDA
constexpr bool kHasCudaKernel = true;
#else
constexpr bool kHasCudaKernel = false;
#endif

// The device named "cpu" or "cuda". Throws std::invalid_argument for another name, and for
// "cuda" in a build without the CUDA kernel.
MomentDevice moment_device(const std::string& name);

// moment_sums on `device`: the CPU kernel or the CUDA one (the same sums, in the same order of
// kMomentChunk chunks). A structure too dense for the CUDA kernel's table (DeviceTableOverflow)
// is summed by the CPU kernel instead: the same numbers, later. Throws as the kernels do.
std::vector<double> moment_sums(const SortedNeighbors& neighbors,
                                const std::vector<double>& degrees,
                                const std::vector<double>& radii, int64_t n_local,
                                MomentDevice device);

// How far a structure's per-atom mean moments m1..m4 lie from the training structures':
// the root mean square of the four z-scores (m_k - mean_k) / std_k against the training
// distribution (std floored at kMomentStdFloor x |mean|).
constexpr double kMomentStdFloor = 1e-3;
double moment_distance(const double* moments, const double* mean, const double* std);

// The radius to use, from distances to the reference per radius (radii ascending, the last
// one the trained cutoff): the last when it is within `threshold` (in distribution), else the
// closest one, the last winning exact ties and otherwise the smallest index.
int choose_radius(const std::vector<double>& distances, double threshold);

}  // namespace mlff
