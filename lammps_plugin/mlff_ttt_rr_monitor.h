/* Radius refinement (`rr once|every N`) and the shift monitor (`monitor every N`) as
   pair_style mlff_ttt schedules them. Both measure the structure's spectral moments against the
   model file's training statistics (mlff::RadiusRefiner); the monitor also measures the forces
   (force_statistics.h). The measures are the core's; here: what is due when, the
   communication between their steps, their entries of the vector, and their warnings. */
#pragma once

#include "pointers.h"

#include <memory>
#include <vector>

namespace mlff {
class RadiusRefiner;
struct Graph;
struct ModelInfo;
}    // namespace mlff

namespace LAMMPS_NS {
namespace mlff_ttt {
class GhostComm;
struct Options;

class RRMonitor : protected Pointers {
 public:
  RRMonitor(LAMMPS *lmp, Options &options, GhostComm &ghost_comm);
  ~RRMonitor() override;

  // At a run's set-up, once the model and the keywords are both known: the refiner when RR or
  // the monitor is on. A monitor the deck did not ask for is switched off (options'
  // monitor_every set to 0) for a model without statistics.
  void init(const mlff::ModelInfo &info);
  void log_settings();    // the grid and the schedule, on rank 0
  bool on() const { return refiner != nullptr; }    // its walks need two cutoffs of ghosts

  // What is due at `step`: RR chooses at rr every N steps and at rr once's first force call of
  // each run (rr_due consumes that), the monitor every N steps.
  bool rr_due(bigint step);
  bool monitor_due(bigint step) const;

  // The spectral update of `atom_graph` (every owned and ghost atom, edges up to the cutoff;
  // n_atoms over all ranks, > 0): the monitor's entries of `vector`, and with all_radii RR's
  // choice, which replaces `radius`. Every rank gets the same result.
  void spectral_update(const mlff::Graph &atom_graph, bool all_radii, double n_atoms,
                       double &radius, double *vector);
  // The monitor's force measure on the model's forces per owned and ghost atom (model units;
  // ghost contributions are brought home first); n_atoms: the model's atoms over all ranks.
  void monitor_forces(const std::vector<double> &forces, bigint n_atoms,
                      const mlff::ModelInfo &info, double *vector);

 private:
  Options &options;
  GhostComm &ghost_comm;
  std::unique_ptr<mlff::RadiusRefiner> refiner;
  bool rr_once_pending = false;
  bool warned_connectivity = false, warned_force = false;
};

}    // namespace mlff_ttt
}    // namespace LAMMPS_NS
