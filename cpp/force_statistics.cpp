#include "force_statistics.h"

#include <algorithm>
#include <cmath>

#include "radius_refiner.h"

namespace mlff {

double force_norm_sum(const double* forces, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i)
    sum += std::sqrt(forces[3 * i] * forces[3 * i] + forces[3 * i + 1] * forces[3 * i + 1] +
                     forces[3 * i + 2] * forces[3 * i + 2]);
  return sum;
}

ForceShift force_shift(double mean_force_norm, const ModelInfo& info) {
  ForceShift out;
  // a training set whose force norms never varied still gets a finite scale
  out.z = (mean_force_norm - info.force_norm_mean) / std::max(info.force_norm_std, 1e-12);
  out.shift = out.z > kMonitorShiftStd;
  return out;
}

}  // namespace mlff
