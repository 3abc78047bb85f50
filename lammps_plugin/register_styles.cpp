// Registers the styles of libmlff_ttt_lammps.so; called by the plugin loader
// (plugin_loader.cpp) after `plugin load` or auto-loading from LAMMPS_PLUGIN_PATH.
#include "lammpsplugin.h"
#include "pair_mlff_ttt.h"

using namespace LAMMPS_NS;

static Pair *create_pair_mlff_ttt(LAMMPS *lmp) { return new PairMLFFTTT(lmp); }

extern "C" __attribute__((visibility("default"))) void mlff_ttt_register_styles(void *lmp, void *handle, void *regfunc)
{
  auto register_plugin = (lammpsplugin_regfunc) regfunc;
  lammpsplugin_t plugin;
  plugin.version = LAMMPS_VERSION_STRING;
  plugin.style = "pair";
  plugin.name = "mlff_ttt";
  plugin.info = "mlff-ttt machine-learning force field (TorchScript) with test-time refinements";
  plugin.author = "mlff-ttt developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &create_pair_mlff_ttt;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);
}
