// Python module mlff_ttt._core: drives the C++ model runner without LAMMPS, so tests can
// compare it with the Python model and LAMMPS on identical graphs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "model_runner.h"

namespace py = pybind11;
using mlff::Graph;
using mlff::ModelRunner;

namespace {

using Int64Array = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

Graph make_graph(const Int64Array& species, const Int64Array& edge_index,
                 const DoubleArray& edge_vec, int64_t n_local) {
  if (species.ndim() != 1) throw std::invalid_argument("species must be a 1-d array");
  if (edge_index.ndim() != 2 || edge_index.shape(0) != 2)
    throw std::invalid_argument("edge_index must have shape (2, n_edges)");
  const int64_t n_edges = edge_index.shape(1);
  if (edge_vec.ndim() != 2 || edge_vec.shape(0) != n_edges || edge_vec.shape(1) != 3)
    throw std::invalid_argument("edge_vec must have shape (n_edges, 3)");
  Graph g;
  g.n_nodes = species.shape(0);
  g.n_local = n_local < 0 ? g.n_nodes : n_local;
  if (g.n_local > g.n_nodes) throw std::invalid_argument("n_local exceeds the number of nodes");
  g.species.assign(species.data(), species.data() + g.n_nodes);
  g.centers.assign(edge_index.data(), edge_index.data() + n_edges);
  g.neighbors.assign(edge_index.data() + n_edges, edge_index.data() + 2 * n_edges);
  for (int64_t k = 0; k < 2 * n_edges; ++k) {
    const int64_t node = edge_index.data()[k];
    if (node < 0 || node >= g.n_nodes) throw std::invalid_argument("edge_index out of range");
  }
  g.edge_vec.assign(edge_vec.data(), edge_vec.data() + 3 * n_edges);
  return g;
}

py::dict compute(ModelRunner& runner, const Int64Array& species, const Int64Array& edge_index,
                 const DoubleArray& edge_vec, int64_t n_local) {
  Graph g = make_graph(species, edge_index, edge_vec, n_local);
  mlff::Results r;
  {
    py::gil_scoped_release release;
    r = runner.compute(g, {true, true, true});
  }
  py::dict out;
  out["energy"] = r.energy;
  out["node_energy"] = py::array_t<double>(py::ssize_t(g.n_local), r.node_energy.data());
  out["forces"] = py::array_t<double>({g.n_nodes, int64_t(3)}, r.forces.data());
  out["virial"] = py::array_t<double>(6, r.virial.data());
  out["node_virial"] = py::array_t<double>({g.n_nodes, int64_t(6)}, r.node_virial.data());
  return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "C++ core of mlff-ttt: TorchScript model runner";
  m.attr("MODEL_FORMAT_VERSION") = mlff::kModelFormatVersion;
  py::class_<ModelRunner>(m, "ModelRunner")
      .def(py::init<const std::string&, const std::string&>(), py::arg("path"),
           py::arg("device") = "cpu")
      .def_property_readonly("cutoff", [](const ModelRunner& r) { return r.info().cutoff; })
      .def_property_readonly("num_layers",
                             [](const ModelRunner& r) { return r.info().num_layers; })
      .def_property_readonly("elements", [](const ModelRunner& r) { return r.info().elements; })
      .def_property_readonly("units", [](const ModelRunner& r) { return r.info().units; })
      .def_property_readonly("dtype", [](const ModelRunner& r) { return r.info().dtype; })
      .def("compute", &compute, py::arg("species"), py::arg("edge_index"), py::arg("edge_vec"),
           py::arg("n_local") = -1,
           "Energy, per-node energies (owned), forces (all nodes), virial (xx yy zz xy xz yz) "
           "and per-node virials for a graph; edge_vec[k] = x[edge_index[1,k]] - "
           "x[edge_index[0,k]].");
}
