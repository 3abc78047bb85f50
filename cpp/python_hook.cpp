#include "python_hook.h"

#include <pybind11/embed.h>
#include <pybind11/numpy.h>

#include "embedded_python.h"
#include "python_entry_points.h"
#include "python_objects.h"

#include <stdexcept>

namespace py = pybind11;

namespace mlff {

void check_hook_target(const std::string& target) {
  const auto colon = target.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == target.size())
    throw std::runtime_error("hook target '" + target + "' must look like module:function");
}

struct PythonHook::State {
  py::object function;
  py::object invoke;
};

PythonHook::PythonHook(const std::string& target) : target_(target) {
  check_hook_target(target);
  ensure_python_interpreter();
  const auto colon = target.find(':');
  state_ = call_python("cannot load hook '" + target + "' (Python " +
                           embedded_python_executable() + "): ",
                       [&] {
                         auto state = std::make_unique<State>();
                         state->invoke =
                             py::module_::import(kPythonEntryModule).attr(kEntryInvokeHook);
                         state->function = py::module_::import(target.substr(0, colon).c_str())
                                               .attr(target.substr(colon + 1).c_str());
                         return state;
                       });
}

PythonHook::~PythonHook() { release_python_state(state_); }

void PythonHook::call(const Graph& graph, const HookContext& context) {
  call_python("hook '" + target_ + "' failed at step " + std::to_string(context.step) + ": ", [&] {
    // The arrays copy their data: the hook may keep them beyond this call.
    py::array_t<double> positions({py::ssize_t(graph.n_nodes), py::ssize_t(3)},
                                  context.positions);
    const GraphArrays arrays = graph_arrays(graph);
    state_->invoke(state_->function, positions, arrays.species, arrays.edge_index,
                   arrays.edge_vec, graph.n_local, context.step, context.rank, context.size);
  });
}

}  // namespace mlff
