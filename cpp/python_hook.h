// Calls a user's Python function ("module:function") with the current graph. Works both
// inside a process that already runs Python (LAMMPS driven from Python) and inside `lmp`,
// where it starts an embedded interpreter bound to the project's virtual environment.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "graph.h"

namespace mlff {

struct HookContext {
  const double* positions = nullptr;  // (n_nodes, 3), owned atoms then ghosts
  int64_t step = 0;
  int rank = 0;
  int size = 1;
};

class PythonHook {
 public:
  // Imports the module and looks the function up now, so a wrong target fails early.
  // Throws std::runtime_error with the Python error text.
  explicit PythonHook(const std::string& target);
  ~PythonHook();
  PythonHook(const PythonHook&) = delete;
  PythonHook& operator=(const PythonHook&) = delete;

  const std::string& target() const { return target_; }
  void call(const Graph& graph, const HookContext& context);

 private:
  struct State;  // Python objects, only touched with the GIL held
  std::string target_;
  std::unique_ptr<State> state_;
};

// Starts an embedded interpreter bound to embedded_python_executable() unless this process
// already runs Python; it is never finalized. Throws std::runtime_error.
void ensure_python_interpreter();

// True while the interpreter shuts down (objects must not be touched then).
bool python_is_finalizing();

// The Python executable whose environment an embedded interpreter uses:
// $MLFF_TTT_PYTHON if set, else the one the project was built with.
std::string embedded_python_executable();

}  // namespace mlff
