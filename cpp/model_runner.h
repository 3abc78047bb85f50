// Evaluates an exported mlff-ttt model (read and checked by model_file.h) on a Graph:
// energies, forces and virials. Knows nothing about LAMMPS: callers hand it nodes and edges.
#pragma once

#include <torch/script.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "communicator.h"
#include "graph.h"
#include "model_file.h"

namespace mlff {

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

// A graph's arrays on a model's device (ModelRunner::upload), made once per graph build so
// that the model calls of one MD step (TTT's energies, the forces, the prior-head residual)
// move the graph to a GPU once. It refers to its Graph: a model call on an upload made before
// the graph's last rebuild throws std::logic_error (it would read the old graph's arrays).
class DeviceGraph {
 public:
  const Graph& graph() const { return *graph_; }

 private:
  friend class ModelRunner;
  const Graph* graph_ = nullptr;
  uint64_t generation_ = 0;
  // on the device: species, edge indices (both rows and stacked), and the edge vectors in
  // float64 (on the CPU a view of the graph's own array, no copy)
  torch::Tensor species_, centers_, neighbors_, edge_index_, edge_vec_f64_;
};

class ModelRunner {
 public:
  // Throws std::runtime_error with a readable message if the device is not available or
  // the file cannot be used (load_model_file).
  explicit ModelRunner(const std::string& path, const std::string& device = "cpu");

  const ModelInfo& info() const { return info_; }
  const std::string& path() const { return path_; }

  // Index of an element symbol in the model, or -1.
  int element_index(const std::string& symbol) const;

  // The graph's arrays on this model's device, for the calls below.
  DeviceGraph upload(const Graph& graph) const;

  // radius > 0: evaluate at that radius (radius refinement; the model's switch cuts edges
  // smoothly below it); 0 or the cutoff: the plain model. The graph may hold longer edges.
  Results compute(const DeviceGraph& graph, const Request& request, double radius = 0.0);
  Results compute(const Graph& graph, const Request& request, double radius = 0.0) {
    return compute(upload(graph), request, radius);
  }

  // Whether the file has the layer-by-layer methods compute_exchanged calls (files exported
  // before them have not; re-exporting adds them).
  bool can_exchange() const { return exchange_width_ > 0; }

  // compute() for a graph split over ranks, one message-passing layer at a time: each layer
  // updates the owned nodes only, from the edges centred on them (the graph must be pruned:
  // they are its first layer_edges.back() edges), and `comm` copies the owners' new features
  // onto their ghosts before the next layer (and sums the ghosts' gradients back into their
  // owners in the backward pass). So ghosts need to be one cutoff deep, not the receptive
  // field, and no rank evaluates another's atoms; the result equals compute()'s (the same
  // functions, summed in another order). Collective: every rank calls it, the same times.
  Results compute_exchanged(const DeviceGraph& graph, const Request& request, double radius,
                            Communicator& comm);

  // The prior head's forces (3 per node, owned and ghost: -dE_prior/dx of the owned atoms'
  // prior-head energies), at `radius` as compute(): what TTT fits to the prior's forces, and,
  // against them, the per-atom label-free error signal.
  std::vector<double> prior_head_forces(const DeviceGraph& graph, double radius = 0.0);

  // Overwrites the named parameters in place with `values` (concatenated in `names` order,
  // converted to the model's dtype): how test-time training hands its update back without
  // a reload. Throws std::invalid_argument for an unknown name or a size mismatch.
  void set_parameters(const std::vector<std::string>& names, const std::vector<double>& values);

 private:
  // Energy, forces, per-node energies and virials into `out` from the owned nodes' energies
  // and dE/d(edge vector) of the graph's first grad.size(0) edges.
  void collect(const DeviceGraph& graph, const torch::Tensor& node_energy,
               const torch::Tensor& edge_grad, const Request& request, Results& out) const;
  // The radius argument of the model's methods: none for the plain model (see compute()).
  torch::jit::IValue radius_argument(double radius) const;
  NonFiniteOutput non_finite(const std::string& what, const torch::Tensor& values) const;
  // The upload's graph, after checking the upload is of its current build.
  const Graph& current(const DeviceGraph& uploaded) const;

  std::string path_;
  torch::jit::Module module_;
  ModelInfo info_;
  torch::Device device_;
  torch::Dtype dtype_;
  int64_t exchange_width_ = 0;   // features per node the layers exchange; 0: no such methods
  bool has_core_repulsion_ = false;   // core_energies adds to features_energies
};

// Threads torch may use for one model call (intra-op parallelism).
void set_model_threads(int threads);

}  // namespace mlff
