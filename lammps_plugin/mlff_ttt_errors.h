/* How pair_style mlff_ttt fails: its error policy (written in mlff_ttt_errors.cpp, beside the
   collective verdict that its rule 2 uses) and the verdict itself. */
#pragma once

#include <exception>
#include <string>

namespace mlff {
struct Graph;
}

namespace LAMMPS_NS {
class LAMMPS;

namespace mlff_ttt {

// What a step on this rank's atoms alone throws ("" when it does not): this rank's share of
// a collective verdict.
template <typename Step> std::string failure_of(Step &&step)
{
  try {
    step();
  } catch (std::exception &e) {
    return e.what();
  }
  return "";
}

// The collective verdict (every rank calls it): the run ends with error->all on every rank,
// "pair_style mlff_ttt at step N: " and the message of the rank of highest severity, when
// any rank's severity is above 0. The one-argument form: severity 1 for a failure.
void end_if_any_rank_failed(LAMMPS *lmp, double severity, std::string message);
void end_if_any_rank_failed(LAMMPS *lmp, const std::string &failure);

// The verdict on a model call on `graph` (this rank's; `failure`: what the call threw, or ""):
// also ends the run when atoms of the graph are closer than min_distance (0: no check).
void check_step(LAMMPS *lmp, const mlff::Graph &graph, double min_distance,
                const std::string &failure);

}    // namespace mlff_ttt
}    // namespace LAMMPS_NS
