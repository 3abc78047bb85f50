// The Python interpreter the core's two bridges (python_hook, ttt_bridge) call into: the one
// of the process when LAMMPS is driven from Python, else an embedded one, started on first
// use and bound to the project's virtual environment. Its life cycle lives here only.
#pragma once

#include <string>

namespace mlff {

// Starts an embedded interpreter bound to embedded_python_executable() unless this process
// already runs Python; it is never finalized. Throws std::runtime_error.
void ensure_python_interpreter();

// True while the interpreter shuts down (objects must not be touched then).
bool python_is_finalizing();

// The Python executable whose environment an embedded interpreter uses:
// $MLFF_TTT_PYTHON if set, else the one the project was built with.
std::string embedded_python_executable();

}  // namespace mlff
