// What an MD engine offers the core for a graph split over ranks: its own ghost communication
// on rows of node values, and sums and broadcasts over ranks. The pair style implements it
// (lammps_plugin/mlff_ttt_comm.h); the TTT bridge and the layer-by-layer model call use it.
#pragma once

namespace mlff {

class Communicator {
 public:
  virtual ~Communicator() = default;
  // values: n_nodes x width, owned nodes first. Adds ghosts' rows into their owners' rows.
  virtual void reverse_sum(double* values, int width) = 0;
  // Copies owners' rows into their ghosts' rows.
  virtual void forward(double* values, int width) = 0;
  virtual void sum(double* values, int n) = 0;        // over ranks, in place
  virtual void broadcast(double* values, int n) = 0;  // rank 0's values to all
};

}  // namespace mlff
