// Loads an exported mlff-ttt TorchScript model and evaluates energies, forces and virials
// on a Graph. Knows nothing about LAMMPS: callers hand it nodes and edges.
#pragma once

#include <torch/script.h>

#include <array>
#include <stdexcept>
#include <string>
#include <vector>

#include "graph.h"

namespace mlff {

// The model file format export writes; the runner also reads the older versions back to
// kOldestModelFormatVersion (version 1 files have no reference statistics, so no RR; before
// version 3 every layer evaluates every edge). Version 4 changed no layout, only what the
// reference statistics mean: moments of envelope-weighted graphs (spectral_moments.h).
// Statistics of older files describe 0/1 graphs, which this build no longer computes, so
// RR and the monitor refuse them (the model itself still runs).
constexpr int kModelFormatVersion = 4;
constexpr int kOldestModelFormatVersion = 1;
constexpr int kWeightedStatisticsVersion = 4;

struct ModelInfo {
  int format_version = 0;
  std::string architecture;
  double cutoff = 0.0;          // Angstrom
  int num_layers = 0;           // message-passing layers
  std::vector<std::string> elements;
  std::string units;            // LAMMPS unit style of the model's energies/lengths
  std::string dtype;            // "float32" or "float64"
  std::string metadata_json;    // the full record, for display

  // Training-set reference statistics for radius refinement and the shift monitor (format
  // version 2; empty when the file has none). Per radius of rr_radii (ascending, the last
  // one the trained cutoff): mean and std of the per-atom mean spectral moments over the
  // training structures (kNumMoments each, flat) and the
  // mean and std of the training structures' moment distances; the per-structure mean force
  // norm's mean and std.
  std::vector<double> rr_radii, rr_moments, rr_moment_std, rr_distance_mean, rr_distance_std;
  double force_norm_mean = 0.0, force_norm_std = 0.0;
  bool has_statistics() const {
    return !rr_radii.empty() && format_version >= kWeightedStatisticsVersion;
  }
  // Statistics of 0/1 radius graphs (format 2 and 3): to be re-exported before RR or the
  // monitor can use them.
  bool has_outdated_statistics() const {
    return !rr_radii.empty() && format_version < kWeightedStatisticsVersion;
  }
  // Why RR and the monitor cannot use this file's statistics, with the command that fixes
  // it; empty when they can.
  std::string statistics_problem() const;

  // Distance over which an atom's energy depends on other atoms.
  double receptive_field() const { return cutoff * num_layers; }
};

// Which optional outputs a caller needs; energy and forces are always computed.
struct Request {
  bool node_energy = false;
  bool virial = false;
  bool node_virial = false;
  bool forces = true;           // false: the energy alone (no backward pass)
};

struct Results {
  double energy = 0.0;                 // sum of owned atoms' energies
  std::vector<double> node_energy;     // per owned atom (n_local), when asked for
  std::vector<double> forces;          // 3 per node, owned and ghost: -dE/dx
  std::array<double, 6> virial{};      // xx yy zz xy xz yz, sum of r (x) f, when asked for
  std::vector<double> node_virial;     // 6 per node, when asked for
};

// The model returned a non-finite energy or force; `node` is the first graph node concerned.
struct NonFiniteOutput : std::runtime_error {
  NonFiniteOutput(const std::string& what, int64_t node) : std::runtime_error(what), node(node) {}
  int64_t node;
};

class ModelRunner {
 public:
  // Throws std::runtime_error with a readable message if the file is missing, is not a
  // TorchScript archive, or lacks the mlff-ttt metadata.
  explicit ModelRunner(const std::string& path, const std::string& device = "cpu");

  const ModelInfo& info() const { return info_; }
  const std::string& path() const { return path_; }

  // Index of an element symbol in the model, or -1.
  int element_index(const std::string& symbol) const;

  // radius > 0: evaluate at that radius (radius refinement; the model's switch cuts edges
  // smoothly below it); 0 or the cutoff: the plain model. The graph may hold longer edges.
  Results compute(const Graph& graph, const Request& request, double radius = 0.0);

  // Overwrites the named parameters in place with `values` (concatenated in `names` order,
  // converted to the model's dtype): how test-time training hands its update back without
  // a reload. Throws std::invalid_argument for an unknown name or a size mismatch.
  void set_parameters(const std::vector<std::string>& names, const std::vector<double>& values);

 private:
  NonFiniteOutput non_finite(const std::string& what, const torch::Tensor& values) const;

  std::string path_;
  torch::jit::Module module_;
  ModelInfo info_;
  torch::Device device_;
  torch::Dtype dtype_;
};

}  // namespace mlff

namespace mlff {
// Threads torch may use for one model call (intra-op parallelism).
void set_model_threads(int threads);
}  // namespace mlff
