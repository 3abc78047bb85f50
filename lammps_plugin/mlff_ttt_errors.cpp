#include "mlff_ttt_errors.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "lammps.h"
#include "update.h"

#include "graph.h"

#include <algorithm>
#include <cmath>

using namespace LAMMPS_NS;

/* The error policy of pair_style mlff_ttt: one rule for each kind of failure.

   1. Input (keywords, pair_coeff lines, the model file, units, newton, a prior that does not
      fit, a hook or TTT bridge that cannot be created, a restart record that is corrupt or of
      another release): error->all where it is found. Every rank reads the same input and
      files, so every rank reaches that verdict there; where ranks could judge differently
      (whether the prior's neighbor list is a full one), a reduction makes it one verdict first.
   2. A rank's share of a step (atoms closer than min_distance; the model call throwing or
      returning non-finite numbers; the spectral statistics of this rank's atoms): the
      collective verdict below, before the next communication, then error->all on every rank
      with the worst rank's message (overlaps first, the closest pair among them: check_step).
      error->one would print on the failing rank only, and what another rank than 0 prints can
      be lost when MPI_Abort ends the run.
   3. A failure inside a section whose communication the other ranks may already be waiting in
      (the TTT update, whose Python code calls the ghost communication and MPI sums; the user's
      hook), or in work one rank does alone (writing the restart's model files and opening the
      TTT log, both on rank 0): error->one, which ends the run from that rank; no verdict can
      be reached.
   4. What the run survives: a warning on rank 0 (once where it would repeat), and the run goes
      on. A prior that fails skips that step's update; an update the engine rolls back; a
      failed save of the adapted model (the last saved file stays); a shift the monitor flags;
      a prior without ttt; model statistics too old for the monitor. */

// One MAXLOC reduction finds the worst rank (the lowest one among equals); its message goes to
// every rank.
void mlff_ttt::end_if_any_rank_failed(LAMMPS *lmp, double severity, std::string message)
{
  struct {
    double severity;
    int rank;
  } mine{severity, lmp->comm->me}, worst{};
  MPI_Allreduce(&mine, &worst, 1, MPI_DOUBLE_INT, MPI_MAXLOC, lmp->world);
  if (worst.severity == 0.0) return;
  int length = static_cast<int>(message.size());
  MPI_Bcast(&length, 1, MPI_INT, worst.rank, lmp->world);
  message.resize(length);
  MPI_Bcast(&message[0], length, MPI_CHAR, worst.rank, lmp->world);
  lmp->error->all(FLERR, "pair_style mlff_ttt at step {}: {}", lmp->update->ntimestep, message);
}

void mlff_ttt::end_if_any_rank_failed(LAMMPS *lmp, const std::string &failure)
{
  end_if_any_rank_failed(lmp, failure.empty() ? 0.0 : 1.0, failure);
}

/* Atoms closer than min_distance are worse than a failed call, and closer pairs worse than
   farther ones: a model trained on physical structures returns a finite, meaningless number
   there, so the run stops, naming the pair. */

void mlff_ttt::check_step(LAMMPS *lmp, const mlff::Graph &graph, double min_distance,
                          const std::string &failure)
{
  const double closest = std::sqrt(graph.closest_sq);
  const bool overlap = min_distance > 0.0 && closest < min_distance;
  if (!overlap) return end_if_any_rank_failed(lmp, failure);
  const tagint *tag = lmp->atom->tag;
  const tagint a = tag[graph.closest_atoms[0]], b = tag[graph.closest_atoms[1]];
  end_if_any_rank_failed(lmp, 2.0 + 1.0 / (1.0 + closest),
                         fmt::format("atoms {} and {} are {:.4g} A apart, closer than "
                                     "min_distance {} A (overlapping atoms: check the input "
                                     "structure; min_distance 0 switches the check off)",
                                     std::min(a, b), std::max(a, b), closest, min_distance));
}
