// The model file format that `mlff-ttt export` writes (docs/model_file.md): its versions, the
// metadata it carries (ModelInfo), and the reader that loads a file and checks it (format
// version, checksums, bounds) before anything evaluates it. Knows nothing about LAMMPS.
#pragma once

#include <torch/script.h>

#include <string>
#include <vector>

namespace mlff {

// The model file format export writes; the reader also reads the older versions back to
// kOldestModelFormatVersion (version 1 files have no reference statistics, so no RR; before
// version 3 every layer evaluates every edge). Version 4 changed no layout, only what the
// reference statistics mean: moments of envelope-weighted graphs (spectral_moments.h).
// Statistics of older files describe 0/1 graphs, which this build no longer computes, so
// RR and the monitor refuse them (the model itself still runs). Version 5 adds delta learning
// (delta_prior): a reader that did not know it would run a delta model without its prior.
constexpr int kModelFormatVersion = 5;
constexpr int kOldestModelFormatVersion = 1;
constexpr int kWeightedStatisticsVersion = 4;
constexpr int kDeltaVersion = 5;

struct ModelInfo {
  int format_version = 0;
  std::string architecture;
  double cutoff = 0.0;          // Angstrom
  int num_layers = 0;           // message-passing layers
  std::vector<std::string> elements;
  std::string units;            // LAMMPS unit style of the model's energies/lengths
  std::string dtype;            // "float32" or "float64"
  std::string metadata_json;    // the full record, for display
  // Delta learning (format version 5): the prior the model's energies are relative to, as a
  // prior spec ("" for a model of the reference itself), and, when it is a LAMMPS pair style,
  // its pair_style words (which the deck's prior line must give; "" when LAMMPS cannot
  // evaluate it). The model's energy plus that prior's is the potential.
  std::string delta_prior, delta_prior_style;
  bool is_delta() const { return !delta_prior.empty(); }

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

// A model file as loaded: the TorchScript module (in eval mode) and its checked metadata.
struct ModelFile {
  torch::jit::Module module;
  ModelInfo info;
};

// Loads `path` onto `device`, then checks the format version (first: a newer format may lay
// out and checksum its attributes otherwise), the attributes' checksum, the metadata and its
// bounds, and the weights' checksum. Throws std::runtime_error with a readable message if the
// file is missing, is not a TorchScript archive, lacks the mlff-ttt metadata or is damaged.
ModelFile load_model_file(const std::string& path, const torch::Device& device);

}  // namespace mlff
