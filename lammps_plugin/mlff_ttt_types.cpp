#include "mlff_ttt_types.h"

#include "atom.h"
#include "error.h"
#include "lammps.h"

#include "model_runner.h"

#include <algorithm>

using namespace LAMMPS_NS;

void mlff_ttt::TypeMap::assign(LAMMPS *lmp, const mlff::ModelRunner &model,
                               const char *model_name, int ntypes, char **symbols)
{
  elements.assign(symbols, symbols + ntypes);
  species.assign(ntypes + 1, -1);
  has_null = false;
  for (int t = 1; t <= ntypes; t++) {
    const std::string symbol = symbols[t - 1];
    if (symbol == "NULL") {
      has_null = true;
      continue;
    }
    const int index = model.element_index(symbol);
    if (index < 0) {
      std::string known;
      for (const auto &e : model.info().elements) known += " " + e;
      lmp->error->all(FLERR, "Element {} (atom type {}) is not in model {}; the model knows:{}",
                      symbol, t, model_name, known);
    }
    species[t] = index;
  }
  if (std::count(species.begin(), species.end(), -1) == ntypes + 1)
    lmp->error->all(FLERR, "pair_coeff * * {}: every atom type is NULL, the model would see no "
                    "atom", model_name);
}

bigint mlff_ttt::TypeMap::count_atoms(LAMMPS *lmp) const
{
  const Atom *atom = lmp->atom;
  if (!has_null) return atom->natoms;
  bigint local = 0;
  for (int i = 0; i < atom->nlocal; i++) local += sees(atom->type[i]) ? 1 : 0;
  bigint total = 0;
  MPI_Allreduce(&local, &total, 1, MPI_LMP_BIGINT, MPI_SUM, lmp->world);
  return total;
}
