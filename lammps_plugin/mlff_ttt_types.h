/* Which LAMMPS atom types the model sees, as the model's pair_coeff line maps them: each type
   to one of the model's elements, or to NULL (a type another style of pair_style hybrid
   handles, whose atoms are in no graph). The pair style's graphs and the TTT prior follow it. */
#pragma once

#include "lmptype.h"

#include <string>
#include <vector>

namespace mlff {
class ModelRunner;
}

namespace LAMMPS_NS {
class LAMMPS;

namespace mlff_ttt {

struct TypeMap {
  std::vector<std::string> elements;    // per type from type 1, as given ("NULL" included)
  std::vector<int> species;             // per type (1-based): model element index, -1: NULL
  bool has_null = false;                // some type is NULL

  bool sees(int type) const { return species[type] >= 0; }

  // From the model line's symbols, one per atom type (`model_name` as the line gives it). A
  // symbol the model does not know, or NULL for every type, is a LAMMPS error.
  void assign(LAMMPS *lmp, const mlff::ModelRunner &model, const char *model_name, int ntypes,
              char **symbols);
  // The atoms the model sees, over all ranks.
  bigint count_atoms(LAMMPS *lmp) const;
};

}    // namespace mlff_ttt
}    // namespace LAMMPS_NS
