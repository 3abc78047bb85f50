// The shift monitor's force measure, beside its spectral one (radius_refiner.h): a
// structure's mean force norm as a z-score against the training structures' (the model
// file's force_norm_mean and force_norm_std, eV/A). Only the upper tail is a shift: the label
// shift the paper describes is larger forces than in training, and a structure calmer than
// the training ones (a perfect crystal) is not one.
#pragma once

#include <cstdint>

#include "model_file.h"

namespace mlff {

struct ForceShift {
  double z = 0.0;        // (mean force norm - training mean) / training std
  bool shift = false;    // z above kMonitorShiftStd (radius_refiner.h)
};

// The sum of the norms of n force rows (3 values each), in row order: a domain's share of
// the structure's total, which the caller sums over domains.
double force_norm_sum(const double* forces, int64_t n);

// The z-score of a structure's mean force norm (model units, as the statistics) against the
// training statistics of `info`, and whether it is a force shift.
ForceShift force_shift(double mean_force_norm, const ModelInfo& info);

}  // namespace mlff
