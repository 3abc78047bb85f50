#include "model_runner.h"

#include "spectral_moments.h"

#include <torch/csrc/jit/frontend/error_report.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include <stdexcept>
#include <unordered_map>

namespace mlff {

namespace {

constexpr double kMaxCutoff = 30.0;  // A
constexpr int kMaxLayers = 64;
constexpr size_t kMaxElements = 118;

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// Messages from damaged archives may quote their bytes; keep them printable ASCII so that
// every caller (LAMMPS's log, Python's str) can show them, and short (a damaged field may be
// megabytes long).
std::string printable(const std::string& text) {
  constexpr size_t kLongest = 200;
  std::string out = text.size() > kLongest ? text.substr(0, kLongest) + "..." : text;
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return out;
}

torch::jit::IValue required_attr(const torch::jit::Module& m, const std::string& name,
                                 const std::string& path) {
  if (!m.hasattr(name))
    throw std::runtime_error("model file '" + path + "' has no '" + name +
                             "' attribute: it was not written by 'mlff-ttt export'");
  return m.attr(name);
}

// First of all: a file of a newer format may lay out (and checksum) its attributes otherwise.
void check_format_version(const torch::jit::Module& m, const std::string& path) {
  const int64_t version = required_attr(m, "format_version", path).toInt();
  if (version < kOldestModelFormatVersion || version > kModelFormatVersion)
    throw std::runtime_error("model file '" + path + "': format version " +
                             std::to_string(version) + ", this build reads versions " +
                             std::to_string(kOldestModelFormatVersion) + " to " +
                             std::to_string(kModelFormatVersion));
}

ModelInfo read_info(const torch::jit::Module& m, const std::string& path) {
  ModelInfo info;
  info.format_version = static_cast<int>(required_attr(m, "format_version", path).toInt());
  info.architecture = required_attr(m, "architecture", path).toStringRef();
  info.cutoff = required_attr(m, "cutoff", path).toDouble();
  info.num_layers = static_cast<int>(required_attr(m, "num_layers", path).toInt());
  for (const auto& e : required_attr(m, "elements", path).toListRef())
    info.elements.push_back(e.toStringRef());
  info.units = required_attr(m, "units", path).toStringRef();
  info.dtype = required_attr(m, "dtype", path).toStringRef();
  info.metadata_json = required_attr(m, "metadata_json", path).toStringRef();

  const std::string where = "model file '" + path + "': ";
  if (info.format_version >= 2) {
    auto doubles = [&](const std::string& name) {
      std::vector<double> out;
      for (const auto& v : required_attr(m, name, path).toListRef()) out.push_back(v.toDouble());
      return out;
    };
    info.rr_radii = doubles("rr_radii");
    for (const auto& row : required_attr(m, "rr_moments", path).toListRef())
      for (const auto& v : row.toListRef()) info.rr_moments.push_back(v.toDouble());
    for (const auto& row : required_attr(m, "rr_moment_std", path).toListRef())
      for (const auto& v : row.toListRef()) info.rr_moment_std.push_back(v.toDouble());
    info.rr_distance_mean = doubles("rr_distance_mean");
    info.rr_distance_std = doubles("rr_distance_std");
    info.force_norm_mean = required_attr(m, "force_norm_mean", path).toDouble();
    info.force_norm_std = required_attr(m, "force_norm_std", path).toDouble();
    const size_t n = info.rr_radii.size();
    if (info.rr_moments.size() != n * kNumMoments || info.rr_moment_std.size() != n * kNumMoments ||
        info.rr_distance_mean.size() != n ||
        info.rr_distance_std.size() != n)
      throw std::runtime_error(where + "inconsistent reference statistics");
  }
  // bounds no real model comes near, so that a damaged or hostile file cannot make the pair
  // style ask LAMMPS for a ghost shell of kilometres or loop over a million layers
  if (!(info.cutoff > 0.0 && info.cutoff <= kMaxCutoff))
    throw std::runtime_error(where + "cutoff " + number(info.cutoff) + " A is outside (0, " +
                             number(kMaxCutoff) + "]");
  if (info.num_layers < 1 || info.num_layers > kMaxLayers)
    throw std::runtime_error(where + "num_layers " + std::to_string(info.num_layers) +
                             " is outside [1, " + std::to_string(kMaxLayers) + "]");
  if (info.elements.empty() || info.elements.size() > kMaxElements)
    throw std::runtime_error(where + "the element list holds " +
                             std::to_string(info.elements.size()) + " entries, not 1 to " +
                             std::to_string(kMaxElements));
  for (double r : info.rr_radii)
    if (!(r > 0.0 && r <= info.cutoff))
      throw std::runtime_error(where + "an RR radius lies outside (0, cutoff]");
  for (const auto* values : {&info.rr_moments, &info.rr_moment_std, &info.rr_distance_mean,
                             &info.rr_distance_std})
    for (double v : *values)
      if (!std::isfinite(v)) throw std::runtime_error(where + "non-finite reference statistics");
  if (info.format_version >= 2 &&
      !(std::isfinite(info.force_norm_mean) && std::isfinite(info.force_norm_std)))
    throw std::runtime_error(where + "non-finite reference statistics");
  if (info.dtype != "float32" && info.dtype != "float64")
    throw std::runtime_error(where + "dtype '" + printable(info.dtype) + "' is not float32 or float64");
  if (info.units != "metal" && info.units != "real")
    throw std::runtime_error(where + "units '" + printable(info.units) + "' are not metal or real");
  return info;
}

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

// zlib's CRC-32, chained over successive buffers (crc32(b, crc32(a, 0)) is that of a + b).
uint32_t crc32(const void* data, size_t size, uint32_t crc) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t k = 0; k < size; ++k) {
    crc ^= bytes[k];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// The weights_crc32 export stores (mlff_ttt.export.weights_checksum): names and raw bytes of
// every parameter and buffer in name order. TorchScript archives do not check tensor data, so
// a damaged file could otherwise load and return wrong numbers.
void verify_checksum(const torch::jit::Module& m, const std::string& path) {
  if (!m.hasattr("weights_crc32")) return;  // files of earlier releases
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& p : m.named_parameters(true)) tensors.emplace(p.name, p.value);
  for (const auto& b : m.named_buffers(true)) tensors.emplace(b.name, b.value);
  uint32_t crc = 0;
  for (const auto& [name, tensor] : tensors) {
    crc = crc32(name.data(), name.size(), crc);
    const auto data = tensor.detach().to(torch::kCPU).contiguous();
    crc = crc32(data.data_ptr(), data.nbytes(), crc);
  }
  if (static_cast<int64_t>(crc) != m.attr("weights_crc32").toInt())
    throw std::runtime_error("model file '" + path + "' is damaged: its weights do not match "
                             "the checksum written when it was saved");
}

// The attributes export.attributes_checksum covers, hashed alike: int64 and float64 bytes
// (little-endian, as on every platform torch runs on), strings' bytes, lists element-wise.
constexpr const char* kCheckedAttributes[] = {
    "format_version", "architecture", "cutoff", "num_layers", "elements", "units", "dtype",
    "metadata_json", "rr_radii", "rr_moments", "rr_moment_std", "rr_distance_mean",
    "rr_distance_std", "force_norm_mean", "force_norm_std"};

void append_attribute_bytes(const torch::jit::IValue& value, std::string& out) {
  if (value.isInt()) {
    const int64_t v = value.toInt();
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  } else if (value.isDouble()) {
    const double v = value.toDouble();
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  } else if (value.isString()) {
    out += value.toStringRef();
  } else if (value.isList()) {
    for (const auto& item : value.toListRef()) append_attribute_bytes(item, out);
  } else {
    throw std::runtime_error("an attribute of an unexpected type");
  }
}

void verify_attributes_checksum(const torch::jit::Module& m, const std::string& path) {
  if (!m.hasattr("attributes_crc32")) return;  // files of earlier releases
  uint32_t crc = 0;
  for (const char* name : kCheckedAttributes) {
    if (!m.hasattr(name)) continue;
    std::string bytes;
    append_attribute_bytes(m.attr(name), bytes);
    crc = crc32(name, std::strlen(name), crc);
    crc = crc32(bytes.data(), bytes.size(), crc);
  }
  if (static_cast<int64_t>(crc) != m.attr("attributes_crc32").toInt())
    throw std::runtime_error("model file '" + path + "' is damaged: its attributes (cutoff, "
                             "elements, statistics, metadata) do not match the checksum "
                             "written when it was saved");
}

}  // namespace

std::string ModelInfo::statistics_problem() const {
  const std::string version = "(format version " + std::to_string(format_version) + ")";
  const std::string fix =
      "re-export it with 'mlff-ttt export MODEL.pt -o NEW.pt --train TRAIN.xyz'";
  if (has_outdated_statistics())
    return "the model file's reference statistics " + version +
           " are of unweighted radius graphs, which this version no longer compares; " + fix;
  if (!has_statistics())
    return "the model file has no reference statistics " + version + "; " + fix;
  return "";
}

ModelRunner::ModelRunner(const std::string& path, const std::string& device)
    : path_(path), device_(device), dtype_(torch::kFloat64) {
  if (device_.is_cuda() && !torch::cuda::is_available())
    throw std::runtime_error("device cuda: this build's torch has no CUDA support or sees no "
                             "GPU (a CUDA build of torch is installed with make setup "
                             "TORCH_SPEC=\"torch==2.13.0+cu128 --index-url ...\")");
  if (!std::ifstream(path).good())
    throw std::runtime_error("cannot open model file '" + path + "'");
  try {
    module_ = torch::jit::load(path, device_);
  } catch (const c10::Error& e) {
    throw std::runtime_error("'" + path + "' is not a TorchScript model file (" +
                             printable(e.what_without_backtrace()) + ")");
  } catch (const torch::jit::ErrorReport&) {
    // what() of this report reads the archive's debug sources again, and on a damaged archive
    // that throws inside a noexcept function (std::terminate): never ask it
    throw std::runtime_error("'" + path + "' is not a TorchScript model file (damaged: its "
                             "TorchScript code does not compile)");
  } catch (const std::exception& e) {  // damaged archives also raise std::out_of_range etc.
    throw std::runtime_error("'" + path + "' is not a TorchScript model file (damaged: " +
                             printable(e.what()) + ")");
  }
  module_.eval();
  try {
    check_format_version(module_, path);
    verify_attributes_checksum(module_, path);
    info_ = read_info(module_, path);
    verify_checksum(module_, path);
  } catch (const c10::Error& e) {  // an attribute of the wrong type: a damaged file
    throw std::runtime_error("model file '" + path + "' has damaged metadata (" +
                             printable(e.what_without_backtrace()) + ")");
  }
  dtype_ = info_.dtype == "float32" ? torch::kFloat32 : torch::kFloat64;
}

int ModelRunner::element_index(const std::string& symbol) const {
  for (size_t k = 0; k < info_.elements.size(); ++k)
    if (info_.elements[k] == symbol) return static_cast<int>(k);
  return -1;
}

Results ModelRunner::compute(const Graph& graph, const Request& request, double radius) {
  const bool refined = radius > 0.0 && radius < info_.cutoff;
  if (refined && info_.format_version < 2)
    throw std::runtime_error("model '" + path_ + "' has format version " +
                             std::to_string(info_.format_version) +
                             ", which cannot be evaluated at a refined radius; re-export it");
  const int64_t n = graph.n_nodes, n_edges = graph.num_edges();
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);

  // from_blob does not copy; .to() copies onto the model's device and dtype.
  auto species = torch::from_blob(const_cast<int64_t*>(graph.species.data()), {n}, i64)
                     .to(device_);
  auto centers = torch::from_blob(const_cast<int64_t*>(graph.centers.data()), {n_edges}, i64)
                     .to(device_);
  auto neighbors =
      torch::from_blob(const_cast<int64_t*>(graph.neighbors.data()), {n_edges}, i64).to(device_);
  auto edge_index = torch::stack({centers, neighbors});
  auto edge_vec_f64 =
      torch::from_blob(const_cast<double*>(graph.edge_vec.data()), {n_edges, 3}, f64);
  auto edge_vec = edge_vec_f64.to(device_, dtype_).requires_grad_(true);

  // TorchScript's optimizing executor (profiling, autodiff subgraphs) measured about 2x slower
  // than plain autograd through the interpreter for these message-passing graphs, whose size
  // changes every MD step; run the model unoptimized.
  torch::jit::GraphOptimizerEnabledGuard plain_interpreter(false);
  FlushDenormals flush_denormals;
  std::vector<torch::jit::IValue> inputs{species, edge_index, edge_vec};
  const bool layered = info_.format_version >= 3 &&
      graph.layer_edges.size() == static_cast<size_t>(info_.num_layers);
  if (layered) {
    inputs.emplace_back(refined ? torch::jit::IValue(radius) : torch::jit::IValue());
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
  auto grad = torch::autograd::grad({energy}, {edge_vec})[0].to(torch::kCPU, torch::kFloat64);

  // Each edge vector is x[neighbor] - x[center]: dE/dx[neighbor] = g, dE/dx[center] = -g.
  auto centers_cpu = centers.to(torch::kCPU), neighbors_cpu = neighbors.to(torch::kCPU);
  auto forces = torch::zeros({n, 3}, f64);
  forces.index_add_(0, centers_cpu, grad);
  forces.index_add_(0, neighbors_cpu, -grad);
  if (!torch::isfinite(forces).all().item<bool>()) throw non_finite("forces", forces);
  out.forces.assign(forces.data_ptr<double>(), forces.data_ptr<double>() + 3 * n);

  if (request.node_energy) {
    auto e = node_energy.narrow(0, 0, graph.n_local).detach().to(torch::kCPU, torch::kFloat64)
                 .contiguous();
    out.node_energy.assign(e.data_ptr<double>(), e.data_ptr<double>() + graph.n_local);
  }
  if (!request.virial && !request.node_virial) return out;

  // Virial sum_i x_i (x) f_i = -sum_edges r (x) g, in Voigt order xx yy zz xy xz yz.
  const auto& r = edge_vec_f64;
  auto edge_virial = -torch::stack({r.select(1, 0) * grad.select(1, 0),
                                    r.select(1, 1) * grad.select(1, 1),
                                    r.select(1, 2) * grad.select(1, 2),
                                    r.select(1, 0) * grad.select(1, 1),
                                    r.select(1, 0) * grad.select(1, 2),
                                    r.select(1, 1) * grad.select(1, 2)},
                                   1);
  if (request.virial) {
    auto total = edge_virial.sum(0).contiguous();
    std::copy(total.data_ptr<double>(), total.data_ptr<double>() + 6, out.virial.begin());
  }
  if (request.node_virial) {
    // Each edge's share is split evenly between its two atoms.
    auto half = 0.5 * edge_virial;
    auto node_virial = torch::zeros({n, 6}, f64);
    node_virial.index_add_(0, centers_cpu, half);
    node_virial.index_add_(0, neighbors_cpu, half);
    out.node_virial.assign(node_virial.data_ptr<double>(),
                           node_virial.data_ptr<double>() + 6 * n);
  }
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

}  // namespace mlff

namespace mlff {
void set_model_threads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
}
}  // namespace mlff
