/* The communication pair_style mlff_ttt does beyond LAMMPS's own: rows of values per owned and
   ghost atom sent between owners and ghosts through the pair style's pack/unpack hooks (RR's
   degrees forward, forces in reverse), and sums and broadcasts over ranks; and, on top of it,
   the core's mlff::Communicator on the rows of a graph, for the TTT bridge. */
#pragma once

#include "pointers.h"

#include "ttt_bridge.h"

#include <vector>

namespace mlff {
struct Graph;
}

namespace LAMMPS_NS {
class Pair;

namespace mlff_ttt {

class GhostComm : protected Pointers {
 public:
  /* LAMMPS sizes its communication buffers by comm_forward and comm_reverse, which pair hybrid
     reads from its styles when pair_style is issued, before any model or RR grid is known. So
     both stay at WIDTH doubles per atom, and wider rows travel in slices of WIDTH. 64: the
     exchange's feature rows (32-256 wide for the shipped models) go in 1-4 rounds, where 3
     (the forces' width) took up to 86 (exchanged 2-rank molecule MD, mol_schnet / mol_painn:
     74.8 / 215 ms per step with slices of 3 in make bench, 64 / 190 with 64 beside another
     job); the buffers grow by 64 doubles per communicated atom. */
  static constexpr int WIDTH = 64;

  // `pair` is the style whose pack/unpack hooks delegate to this object.
  GhostComm(LAMMPS *lmp, Pair *pair);

  // values: `width` doubles per owned and ghost atom, in LAMMPS's order. reverse_sum adds
  // ghosts' rows into their owners' rows; forward copies owners' rows into their ghosts'.
  void reverse_sum(double *values, int width);
  void forward(double *values, int width);
  void sum(double *values, int n);          // over ranks, in place
  void broadcast(double *values, int n);    // rank 0's values to every rank

  // The pair style's pack_/unpack_ hooks, for the slice in flight.
  int pack_forward(int n, const int *list, double *buf) const;
  void unpack_forward(int n, int first, const double *buf);
  int pack_reverse(int n, int first, double *buf) const;
  void unpack_reverse(int n, const int *list, const double *buf);

 private:
  void communicate(double *values, int width, bool reverse);

  Pair *pair;
  std::vector<double> buffer;    // the slice in flight, `slice` doubles per atom
  int slice = 0;
};

/* GhostComm on the rows of a graph: its nodes are LAMMPS atoms (graph.node_atom; periodic
   images are folded into their owners already), so node rows are spread onto atom rows,
   communicated and gathered back. */
class GraphCommunicator : public mlff::Communicator {
 public:
  GraphCommunicator(GhostComm &comm, const mlff::Graph &graph, int n_atoms);
  void reverse_sum(double *values, int width) override;
  void forward(double *values, int width) override;
  void sum(double *values, int n) override;
  void broadcast(double *values, int n) override;

 private:
  GhostComm &comm;
  const mlff::Graph &graph;
  int n_atoms;                   // owned and ghost atoms
  std::vector<double> rows;
};

}    // namespace mlff_ttt
}    // namespace LAMMPS_NS
