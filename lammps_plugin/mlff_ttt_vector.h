/* The entries of the `compute pair mlff_ttt` vector, in this order (docs/lammps.md lists
   them). The pair style holds the first NUM_EXTRA values, the same on every rank; RR and the
   monitor, and the TTT driver, write their entries; restart files carry them all. The work
   counts after them are each rank's own (`compute pair` sums them over the ranks), describe
   the step's force call only and are not carried. */
#pragma once

namespace LAMMPS_NS {
namespace mlff_ttt {

enum VectorEntry {
  RR_RADIUS, SPECTRAL_DISTANCE, FORCE_NORM_Z, CONNECTIVITY_SHIFT, FORCE_SHIFT,
  TTT_UPDATES, TTT_LOSS_BEFORE, TTT_LOSS_AFTER, TTT_ENERGY_CHANGE, TTT_ENERGY_CHANGE_SUM,
  TTT_SECONDS, RR_ENERGY_CHANGE, REFINEMENT_ENERGY_CHANGE_SUM, NUM_EXTRA
};

enum WorkEntry { GRAPH_NODES = NUM_EXTRA, EDGE_EVALUATIONS, NUM_VECTOR };

}    // namespace mlff_ttt
}    // namespace LAMMPS_NS
