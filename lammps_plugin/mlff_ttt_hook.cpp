#include "mlff_ttt_hook.h"

#include "comm.h"
#include "error.h"

#include "mlff_ttt_options.h"

#include "graph.h"
#include "python_hook.h"

#include <exception>
#include <vector>

using namespace LAMMPS_NS;
using namespace LAMMPS_NS::mlff_ttt;

Hook::Hook(LAMMPS *lmp, const Options &options) : Pointers(lmp), options(options) {}

Hook::~Hook() = default;

void Hook::reset()
{
  hook.reset();
  last_step = -1;
}

void Hook::init()
{
  if (hook || options.hook_target.empty()) return;
  try {
    hook = std::make_unique<mlff::PythonHook>(options.hook_target);
  } catch (std::exception &e) {
    error->all(FLERR, "pair_style mlff_ttt: {}", e.what());
  }
}

bool Hook::due(bigint step) const
{
  return hook && step % options.hook_every == 0 && step != last_step;
}

void Hook::call(const mlff::Graph &graph, const double *atom_positions, bigint step)
{
  last_step = step;
  std::vector<double> positions(3 * graph.n_nodes);
  mlff::gather_from_atoms(graph, atom_positions, 3, positions.data());
  try {
    hook->call(graph, {positions.data(), step, comm->me, comm->nprocs});
  } catch (std::exception &e) {
    error->one(FLERR, "pair_style mlff_ttt: {}", e.what());
  }
}
