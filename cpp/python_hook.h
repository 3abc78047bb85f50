// Calls a user's Python function ("module:function") with the current graph. Works both
// inside a process that already runs Python (LAMMPS driven from Python) and inside `lmp`,
// where creating the first hook starts the embedded interpreter (embedded_python.h).
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

// Throws std::runtime_error unless `target` looks like module:function. Needs no Python, so
// a caller can check a target when it is given and create the hook later.
void check_hook_target(const std::string& target);

class PythonHook {
 public:
  // Starts the interpreter if needed, imports the module and looks the function up now, so a
  // wrong target fails before the first call. Throws std::runtime_error with the Python error
  // text.
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

}  // namespace mlff
