#include "model_runner.h"

#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <optional>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace mlff {

namespace {

// Flushes denormal floats to zero (x86 FTZ and DAZ) on this thread while it lives, restoring
// the previous mode after. The smooth radial bases underflow into float32 denormals at long
// range (a Gaussian at 4 A is below 1e-38), and x86 computes on denormals at a fraction of
// full speed: flushing them made float32 model calls 14% faster here. Values below 1e-38 change
// no energy or force at float32 precision; scoped so LAMMPS's own arithmetic is untouched.
class FlushDenormals {
 public:
#if defined(__SSE__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned int saved_;
#endif
};

// Per-edge rows (float64, on the model's device) summed onto the n nodes: `at_center` onto
// each edge's center, `at_neighbor` onto its neighbor; returned on the CPU. Summed where the
// edges are, so a GPU hands back n rows rather than one per edge.
torch::Tensor edges_to_nodes(const torch::Tensor& centers, const torch::Tensor& neighbors,
                             const torch::Tensor& at_center, const torch::Tensor& at_neighbor,
                             int64_t n) {
  auto nodes = torch::zeros({n, at_center.size(1)}, at_center.options());
  nodes.index_add_(0, centers, at_center);
  nodes.index_add_(0, neighbors, at_neighbor);
  return nodes.to(torch::kCPU).contiguous();
}

// The model's input edge vectors: a fresh autograd leaf per call (float64 models on the CPU
// share the graph's memory; float32 models get their copy), so calls on one upload do not
// share gradients.
torch::Tensor edge_vectors(const torch::Tensor& edge_vec_f64, torch::Dtype dtype) {
  return edge_vec_f64.detach().to(dtype).requires_grad_(true);
}

}  // namespace

DeviceGraph ModelRunner::upload(const Graph& graph) const {
  const int64_t n = graph.n_nodes, n_edges = graph.num_edges();
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  // from_blob does not copy; .to() copies onto a GPU and is a no-op on the CPU
  DeviceGraph t;
  t.graph_ = &graph;
  t.generation_ = graph.generation;
  t.species_ = torch::from_blob(const_cast<int64_t*>(graph.species.data()), {n}, i64).to(device_);
  t.centers_ =
      torch::from_blob(const_cast<int64_t*>(graph.centers.data()), {n_edges}, i64).to(device_);
  t.neighbors_ =
      torch::from_blob(const_cast<int64_t*>(graph.neighbors.data()), {n_edges}, i64).to(device_);
  t.edge_index_ = torch::stack({t.centers_, t.neighbors_});
  t.edge_vec_f64_ =
      torch::from_blob(const_cast<double*>(graph.edge_vec.data()), {n_edges, 3}, f64).to(device_);
  return t;
}

const Graph& ModelRunner::current(const DeviceGraph& uploaded) const {
  if (uploaded.graph_ == nullptr || uploaded.generation_ != uploaded.graph_->generation)
    throw std::logic_error("a model call on a graph uploaded before its last rebuild");
  return *uploaded.graph_;
}

ModelRunner::ModelRunner(const std::string& path, const std::string& device)
    : path_(path), device_(device), dtype_(torch::kFloat64) {
  if (device_.is_cuda() && !torch::cuda::is_available())
    throw std::runtime_error("device cuda: this build's torch has no CUDA support or sees no "
                             "GPU (a CUDA build of torch is installed with make setup "
                             "TORCH_SPEC=\"torch==2.13.0+cu128 --index-url ...\")");
  ModelFile file = load_model_file(path, device_);
  module_ = std::move(file.module);
  info_ = std::move(file.info);
  dtype_ = info_.dtype == "float32" ? torch::kFloat32 : torch::kFloat64;
  if (module_.find_method("layer_features"))
    exchange_width_ = module_.run_method("exchange_width").toInt();
  // files exported before the core repulsion have none
  if (module_.find_method("core_reach"))
    has_core_repulsion_ = module_.run_method("core_reach").toDouble() > 0.0;
}

int ModelRunner::element_index(const std::string& symbol) const {
  for (size_t k = 0; k < info_.elements.size(); ++k)
    if (info_.elements[k] == symbol) return static_cast<int>(k);
  return -1;
}

std::vector<double> ModelRunner::prior_head_forces(const DeviceGraph& uploaded, double radius) {
  const Graph& graph = current(uploaded);
  const bool refined = radius > 0.0 && radius < info_.cutoff;
  // Of a pruned graph, the leading edges the first layer needs (centred within L-1 hops of the
  // owned atoms) serve every layer: later layers need a subset of them, so the owned atoms'
  // energies are exact, and the edges centred farther out, most of a deep ghost shell, carry
  // nothing to them. The prior head's readout has no per-layer pruning of its own.
  const int64_t n_edges = graph.layer_edges.empty() ? graph.num_edges() : graph.layer_edges.front();
  const torch::Tensor edge_vec =
      edge_vectors(uploaded.edge_vec_f64_.narrow(0, 0, n_edges), dtype_);
  torch::jit::GraphOptimizerEnabledGuard plain_interpreter(false);    // as in compute()
  FlushDenormals flush_denormals;
  auto node_energy = module_.get_method("prior_energies")(
      {uploaded.species_, uploaded.edge_index_.narrow(1, 0, n_edges), edge_vec,
       refined ? torch::jit::IValue(radius) : torch::jit::IValue()}).toTensor();
  auto energy = node_energy.narrow(0, 0, graph.n_local).to(torch::kFloat64).sum();
  auto grad = torch::autograd::grad({energy}, {edge_vec})[0].to(torch::kFloat64);
  // each edge vector is x[neighbor] - x[center]: dE/dx[neighbor] = g, dE/dx[center] = -g
  auto forces = edges_to_nodes(uploaded.centers_.narrow(0, 0, n_edges),
                               uploaded.neighbors_.narrow(0, 0, n_edges), grad, -grad,
                               graph.n_nodes);
  if (!torch::isfinite(forces).all().item<bool>()) throw non_finite("prior-head forces", forces);
  return std::vector<double>(forces.data_ptr<double>(),
                             forces.data_ptr<double>() + 3 * graph.n_nodes);
}

Results ModelRunner::compute(const DeviceGraph& uploaded, const Request& request, double radius) {
  const Graph& graph = current(uploaded);
  const bool refined = radius > 0.0 && radius < info_.cutoff;
  if (refined && info_.format_version < 2)
    throw std::runtime_error("model '" + path_ + "' has format version " +
                             std::to_string(info_.format_version) +
                             ", which cannot be evaluated at a refined radius; re-export it");
  const torch::Tensor edge_vec = edge_vectors(uploaded.edge_vec_f64_, dtype_);

  // TorchScript's optimizing executor (profiling, autodiff subgraphs) measured about 2x slower
  // than plain autograd through the interpreter for these message-passing graphs, whose size
  // changes every MD step; run the model unoptimized.
  torch::jit::GraphOptimizerEnabledGuard plain_interpreter(false);
  FlushDenormals flush_denormals;
  std::vector<torch::jit::IValue> inputs{uploaded.species_, uploaded.edge_index_, edge_vec};
  const bool layered = info_.format_version >= 3 &&
      graph.layer_edges.size() == static_cast<size_t>(info_.num_layers);
  if (layered) {
    inputs.emplace_back(radius_argument(radius));
    inputs.emplace_back(c10::List<int64_t>(graph.layer_edges));
  } else if (refined) {
    inputs.emplace_back(radius);
  }
  if (!request.forces) {
    torch::NoGradGuard no_grad;
    Results out;
    auto owned = module_.forward(inputs).toTensor().narrow(0, 0, graph.n_local);
    out.energy = owned.to(torch::kFloat64).sum().item<double>();
    if (!std::isfinite(out.energy)) throw non_finite("energy", owned);
    return out;
  }
  auto node_energy = module_.forward(inputs).toTensor();
  // summed in float64: a float32 sum over thousands of atoms rounds the total energy at the
  // 1e-3 eV level, which shows as noise in NVE energy conservation
  auto energy = node_energy.narrow(0, 0, graph.n_local).to(torch::kFloat64).sum();
  Results out;
  out.energy = energy.item<double>();
  if (!std::isfinite(out.energy))
    throw non_finite("energy", node_energy.narrow(0, 0, graph.n_local).detach());
  auto grad = torch::autograd::grad({energy}, {edge_vec})[0].to(torch::kFloat64);
  collect(uploaded, node_energy.narrow(0, 0, graph.n_local), grad, request, out);
  return out;
}

void ModelRunner::collect(const DeviceGraph& uploaded, const torch::Tensor& node_energy,
                          const torch::Tensor& grad, const Request& request,
                          Results& out) const {
  const Graph& graph = *uploaded.graph_;
  const int64_t n = graph.n_nodes, n_edges = grad.size(0);
  const auto centers = uploaded.centers_.narrow(0, 0, n_edges);
  const auto neighbors = uploaded.neighbors_.narrow(0, 0, n_edges);
  // each edge vector is x[neighbor] - x[center]: dE/dx[neighbor] = g, dE/dx[center] = -g
  auto forces = edges_to_nodes(centers, neighbors, grad, -grad, n);
  if (!torch::isfinite(forces).all().item<bool>()) throw non_finite("forces", forces);
  out.forces.assign(forces.data_ptr<double>(), forces.data_ptr<double>() + 3 * n);

  if (request.node_energy) {
    auto e = node_energy.detach().to(torch::kCPU, torch::kFloat64).contiguous();
    out.node_energy.assign(e.data_ptr<double>(), e.data_ptr<double>() + graph.n_local);
  }
  if (!request.virial && !request.node_virial) return;

  // Virial sum_i x_i (x) f_i = -sum_edges r (x) g, in Voigt order xx yy zz xy xz yz.
  const auto r = uploaded.edge_vec_f64_.narrow(0, 0, n_edges);
  auto edge_virial = -torch::stack({r.select(1, 0) * grad.select(1, 0),
                                    r.select(1, 1) * grad.select(1, 1),
                                    r.select(1, 2) * grad.select(1, 2),
                                    r.select(1, 0) * grad.select(1, 1),
                                    r.select(1, 0) * grad.select(1, 2),
                                    r.select(1, 1) * grad.select(1, 2)},
                                   1);
  if (request.virial) {
    auto total = edge_virial.sum(0).to(torch::kCPU).contiguous();
    std::copy(total.data_ptr<double>(), total.data_ptr<double>() + 6, out.virial.begin());
  }
  if (request.node_virial) {
    // Each edge's share is split evenly between its two atoms.
    auto half = 0.5 * edge_virial;
    auto node_virial = edges_to_nodes(centers, neighbors, half, half, n);
    out.node_virial.assign(node_virial.data_ptr<double>(),
                           node_virial.data_ptr<double>() + 6 * n);
  }
}

torch::jit::IValue ModelRunner::radius_argument(double radius) const {
  const bool refined = radius > 0.0 && radius < info_.cutoff;
  return refined ? torch::jit::IValue(radius) : torch::jit::IValue();
}

Results ModelRunner::compute_exchanged(const DeviceGraph& uploaded, const Request& request,
                                       double radius, Communicator& comm) {
  const Graph& graph = current(uploaded);
  const int layers = info_.num_layers;
  if (!can_exchange())
    throw std::runtime_error("model '" + path_ + "' has no layer-by-layer methods (exported "
                             "before them); re-export it with mlff-ttt export");
  if (graph.layer_edges.size() != static_cast<size_t>(layers))
    throw std::logic_error("compute_exchanged needs a graph pruned for the model's layers");
  const int64_t n = graph.n_nodes, n_local = graph.n_local, width = exchange_width_;
  const int64_t owned_edges = graph.layer_edges.back();    // centred on owned nodes
  const auto edge_index = uploaded.edge_index_.narrow(1, 0, owned_edges);
  const auto species_owned = uploaded.species_.narrow(0, 0, n_local);

  torch::jit::GraphOptimizerEnabledGuard plain_interpreter(false);    // as in compute()
  FlushDenormals flush_denormals;
  std::optional<torch::NoGradGuard> no_grad;
  if (!request.forces) no_grad.emplace();
  const torch::Tensor edge_vec =
      edge_vectors(uploaded.edge_vec_f64_.narrow(0, 0, owned_edges), dtype_);
  const auto terms =
      module_.get_method("edge_terms")({edge_vec, radius_argument(radius)}).toTensorList();
  // Each layer's backward stops at leaves of its own (the edge terms, its input features):
  // the gradient reaching a layer's input is summed over the ranks (the ghosts' rows into
  // their owners') before it goes on to the layer below, and the edge terms' gradients,
  // summed over the layers, go through the terms' own backward once at the end.
  std::vector<torch::Tensor> term_leaves;
  c10::List<torch::Tensor> layer_terms;
  for (size_t t = 0; t < terms.size(); ++t) {
    const torch::Tensor term = terms.get(t);
    term_leaves.push_back(term.detach().requires_grad_(request.forces));
    layer_terms.push_back(term_leaves.back());
  }
  std::vector<double> rows;
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  torch::Tensor features =
      module_.get_method("initial_features")({uploaded.species_}).toTensor().detach();
  std::vector<torch::Tensor> inputs, outputs;
  for (int layer = 0; layer < layers; ++layer) {
    // the first layer's input (the element embedding) depends on no position
    inputs.push_back(features.detach().requires_grad_(request.forces && layer > 0));
    outputs.push_back(module_.get_method("layer_features")(
        {layer, inputs.back(), edge_index, layer_terms, n_local}).toTensor());
    if (layer + 1 == layers) break;
    // the owned nodes' new features, and their ghosts' copies from their owners' ranks
    rows.assign(static_cast<size_t>(n * width), 0.0);
    auto owned = outputs.back().detach().to(torch::kCPU, torch::kFloat64).contiguous();
    std::copy(owned.data_ptr<double>(), owned.data_ptr<double>() + n_local * width,
              rows.begin());
    comm.forward(rows.data(), static_cast<int>(width));
    // a copy (copy=true): `rows` is overwritten by the next exchange
    features = torch::from_blob(rows.data(), {n, width}, f64).to(device_, dtype_, false, true);
  }
  const torch::Tensor last = outputs.back().detach().requires_grad_(request.forces);
  torch::Tensor node_energy =
      module_.get_method("features_energies")({last, species_owned}).toTensor();
  // the core repulsion is a sum over the owned atoms' edges: no layer, no exchange
  torch::Tensor core_energy;
  if (has_core_repulsion_) {
    core_energy = module_.get_method("core_energies")(
        {uploaded.species_, edge_index, edge_vec, n_local}).toTensor();
    node_energy = node_energy + core_energy;
  }
  auto energy = node_energy.to(torch::kFloat64).sum();
  Results out;
  out.energy = energy.item<double>();
  // a non-finite energy is reported after the backward pass: the other ranks wait in its
  // communication for this one
  const bool finite_energy = std::isfinite(out.energy);
  if (!request.forces) {
    if (!finite_energy) throw non_finite("energy", node_energy.detach());
    return out;
  }
  torch::Tensor grad_out =
      torch::autograd::grad({energy}, {last}, {}, /*retain_graph=*/core_energy.defined())[0];
  std::vector<torch::Tensor> term_grads(term_leaves.size());
  for (int layer = layers - 1; layer >= 0; --layer) {
    std::vector<torch::Tensor> wrt(term_leaves);
    if (layer > 0) wrt.push_back(inputs[layer]);
    auto grads = torch::autograd::grad({outputs[layer]}, wrt, {grad_out}, false, false, true);
    for (size_t t = 0; t < term_leaves.size(); ++t)
      if (grads[t].defined())
        term_grads[t] = term_grads[t].defined() ? term_grads[t] + grads[t] : grads[t];
    if (layer == 0) break;
    // dE/d(input features) of every node, the ghosts' rows summed into their owners' rows
    const torch::Tensor input_grad =
        grads.back().defined() ? grads.back() : torch::zeros_like(inputs[layer]);
    auto all = input_grad.detach().to(torch::kCPU, torch::kFloat64).contiguous();
    rows.assign(all.data_ptr<double>(), all.data_ptr<double>() + n * width);
    comm.reverse_sum(rows.data(), static_cast<int>(width));
    grad_out =
        torch::from_blob(rows.data(), {n_local, width}, f64).to(device_, dtype_, false, true);
  }
  std::vector<torch::Tensor> used_terms, used_grads;
  for (size_t t = 0; t < term_leaves.size(); ++t)
    if (term_grads[t].defined()) {
      used_terms.push_back(terms.get(t));
      used_grads.push_back(term_grads[t]);
    }
  if (core_energy.defined() && core_energy.requires_grad()) {
    used_terms.push_back(core_energy);
    used_grads.push_back(torch::ones_like(core_energy));
  }
  auto grad = torch::autograd::grad(used_terms, {edge_vec}, used_grads)[0].to(torch::kFloat64);
  if (!finite_energy) throw non_finite("energy", node_energy.detach());
  collect(uploaded, node_energy, grad, request, out);
  return out;
}

NonFiniteOutput ModelRunner::non_finite(const std::string& what, const torch::Tensor& values) const {
  // the first node with a non-finite value (rows of forces, entries of energies)
  auto bad = torch::logical_not(torch::isfinite(values.to(torch::kCPU)));
  if (bad.dim() > 1) bad = bad.any(1);
  const auto where = torch::nonzero(bad);
  const int64_t node = where.size(0) > 0 ? where[0][0].item<int64_t>() : -1;
  return NonFiniteOutput("model '" + path_ + "' returned a non-finite " + what, node);
}

void ModelRunner::set_parameters(const std::vector<std::string>& names,
                                 const std::vector<double>& values) {
  std::unordered_map<std::string, torch::Tensor> parameters;
  for (const auto& p : module_.named_parameters(true)) parameters.emplace(p.name, p.value);
  size_t offset = 0;
  torch::NoGradGuard no_grad;
  for (const auto& name : names) {
    auto it = parameters.find(name);
    if (it == parameters.end())
      throw std::invalid_argument("model '" + path_ + "' has no parameter '" + name + "'");
    torch::Tensor& p = it->second;
    const size_t n = static_cast<size_t>(p.numel());
    if (offset + n > values.size())
      throw std::invalid_argument("too few parameter values for '" + name + "'");
    auto source = torch::from_blob(const_cast<double*>(values.data() + offset), p.sizes(),
                                   torch::TensorOptions().dtype(torch::kFloat64));
    p.copy_(source.to(p.device(), p.scalar_type()));
    offset += n;
  }
  if (offset != values.size())
    throw std::invalid_argument("more parameter values than the named parameters hold");
}

void set_model_threads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
}

}  // namespace mlff
