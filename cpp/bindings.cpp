// Python module mlff_ttt._core: drives the C++ model runner and the spectral-moment kernel
// without LAMMPS, so tests can compare them with Python references on identical graphs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>

#include "graph.h"
#include "model_file.h"
#include "model_runner.h"
#include "python_entry_points.h"
#include "radius_refiner.h"
#include "spectral_moments.h"

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
                 const DoubleArray& edge_vec, int64_t n_local, double radius) {
  Graph g = make_graph(species, edge_index, edge_vec, n_local);
  mlff::Results r;
  {
    py::gil_scoped_release release;
    r = runner.compute(g, {true, true, true}, radius);
  }
  py::dict out;
  out["energy"] = r.energy;
  out["node_energy"] = py::array_t<double>(py::ssize_t(g.n_local), r.node_energy.data());
  out["forces"] = py::array_t<double>({g.n_nodes, int64_t(3)}, r.forces.data());
  out["virial"] = py::array_t<double>(6, r.virial.data());
  out["node_virial"] = py::array_t<double>({g.n_nodes, int64_t(6)}, r.node_virial.data());
  return out;
}

// Sorted neighbour rows from an edge list (2, E) and its distances (E,).
mlff::SortedNeighbors sorted_neighbors(int64_t n_nodes, const Int64Array& edge_index,
                                       const DoubleArray& distances) {
  if (edge_index.ndim() != 2 || edge_index.shape(0) != 2)
    throw std::invalid_argument("edge_index must have shape (2, n_edges)");
  const int64_t n_edges = edge_index.shape(1);
  if (distances.ndim() != 1 || distances.shape(0) != n_edges)
    throw std::invalid_argument("distances must have shape (n_edges,)");
  const int64_t* centers = edge_index.data();
  py::gil_scoped_release release;
  return mlff::sort_neighbors(n_nodes, centers, centers + n_edges, distances.data(), n_edges);
}

std::vector<double> radius_list(const DoubleArray& radii) {
  if (radii.ndim() != 1) throw std::invalid_argument("radii must be a 1-d array");
  return std::vector<double>(radii.data(), radii.data() + radii.shape(0));
}

py::array_t<double> node_degrees(int64_t n_nodes, const Int64Array& edge_index,
                                 const DoubleArray& distances, const DoubleArray& radii) {
  const std::vector<double> r = radius_list(radii);
  const mlff::SortedNeighbors nb = sorted_neighbors(n_nodes, edge_index, distances);
  std::vector<double> degrees;
  {
    py::gil_scoped_release release;
    degrees = mlff::node_degrees(nb, r, 0, n_nodes);
  }
  return py::array_t<double>({n_nodes, static_cast<int64_t>(r.size())}, degrees.data());
}

py::array_t<double> moment_sums(int64_t n_local, const Int64Array& edge_index,
                                const DoubleArray& distances, const DoubleArray& radii,
                                const std::optional<DoubleArray>& degrees,
                                const std::string& device) {
  const mlff::MomentDevice on = mlff::moment_device(device);
  const std::vector<double> r = radius_list(radii);
  const int64_t n_radii = r.size();
  int64_t n_nodes = n_local;
  if (degrees) {
    if (degrees->ndim() != 2 || degrees->shape(1) != n_radii)
      throw std::invalid_argument("degrees must have shape (n_nodes, n_radii)");
    n_nodes = degrees->shape(0);
  } else if (edge_index.size() > 0) {
    n_nodes = std::max(n_nodes, 1 + *std::max_element(edge_index.data(),
                                                      edge_index.data() + edge_index.size()));
  }
  const mlff::SortedNeighbors nb = sorted_neighbors(n_nodes, edge_index, distances);
  std::vector<double> sums;
  {
    std::vector<double> d;
    if (degrees) d.assign(degrees->data(), degrees->data() + degrees->size());
    py::gil_scoped_release release;
    if (!degrees) d = mlff::node_degrees(nb, r, 0, n_nodes);
    sums = mlff::moment_sums(nb, d, r, n_local, on);
  }
  return py::array_t<double>({n_radii, int64_t(mlff::kNumMoments)}, sums.data());
}

const double* moments_of(const DoubleArray& moments, const char* name) {
  if (moments.ndim() != 1 || moments.shape(0) != mlff::kNumMoments)
    throw std::invalid_argument(std::string(name) + " must have shape (4,)");
  return moments.data();
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "C++ core of mlff-ttt: TorchScript model runner, spectral moments of radius graphs";
  m.attr("MODEL_FORMAT_VERSION") = mlff::kModelFormatVersion;
  m.attr("WEIGHTED_STATISTICS_VERSION") = mlff::kWeightedStatisticsVersion;
  py::class_<ModelRunner>(m, "ModelRunner")
      .def(py::init<const std::string&, const std::string&>(), py::arg("path"),
           py::arg("device") = "cpu")
      .def_property_readonly("cutoff", [](const ModelRunner& r) { return r.info().cutoff; })
      .def_property_readonly("num_layers",
                             [](const ModelRunner& r) { return r.info().num_layers; })
      .def_property_readonly("elements", [](const ModelRunner& r) { return r.info().elements; })
      .def_property_readonly("units", [](const ModelRunner& r) { return r.info().units; })
      .def_property_readonly("dtype", [](const ModelRunner& r) { return r.info().dtype; })
      .def_property_readonly("delta_prior",
                             [](const ModelRunner& r) { return r.info().delta_prior; })
      .def_property_readonly("delta_prior_style",
                             [](const ModelRunner& r) { return r.info().delta_prior_style; })
      .def("compute", &compute, py::arg("species"), py::arg("edge_index"), py::arg("edge_vec"),
           py::arg("n_local") = -1, py::arg("radius") = 0.0,
           "Energy, per-node energies (owned), forces (all nodes), virial (xx yy zz xy xz yz) "
           "and per-node virials for a graph; edge_vec[k] = x[edge_index[1,k]] - "
           "x[edge_index[0,k]].");

  m.attr("NUM_MOMENTS") = mlff::kNumMoments;
  // what the C++ calls in Python by name (tests check each exists)
  m.attr("PYTHON_ENTRY_MODULE") = mlff::kPythonEntryModule;
  m.attr("PYTHON_ENTRY_POINTS") =
      std::vector<std::string>(std::begin(mlff::kPythonEntryPoints), std::end(mlff::kPythonEntryPoints));
  m.attr("RR_GATE_STD") = mlff::kRRGateStd;
  m.attr("HAS_CUDA_KERNEL") = mlff::kHasCudaKernel;
  m.def("node_degrees", &node_degrees, py::arg("n_nodes"), py::arg("edge_index"),
        py::arg("distances"), py::arg("radii"),
        "(n_nodes, R) degrees with self-loop: 1 + the summed spectral_edge_weight of the edges "
        "of each center shorter than each radius (ascending).");
  m.def("spectral_edge_weights",
        [](const DoubleArray& distances, double radius) {
          py::array_t<double> out(distances.request().shape);
          const double* d = distances.data();
          double* w = out.mutable_data();
          for (py::ssize_t k = 0; k < distances.size(); ++k)
            w[k] = mlff::spectral_edge_weight(d[k], radius);
          return out;
        },
        py::arg("distances"), py::arg("radius"),
        "Weights of edges of these lengths in the spectral graph at `radius`: the models' "
        "cosine envelope with the radius as cutoff, (cos(pi d / radius) + 1) / 2 below it, 0 "
        "beyond.");
  m.def("moment_sums", &moment_sums, py::arg("n_local"), py::arg("edge_index"),
        py::arg("distances"), py::arg("radii"), py::arg("degrees") = py::none(),
        py::arg("device") = "cpu",
        "(R, 4) sums over owned atoms [0, n_local) of (M^k)_ii, k = 1..4, with "
        "M = D^-1/2 A D^-1/2 of the envelope-weighted radius graph with self-loops at each radius. edge_index "
        "must list both directions of every pair. degrees (n_nodes, R): exact degrees of all "
        "nodes (needed when ghosts' edge lists are incomplete); computed from the edges if "
        "None.");
  m.def("moment_distance",
        [](const DoubleArray& moments, const DoubleArray& mean, const DoubleArray& std) {
          return mlff::moment_distance(moments_of(moments, "moments"), moments_of(mean, "mean"),
                                       moments_of(std, "std"));
        },
        py::arg("moments"), py::arg("mean"), py::arg("std"),
        "Root mean square z-score of per-atom mean moments m1..m4 against a training mean and "
        "standard deviation.");
  m.def("find_image_owners",
        [](const Int64Array& ids, int n_local) {
          if (ids.ndim() != 1 || n_local < 0 || n_local > ids.shape(0))
            throw std::invalid_argument("ids must be 1-d with n_local <= len(ids)");
          std::vector<int> owner;
          mlff::find_image_owners(ids.data(), n_local, static_cast<int>(ids.shape(0)), owner);
          return py::array_t<int>(py::ssize_t(owner.size()), owner.data());
        },
        py::arg("ids"), py::arg("n_local"),
        "For atoms with IDs `ids` (owned ones first), the owned atom each one is: itself, the "
        "owned atom of the same ID (a periodic image), or -1.");
  m.def("choose_radius", &mlff::choose_radius, py::arg("distances"), py::arg("threshold"),
        "Index of the radius to use: the last (trained cutoff) if its distance is within "
        "threshold, else the closest (last wins exact ties, else the smallest index).");
}
