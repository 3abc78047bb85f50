#include "python_hook.h"

#include <pybind11/embed.h>
#include <pybind11/numpy.h>

#include "python_entry_points.h"
#include "python_objects.h"

#include <dlfcn.h>

#include <cstdlib>
#include <stdexcept>

namespace py = pybind11;

namespace mlff {

std::string embedded_python_executable() {
  const char* env = std::getenv("MLFF_TTT_PYTHON");
  return (env && *env) ? env : MLFF_TTT_DEFAULT_PYTHON;
}

bool python_is_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

// Starts an interpreter if this process has none. Setting the executable makes Python find
// the virtual environment's pyvenv.cfg and so its site-packages, exactly as if that
// environment's python had been started. The interpreter is never finalized: extension
// modules such as torch do not survive re-initialization.
void ensure_python_interpreter() {
  if (Py_IsInitialized()) return;
  // Extension modules (numpy, torch) expect libpython's symbols in the global scope. When
  // this library was opened with RTLD_LOCAL (the LAMMPS plugin loader does so), promote the
  // already-loaded libpython to global before any extension is imported.
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&Py_IsInitialized), &info) != 0 && info.dli_fname &&
      !dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL))
    throw std::runtime_error(std::string("cannot make ") + info.dli_fname +
                             " globally visible: " + dlerror());
  const std::string python = embedded_python_executable();
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  PyStatus status = PyConfig_SetBytesString(&config, &config.executable, python.c_str());
  if (PyStatus_Exception(status)) {
    PyConfig_Clear(&config);
    throw std::runtime_error("cannot configure embedded Python for '" + python + "'");
  }
  py::initialize_interpreter(&config, 0, nullptr, false);
  // Release the GIL so every later call (from any thread) takes it the same way.
  PyEval_SaveThread();
}

struct PythonHook::State {
  py::object function;
  py::object invoke;
};

PythonHook::PythonHook(const std::string& target) : target_(target) {
  const auto colon = target.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == target.size())
    throw std::runtime_error("hook target '" + target + "' must look like module:function");
  ensure_python_interpreter();
  py::gil_scoped_acquire gil;
  try {
    state_ = std::make_unique<State>();
    state_->invoke = py::module_::import(kPythonEntryModule).attr(kEntryInvokeHook);
    state_->function =
        py::module_::import(target.substr(0, colon).c_str()).attr(target.substr(colon + 1).c_str());
  } catch (py::error_already_set& e) {
    state_.reset();
    throw std::runtime_error("cannot load hook '" + target + "' (Python " +
                             embedded_python_executable() + "): " + e.what());
  }
}

PythonHook::~PythonHook() { release_python_state(state_); }

void PythonHook::call(const Graph& graph, const HookContext& context) {
  py::gil_scoped_acquire gil;
  // The arrays copy their data: the hook may keep them beyond this call.
  py::array_t<double> positions({py::ssize_t(graph.n_nodes), py::ssize_t(3)}, context.positions);
  const GraphArrays arrays = graph_arrays(graph);
  try {
    state_->invoke(state_->function, positions, arrays.species, arrays.edge_index,
                   arrays.edge_vec, graph.n_local, context.step, context.rank, context.size);
  } catch (py::error_already_set& e) {
    throw std::runtime_error("hook '" + target_ + "' failed at step " +
                             std::to_string(context.step) + ": " + e.what());
  }
}

}  // namespace mlff
