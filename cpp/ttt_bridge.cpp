#include "ttt_bridge.h"

#include <pybind11/embed.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <stdexcept>

#include "python_entry_points.h"
#include "python_hook.h"
#include "python_objects.h"

namespace py = pybind11;

namespace mlff {

namespace {

using Array = py::array_t<double, py::array::c_style>;

double* rows_of(Array& values, int* width) {
  if (values.ndim() != 2) throw std::invalid_argument("expected an (n_nodes, width) array");
  *width = static_cast<int>(values.shape(1));
  return values.mutable_data();
}

// The Communicator as the Python object mlff_ttt.plugin.entry_points expects (methods on numpy arrays).
py::object python_communicator(Communicator& comm) {
  auto types = py::module_::import("types");
  return types.attr("SimpleNamespace")(
      py::arg("reverse_sum") = py::cpp_function([&comm](Array values) {
        int width = 0;
        double* data = rows_of(values, &width);
        comm.reverse_sum(data, width);
      }),
      py::arg("forward") = py::cpp_function([&comm](Array values) {
        int width = 0;
        double* data = rows_of(values, &width);
        comm.forward(data, width);
      }),
      py::arg("sum") = py::cpp_function([&comm](Array values) {
        comm.sum(values.mutable_data(), static_cast<int>(values.size()));
      }),
      py::arg("broadcast") = py::cpp_function([&comm](Array values) {
        comm.broadcast(values.mutable_data(), static_cast<int>(values.size()));
      }));
}

}  // namespace

struct TTTBridge::State {
  py::object module;   // mlff_ttt.plugin.entry_points
  py::object adapter;
  py::object prior;    // a registry prior, when one is used
};

TTTBridge::TTTBridge(const std::string& model_path, const TTTOptions& options) {
  ensure_python_interpreter();
  py::gil_scoped_acquire gil;
  try {
    state_ = std::make_unique<State>();
    state_->module = py::module_::import(kPythonEntryModule);
    py::dict settings;
    settings["steps"] = options.steps;
    settings["lr"] = options.lr;
    settings["optimizer"] = options.optimizer;
    settings["max_change"] = options.max_change;
    state_->adapter = state_->module.attr(kEntryCreate)(model_path, settings);
    names_ = state_->adapter.attr("names").cast<std::vector<std::string>>();
    prior_timeout_ = options.prior_timeout;
  } catch (py::error_already_set& e) {
    state_.reset();
    throw std::runtime_error(std::string("cannot start test-time training: ") + e.what());
  }
}

TTTBridge::~TTTBridge() { release_python_state(state_); }

TTTUpdate TTTBridge::update(const Graph& graph, const double* prior_forces, double prior_energy,
                            int64_t n_atoms, double radius, Communicator& comm) {
  py::gil_scoped_acquire gil;
  const GraphArrays arrays = graph_arrays(graph);
  py::array_t<double> forces({py::ssize_t(graph.n_local), py::ssize_t(3)}, prior_forces);
  TTTUpdate out;
  try {
    py::dict record = state_->module.attr(kEntryUpdate)(
        state_->adapter, arrays.species, arrays.edge_index, arrays.edge_vec, graph.n_local,
        forces, prior_energy, n_atoms, radius, python_communicator(comm));
    out.loss_before = record["loss_before"].cast<double>();
    out.loss_after = record["loss_after"].cast<double>();
    out.rolled_back = record["rolled_back"].cast<bool>();
    out.reason = record["reason"].cast<std::string>();
    out.seconds = record["seconds"].cast<double>();
    out.values = record["values"].cast<std::vector<double>>();
  } catch (py::error_already_set& e) {
    throw std::runtime_error(std::string("test-time training failed: ") + e.what());
  }
  return out;
}

void TTTBridge::save(const std::string& path, int64_t step) {
  py::gil_scoped_acquire gil;
  try {
    state_->module.attr(kEntrySave)(state_->adapter, path, step);
  } catch (py::error_already_set& e) {
    throw std::runtime_error("cannot save the adapted model to '" + path + "': " + e.what());
  }
}

void TTTBridge::save_optimizer(const std::string& path) {
  py::gil_scoped_acquire gil;
  try {
    state_->module.attr(kEntrySaveOptimizer)(state_->adapter, path);
  } catch (py::error_already_set& e) {
    throw std::runtime_error("cannot save the TTT optimizer state to '" + path + "': " + e.what());
  }
}

void TTTBridge::load_optimizer(const std::string& path) {
  py::gil_scoped_acquire gil;
  try {
    state_->module.attr(kEntryLoadOptimizer)(state_->adapter, path);
  } catch (py::error_already_set& e) {
    throw std::runtime_error("cannot restore the TTT optimizer state from '" + path + "': " +
                             e.what());
  }
}

void TTTBridge::set_registry_prior(const std::string& name,
                                   const std::vector<std::pair<std::string, std::string>>& params) {
  py::gil_scoped_acquire gil;
  py::dict kwargs;
  for (const auto& [key, value] : params) kwargs[py::str(key)] = value;
  try {
    state_->prior = state_->module.attr(kEntryRegistryPrior)(name, kwargs);
  } catch (py::error_already_set& e) {
    throw std::runtime_error("cannot create the prior '" + name + "': " + e.what());
  }
}

double TTTBridge::registry_prior(const std::vector<std::string>& symbols, const double* positions,
                                 const double* cell, const bool* pbc, double* forces) {
  py::gil_scoped_acquire gil;
  const py::ssize_t n = static_cast<py::ssize_t>(symbols.size());
  try {
    py::dict out = state_->module.attr(kEntryPriorLabels)(
        state_->prior, symbols, py::array_t<double>({n, py::ssize_t(3)}, positions),
        py::array_t<double>({py::ssize_t(3), py::ssize_t(3)}, cell),
        std::vector<bool>(pbc, pbc + 3), prior_timeout_);
    auto f = out["forces"].cast<py::array_t<double, py::array::c_style | py::array::forcecast>>();
    if (f.size() != 3 * n) throw std::runtime_error("the prior returned forces of a wrong shape");
    std::copy(f.data(), f.data() + 3 * n, forces);
    return out["energy"].cast<double>();
  } catch (py::error_already_set& e) {
    throw std::runtime_error(std::string("the prior failed: ") + e.what());
  }
}

}  // namespace mlff
