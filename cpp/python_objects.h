// What the core's two Python bridges (python_hook.cpp, ttt_bridge.cpp) share on the pybind11
// side: a graph as numpy arrays, and the release of Python state when its owner dies.
// Internal: only those sources include it (the LAMMPS glue sees no pybind11).
#pragma once

#include <pybind11/embed.h>
#include <pybind11/numpy.h>

#include <algorithm>
#include <memory>

#include "graph.h"
#include "python_hook.h"

namespace mlff {

// The graph's species (n_nodes), edge_index (2, n_edges) and edge_vec (n_edges, 3) as numpy
// arrays owning copies (Python may keep them beyond the call). Needs the GIL.
struct GraphArrays {
  pybind11::array_t<int64_t> species;
  pybind11::array_t<int64_t> edge_index;
  pybind11::array_t<double> edge_vec;
};

inline GraphArrays graph_arrays(const Graph& graph) {
  namespace py = pybind11;
  const py::ssize_t n = graph.n_nodes, n_edges = graph.num_edges();
  GraphArrays out{py::array_t<int64_t>(n, graph.species.data()),
                  py::array_t<int64_t>({py::ssize_t(2), n_edges}),
                  py::array_t<double>({n_edges, py::ssize_t(3)}, graph.edge_vec.data())};
  int64_t* rows = out.edge_index.mutable_data();
  std::copy(graph.centers.begin(), graph.centers.end(), rows);
  std::copy(graph.neighbors.begin(), graph.neighbors.end(), rows + n_edges);
  return out;
}

// Drops Python state from a destructor. LAMMPS objects a Python script never closed die while
// the interpreter shuts down (or after it): their Python references are left to it, never
// touched without a thread state.
template <class State>
void release_python_state(std::unique_ptr<State>& state) {
  if (!state) return;
  if (!Py_IsInitialized() || python_is_finalizing()) {
    (void)state.release();
    return;
  }
  pybind11::gil_scoped_acquire gil;
  state.reset();
}

}  // namespace mlff
