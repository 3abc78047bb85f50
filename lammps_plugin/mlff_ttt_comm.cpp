#include "mlff_ttt_comm.h"

#include "atom.h"
#include "comm.h"

#include "graph.h"

#include <algorithm>

using namespace LAMMPS_NS;
using namespace LAMMPS_NS::mlff_ttt;

GhostComm::GhostComm(LAMMPS *lmp, Pair *pair) : Pointers(lmp), pair(pair) {}

void GhostComm::reverse_sum(double *values, int width)
{
  communicate(values, width, true);
}

void GhostComm::forward(double *values, int width)
{
  communicate(values, width, false);
}

void GhostComm::communicate(double *values, int width, bool reverse)
{
  const int ntotal = atom->nlocal + atom->nghost;
  for (int first = 0; first < width; first += WIDTH) {
    slice = std::min(WIDTH, width - first);
    buffer.resize(static_cast<size_t>(slice) * ntotal);
    for (int i = 0; i < ntotal; i++)
      for (int k = 0; k < slice; k++)
        buffer[slice * i + k] = values[static_cast<size_t>(width) * i + first + k];
    if (reverse)
      comm->reverse_comm(pair, slice);
    else
      comm->forward_comm(pair, slice);
    for (int i = 0; i < ntotal; i++)
      for (int k = 0; k < slice; k++)
        values[static_cast<size_t>(width) * i + first + k] = buffer[slice * i + k];
  }
}

void GhostComm::sum(double *values, int n)
{
  MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, world);
}

void GhostComm::broadcast(double *values, int n)
{
  MPI_Bcast(values, n, MPI_DOUBLE, 0, world);
}

/* Forward copies owned atoms' values to their ghosts, reverse sums ghosts' values into their
   owners. */

int GhostComm::pack_forward(int n, const int *list, double *buf) const
{
  int m = 0;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < slice; k++) buf[m++] = buffer[slice * list[i] + k];
  return m;
}

void GhostComm::unpack_forward(int n, int first, const double *buf)
{
  int m = 0;
  for (int i = first; i < first + n; i++)
    for (int k = 0; k < slice; k++) buffer[slice * i + k] = buf[m++];
}

int GhostComm::pack_reverse(int n, int first, double *buf) const
{
  int m = 0;
  for (int i = first; i < first + n; i++)
    for (int k = 0; k < slice; k++) buf[m++] = buffer[slice * i + k];
  return m;
}

void GhostComm::unpack_reverse(int n, const int *list, const double *buf)
{
  int m = 0;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < slice; k++) buffer[slice * list[i] + k] += buf[m++];
}

GraphCommunicator::GraphCommunicator(GhostComm &comm, const mlff::Graph &graph, int n_atoms) :
    comm(comm), graph(graph), n_atoms(n_atoms)
{
}

void GraphCommunicator::reverse_sum(double *values, int width)
{
  mlff::spread_to_atoms(graph, values, width, n_atoms, rows);
  comm.reverse_sum(rows.data(), width);
  mlff::gather_from_atoms(graph, rows.data(), width, values);
}

void GraphCommunicator::forward(double *values, int width)
{
  mlff::spread_to_atoms(graph, values, width, n_atoms, rows);
  comm.forward(rows.data(), width);
  mlff::gather_from_atoms(graph, rows.data(), width, values);
}

void GraphCommunicator::sum(double *values, int n)
{
  comm.sum(values, n);
}

void GraphCommunicator::broadcast(double *values, int n)
{
  comm.broadcast(values, n);
}
