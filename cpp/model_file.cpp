#include "model_file.h"

#include <torch/csrc/jit/frontend/error_report.h>

#include "spectral_moments.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>

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
  if (info.format_version >= kDeltaVersion) {
    info.delta_prior = required_attr(m, "delta_prior", path).toStringRef();
    info.delta_prior_style = required_attr(m, "delta_prior_style", path).toStringRef();
  }

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

// The weights_crc32 export stores (mlff_ttt.model_file.weights_checksum): names and raw bytes of
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
    "rr_distance_std", "force_norm_mean", "force_norm_std", "delta_prior",
    "delta_prior_style"};

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

ModelFile load_model_file(const std::string& path, const torch::Device& device) {
  if (!std::ifstream(path).good())
    throw std::runtime_error("cannot open model file '" + path + "'");
  ModelFile file;
  try {
    file.module = torch::jit::load(path, device);
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
  file.module.eval();
  try {
    check_format_version(file.module, path);
    verify_attributes_checksum(file.module, path);
    file.info = read_info(file.module, path);
    verify_checksum(file.module, path);
  } catch (const c10::Error& e) {  // an attribute of the wrong type: a damaged file
    throw std::runtime_error("model file '" + path + "' has damaged metadata (" +
                             printable(e.what_without_backtrace()) + ")");
  }
  return file;
}

}  // namespace mlff
