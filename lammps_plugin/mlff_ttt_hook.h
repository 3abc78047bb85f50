/* `hook every N module:function`: a user's Python function called with the structure every N
   steps (mlff::PythonHook), once per step (a run's set-up computes its first step again). */
#pragma once

#include "pointers.h"

#include <memory>

namespace mlff {
class PythonHook;
struct Graph;
}    // namespace mlff

namespace LAMMPS_NS {
namespace mlff_ttt {
struct Options;

class Hook : protected Pointers {
 public:
  Hook(LAMMPS *lmp, const Options &options);
  ~Hook() override;

  // New keywords: the hook is dropped, and created again at the next run's set-up.
  void reset();
  /* At a run's set-up, as the TTT bridge is, not at pair_style: creating the hook starts the
     embedded interpreter and imports the user's module, which reading the keywords (again at
     a re-issued pair_style, read_restart, inside pair hybrid) should not do. */
  void init();
  bool due(bigint step) const;
  // `graph`: every owned and ghost atom; positions per LAMMPS atom.
  void call(const mlff::Graph &graph, const double *atom_positions, bigint step);

 private:
  const Options &options;
  std::unique_ptr<mlff::PythonHook> hook;
  bigint last_step = -1;
};

}    // namespace mlff_ttt
}    // namespace LAMMPS_NS
