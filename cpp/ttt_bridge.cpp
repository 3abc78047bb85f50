#include "ttt_bridge.h"

#include <pybind11/embed.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <stdexcept>

#include "embedded_python.h"
#include "python_entry_points.h"
#include "python_objects.h"

namespace py = pybind11;

namespace mlff {

namespace {

using Array = py::array_t<double, py::array::c_style>;
using CommunicatorMethod = void (Communicator::*)(double*, int);

// A Communicator method as a Python callable: on rows (an (n_nodes, width) array, the width
// passed on), or on flat values (their count passed on).
py::cpp_function on_rows(Communicator& comm, CommunicatorMethod method) {
  return py::cpp_function([&comm, method](Array values) {
    if (values.ndim() != 2) throw std::invalid_argument("expected an (n_nodes, width) array");
    (comm.*method)(values.mutable_data(), static_cast<int>(values.shape(1)));
  });
}

py::cpp_function on_values(Communicator& comm, CommunicatorMethod method) {
  return py::cpp_function([&comm, method](Array values) {
    (comm.*method)(values.mutable_data(), static_cast<int>(values.size()));
  });
}

// The Communicator as the Python object mlff_ttt.plugin.entry_points expects (methods on
// numpy arrays).
py::object python_communicator(Communicator& comm) {
  auto types = py::module_::import("types");
  return types.attr("SimpleNamespace")(
      py::arg("reverse_sum") = on_rows(comm, &Communicator::reverse_sum),
      py::arg("forward") = on_rows(comm, &Communicator::forward),
      py::arg("sum") = on_values(comm, &Communicator::sum),
      py::arg("broadcast") = on_values(comm, &Communicator::broadcast));
}

}  // namespace

struct TTTBridge::State {
  py::object module;   // mlff_ttt.plugin.entry_points
  py::object adapter;
};

TTTBridge::TTTBridge(const std::string& model_path, const TTTOptions& options,
                     const std::string& device) {
  ensure_python_interpreter();
  state_ = call_python("cannot start test-time training: ", [&] {
    auto state = std::make_unique<State>();
    state->module = py::module_::import(kPythonEntryModule);
    py::dict settings;
    if (options.calibrated) {
      settings["calibrated"] = true;
    } else {
      settings["steps"] = options.steps;
      settings["lr"] = options.lr;
    }
    settings["optimizer"] = options.optimizer;
    settings["max_change"] = options.max_change;
    if (options.gate_std >= 0.0) settings["gate_std"] = options.gate_std;
    state->adapter = state->module.attr(kEntryCreate)(model_path, settings, device);
    names_ = state->adapter.attr("names").cast<std::vector<std::string>>();
    off_reason_ = state->adapter.attr("off_reason").cast<std::string>();
    return state;
  });
}

TTTBridge::~TTTBridge() { release_python_state(state_); }

TTTUpdate TTTBridge::update(const Graph& graph, const double* prior_forces, double prior_energy,
                            int64_t n_atoms, double radius, Communicator& comm) {
  return call_python("test-time training failed: ", [&] {
    const GraphArrays arrays = graph_arrays(graph);
    py::array_t<double> forces({py::ssize_t(graph.n_local), py::ssize_t(3)}, prior_forces);
    py::dict record = state_->module.attr(kEntryUpdate)(
        state_->adapter, arrays.species, arrays.edge_index, arrays.edge_vec, graph.n_local,
        forces, prior_energy, n_atoms, radius, python_communicator(comm));
    TTTUpdate out;
    out.loss_before = record["loss_before"].cast<double>();
    out.loss_after = record["loss_after"].cast<double>();
    out.rolled_back = record["rolled_back"].cast<bool>();
    out.skipped = record["skipped"].cast<bool>();
    out.reason = record["reason"].cast<std::string>();
    out.seconds = record["seconds"].cast<double>();
    out.values = record["values"].cast<std::vector<double>>();
    return out;
  });
}

void TTTBridge::save(const std::string& path, int64_t step) {
  call_python("cannot save the adapted model to '" + path + "': ",
              [&] { state_->module.attr(kEntrySave)(state_->adapter, path, step); });
}

void TTTBridge::save_optimizer(const std::string& path) {
  call_python("cannot save the TTT optimizer state to '" + path + "': ",
              [&] { state_->module.attr(kEntrySaveOptimizer)(state_->adapter, path); });
}

void TTTBridge::load_optimizer(const std::string& path) {
  call_python("cannot restore the TTT optimizer state from '" + path + "': ",
              [&] { state_->module.attr(kEntryLoadOptimizer)(state_->adapter, path); });
}

std::string TTTBridge::prior_mismatch(const std::vector<std::string>& prior_line) {
  return call_python("cannot compare the TTT prior with the model's: ", [&] {
    return state_->module.attr(kEntryPriorMismatch)(state_->adapter, prior_line)
        .cast<std::string>();
  });
}

}  // namespace mlff
