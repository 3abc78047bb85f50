/* Test-time training as pair_style mlff_ttt drives it: the bridge to the Python TTT code
   (mlff::TTTBridge), one update on a step's structure towards the prior, the TTT log file, the
   saved adapted model, the guard that makes an update happen once per step, and the state a
   restart file carries (the adapted model and its optimizer's state). */
#pragma once

#include "pointers.h"

#include "ttt_bridge.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace mlff {
class DeviceGraph;
class ModelRunner;
}

namespace LAMMPS_NS {
class NeighList;

namespace mlff_ttt {
class GhostComm;
class Prior;
struct Options;
struct TypeMap;

class TTTDriver : protected Pointers {
 public:
  TTTDriver(LAMMPS *lmp, const Options &options, Prior &prior, GhostComm &ghost_comm);
  ~TTTDriver() override;

  // Drops the bridge (a new model or prior line, new keywords): the next run's set-up creates
  // it again. close_log: a re-issued pair_style may name another log file.
  void reset() { bridge.reset(); }
  void close_log();
  bool active() const { return bridge != nullptr; }

  // At a run's set-up with TTT on: the bridge (with a restart file's optimizer state) unless
  // it exists, and the log file.
  void start(const std::string &model_path);

  // Whether an update is due at `step`: once per step at most (a run's set-up computes its
  // first step's forces again, and must not repeat the update).
  bool due(bigint step) const;
  // The update of `step` begins: returns its wall time.
  double begin(bigint step);

  /* One update on `graph` (this step's structure, before its forces): the prior's forces and
     energy on the same atoms (into separate storage; nothing of them reaches the MD forces), K
     optimizer steps in Python, the new parameters copied into `model` in place. `scale`:
     model units -> LAMMPS units. A model whose calibration chose "off" gets a skip at once,
     without a prior evaluation. */
  mlff::TTTUpdate adapt(mlff::ModelRunner &model, const mlff::Graph &graph, NeighList *list,
                        const TypeMap &types, bigint n_atoms, double radius, double scale);
  /* The label-free per-atom error signal on `graph` (uploaded to the model's device):
     |F_prior head - F_prior| of each owned atom (LAMMPS force units; 0 for an atom the model
     does not see), into residual[0, nlocal): the per-atom force term of the TTT loss, which
     tracks the reference head's error. All ranks call it (a registry prior is gathered to
     rank 0). */
  void prior_residual(mlff::ModelRunner &model, const mlff::DeviceGraph &graph, NeighList *list,
                      const TypeMap &types, double radius, double scale, double *residual);
  /* What the update of `step` did, once the step's energy with the adapted model is known:
     `change` is that energy minus the energy before the update (LAMMPS units), at the same
     positions and radius; `started` what begin() returned. TTT's entries of `vector`, the
     save (when asked) and the log line. */
  void record(bigint step, const mlff::TTTUpdate &result, double change, double started,
              double *vector);

  // For restart files: the adapted model and its optimizer's state as files of their own
  // (absolute paths; rank 0 only), and the state read back.
  struct AdaptedFiles {
    std::string model, optimizer;
  };
  AdaptedFiles write_adapted_files(bigint step);
  void restore(bigint last_update_step, const std::string &optimizer_state_file);
  bigint last_update_step() const { return last_step; }

 private:
  void save_adapted(bigint step);
  void tell_skip(const mlff::TTTUpdate &result);    // the first skip of a run, on screen

  const Options &options;
  Prior &prior;
  GhostComm &ghost_comm;
  std::unique_ptr<mlff::TTTBridge> bridge;
  FILE *log_file = nullptr;
  bigint last_step = -1;              // the step of the last update
  bool told_skip = false;             // the gate's first skip of this run is in the log
  std::string optimizer_file;         // a restart file's optimizer state, for the next bridge
};

}    // namespace mlff_ttt
}    // namespace LAMMPS_NS
