// What the core's two Python bridges (python_hook.cpp, ttt_bridge.cpp) share on the pybind11
// side: the one way they call into Python, a graph as numpy arrays, and the release of Python
// state when its owner dies. Internal: only those sources include it (the LAMMPS glue sees no
// pybind11).
#pragma once

#include <pybind11/embed.h>
#include <pybind11/numpy.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include "embedded_python.h"
#include "graph.h"

namespace mlff {

// Runs `call` (which touches Python objects) with the GIL held and returns what it returns. A
// Python exception it raises becomes std::runtime_error(context + the exception's text): the
// callers of the bridges (the pair style, the tests) know no pybind11, and the exception's
// text must be read while the GIL is still held.
template <class Call>
auto call_python(const std::string& context, Call&& call) -> decltype(call()) {
  pybind11::gil_scoped_acquire gil;
  try {
    return call();
  } catch (pybind11::error_already_set& e) {
    throw std::runtime_error(context + e.what());
  }
}

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
