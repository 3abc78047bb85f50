// Radius refinement and the spectral part of the shift monitor over a domain-decomposed
// graph: the model's reference statistics, the candidate grid, and the steps between which
// a caller (the LAMMPS pair style) does its communication. No LAMMPS or MPI here:
//   1. prepare(graph, all_radii): sorted neighbour rows, owned atoms' degrees
//   2. the caller copies owned degrees to ghost atoms (degrees(), num_radii() per node)
//   3. local_sums(): this domain's share of the moment sums; the caller sums them over domains
//   4. finish(global sums, total atoms): per-atom means, distances, the chosen radius
#pragma once

#include <vector>

#include "graph.h"
#include "model_file.h"
#include "spectral_moments.h"

namespace mlff {

// The shift monitor flags a structure whose measure lies more than kMonitorShiftStd training
// standard deviations above the training mean: the spectral distance at the trained cutoff
// (a connectivity shift, below) and the mean force norm (a force shift, force_statistics.h).
// One standard deviation is the paper's rule.
constexpr double kMonitorShiftStd = 1.0;

// RR moves away from the trained cutoff only for structures whose spectral distance there
// exceeds the training mean + kRRGateStd standard deviations. The monitor flags at one
// standard deviation (the paper's rule), but that flags 18-33% of the in-distribution
// validation structures (si_val, mol_val, md17_val), and RR would move 15% of mol_val and 33%
// of md17_val. 4 is the smallest whole number at which RR moves no structure of any shipped
// validation split (tests/benchmarks/choose_rr_gate.py; the table is in docs/rr.md).
constexpr double kRRGateStd = 4.0;

struct SpectralResult {
  std::vector<double> distances;   // moment distance to the training mean, per radius used
  double radius = 0.0;             // the chosen radius (the cutoff when only it was evaluated)
  double cutoff_distance = 0.0;    // distance at the trained cutoff (the monitor's measure)
  bool connectivity_shift = false; // cutoff_distance above the monitor's threshold()
};

class RadiusRefiner {
 public:
  // Throws std::runtime_error when the model has no statistics, and std::invalid_argument
  // for an empty grid, a radius outside (0, cutoff] or one the statistics do not cover.
  // An empty grid argument means every radius of the statistics. The cutoff is always added.
  // `device`: where local_sums() computes the moment sums (the same sums on either).
  RadiusRefiner(const ModelInfo& info, const std::vector<double>& grid, bool use_default_grid,
                MomentDevice device = MomentDevice::kCpu);

  const std::vector<double>& grid() const { return grid_; }
  double threshold() const { return threshold_; }        // monitor: mean + kMonitorShiftStd std
  double rr_threshold() const { return rr_threshold_; }  // RR: mean + kRRGateStd std

  // `graph` holds every node's edges up to the trained cutoff (not pruned). With all_radii
  // false only the trained cutoff is evaluated (the monitor alone).
  void prepare(const Graph& graph, bool all_radii);
  int num_radii() const { return static_cast<int>(radii_.size()); }
  // n_nodes x num_radii(); rows [0, n_local) are filled by prepare, the caller fills ghosts.
  std::vector<double>& degrees() { return degrees_; }
  std::vector<double> local_sums() const;
  SpectralResult finish(const std::vector<double>& global_sums, double n_atoms) const;

 private:
  const ModelInfo& info_;
  MomentDevice device_;
  std::vector<double> grid_;       // ascending, ends with the cutoff
  std::vector<int> rows_;          // index of each grid radius in the statistics
  double threshold_ = 0.0, rr_threshold_ = 0.0;
  std::vector<double> radii_;      // radii of the current evaluation
  SortedNeighbors neighbors_;
  std::vector<double> degrees_;
  int64_t n_local_ = 0;
};

}  // namespace mlff
