#include "embedded_python.h"

#include <pybind11/embed.h>

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

}  // namespace mlff
