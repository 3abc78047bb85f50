// The bridge from the MD engine to the Python TTT code (kPythonEntryModule) through
// pybind11: it hands over the current graph, the prior's forces and energy, and a
// Communicator that offers the engine's own ghost communication and MPI sums, and gets back
// the updated representation parameters. No LAMMPS or MPI here: the pair style implements Communicator.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "communicator.h"
#include "graph.h"

namespace mlff {

// The engine's settings, as `pair_style mlff_ttt ... ttt ...` gives them: these initializers
// are the only copy of the defaults (the pair style's options hold a TTTOptions; the deck
// must give steps and lr). The Python package's offline TTT (TTTSettings) is another
// concept with defaults of its own.
struct TTTOptions {
  int steps = 1;
  double lr = 1e-4;
  // steps and lr from the model file's TTT calibration (ttt every N calibrated; steps 0 when
  // the calibration chose "off": every update is then a skip)
  bool calibrated = false;
  std::string optimizer = "adam";   // or "sgd"
  double max_change = 0.0;          // bound on |dtheta| / |theta| per update; 0: none
  // TTT's gate, the offline engine's (mlff_ttt.refine.ttt.gate_threshold): adapt only when the
  // prior loss exceeds the validation mean + gate_std std. < 0: the offline default
  // (TTTSettings.gate_std, the one copy of it); 0: adapt always.
  double gate_std = -1.0;
  double prior_timeout = 600.0;     // seconds a Python prior may take; 0: no limit
};

struct TTTUpdate {
  double loss_before = 0.0, loss_after = 0.0, seconds = 0.0;
  bool rolled_back = false;
  bool skipped = false;             // the gate left the model alone
  std::string reason;               // why it was rolled back, or the gate's decision
  std::vector<double> values;       // the parameters after the update, in parameter_names order
};

class TTTBridge {
 public:
  // Loads the model file again on the Python side, onto `device` ("cpu" or "cuda": where the
  // runner's model is, so the update runs there too). Throws std::runtime_error.
  TTTBridge(const std::string& model_path, const TTTOptions& options,
            const std::string& device = "cpu");
  ~TTTBridge();
  TTTBridge(const TTTBridge&) = delete;
  TTTBridge& operator=(const TTTBridge&) = delete;

  // The parameters TTT updates (names in the TorchScript module).
  const std::vector<std::string>& parameter_names() const { return names_; }
  // Why no update will ever change the model ("" when they can: the file's calibration chose
  // "off"); the pair style then skips the prior, which every update would only discard.
  const std::string& off_reason() const { return off_reason_; }

  // prior_forces: n_local x 3 (the prior's total forces on owned atoms, model units);
  // prior_energy and n_atoms: global. radius: the RR radius in use (the cutoff: none).
  TTTUpdate update(const Graph& graph, const double* prior_forces, double prior_energy,
                   int64_t n_atoms, double radius, Communicator& comm);

  // Writes the adapted model file (temporary name, then renamed).
  void save(const std::string& path, int64_t step);
  // The optimizer's state in a file of its own, and back (for restart files).
  void save_optimizer(const std::string& path);
  void load_optimizer(const std::string& path);

  // Empty when the run's TTT prior (its deck line as words: see the pair style's
  // Prior::line()) is the one the model's prior head was trained on (the model file's
  // prior_name), else a warning that says both.
  std::string prior_mismatch(const std::vector<std::string>& prior_line);

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::vector<std::string> names_;
  std::string off_reason_;
};

}  // namespace mlff
