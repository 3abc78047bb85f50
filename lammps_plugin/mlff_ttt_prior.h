/* The prior of test-time training: what the model adapts towards, on the structure of the step.
   Either a LAMMPS pair style, created and evaluated inside pair_style mlff_ttt as pair hybrid
   does with its styles, or a prior of the Python registry (mlff_ttt.priors), evaluated on
   rank 0 (mlff::RegistryPrior) on the structure gathered there in atom-ID order:

   pair_coeff * * prior STYLE args... El1 ... ElN    (the style's own arguments after "* *")
   pair_coeff * * prior python NAME [key=value ...]  (the model line's elements)

   or, as pair hybrid forwards lines to its sub-styles, a style with its own pair_style
   arguments and coeff lines (any type pairs, any number of lines):

   pair_coeff * * prior_style STYLE [pair_style args ...]
   pair_coeff I J prior [the style's coeff args ...]

   A delta-learned model (mlff::ModelInfo::is_delta) predicts the reference minus this prior:
   then the prior is also added to the step's forces, energy and virial (add_to, in
   mlff_ttt_prior_delta.cpp), with or without TTT. A registry prior is added so only in
   non-periodic boxes: it gives forces, and the virial of a periodic cell needs more.

   hybrid/overlay is summed here over its sub-styles (pair_coeff I J prior SUBSTYLE args ...):
   pair hybrid itself cannot be the prior, as its set-up makes every other pair style's
   neighbor list, the model's included, a list that skips every pair. */
#pragma once

#include "pointers.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mlff {
class RegistryPrior;
struct ModelInfo;
}

namespace LAMMPS_NS {
class NeighList;
class Pair;

namespace mlff_ttt {
class GhostComm;
struct TypeMap;

class Prior : protected Pointers {
 public:
  Prior(LAMMPS *lmp, GhostComm &ghost_comm);
  ~Prior() override;

  // The prior's pair_coeff line, arg[3] being its style. `types` is the model line's mapping,
  // nullptr while that line has not come (its elements are checked against it then).
  void coeff(int narg, char **arg, const TypeMap *types);
  // pair_coeff * * prior_style STYLE args...: arg[0] is STYLE
  void style(int narg, char **arg);
  bool given() const { return !pairs.empty() || !registry.empty(); }
  // after "* *" (the old syntax); with prior_style, "prior_style" STYLE args, then for each
  // coeff line ";" I J args (restart files replay them with restore)
  const std::vector<std::string> &line() const { return args; }
  void restore(const std::vector<std::string> &line);
  const std::string &registry_name() const { return registry; }    // empty: a pair style
  const std::vector<std::pair<std::string, std::string>> &registry_params() const
  {
    return params;
  }

  // At a run's set-up without TTT: a warning, once per prior line, that it is not used.
  void warn_unused();
  // At a run's set-up with TTT or a delta model: that there is a prior, and that it can be
  // used (a registry prior is created here, once per deck line; `timeout`: the seconds one
  // evaluation of it may take).
  void init(const TypeMap &types, double timeout);
  // The prior pair style's own set-up, from the pair style's init_one (see the .cpp).
  void init_pending(const TypeMap &types, double model_cutoff);

  // The prior's energy (all ranks, LAMMPS units) and its forces on owned atoms (rows of
  // `forces`, n_local + n_ghost x 3, LAMMPS units; ghost rows are not used afterwards), on
  // the atoms of `list` (the pair style's). A registry prior that fails is a warning and NaN:
  // the update is skipped.
  double evaluate(std::vector<double> &forces, NeighList *list, const TypeMap &types,
                  double to_lammps);

  // Delta learning (mlff_ttt_prior_delta.cpp). At a run's set-up with a delta model: an
  // ERROR unless the deck's prior is the model's (a LAMMPS pair style with the model's
  // pair_style words, or for a prior LAMMPS has no style for, the same registry prior spec).
  // Every step: the prior's forces added to atom->f, its energy, virial and per-atom energies
  // and virials to `host`'s (the pair style's ev_init done), as pair hybrid/overlay sums a
  // sub-style's (a registry prior: forces, energy and the virial r x F only).
  void check_delta(const mlff::ModelInfo &info, const std::string &model_path);
  void add_to(Pair &host, int eflag, int vflag, NeighList *list, const TypeMap &types);

 private:
  // the pair_style words of the deck's prior (its style and, with prior_style, its args)
  std::vector<std::string> style_words() const;
  // With NULL types, each prior pair style is given the pair style's (skip) list, once per
  // run set-up (see evaluate).
  void use_model_list(NeighList *list, const TypeMap &types);
  void check_elements(const TypeMap &types);
  // `failure` is set (and NaN returned) when the prior raised
  double evaluate_registry(std::vector<double> &forces, const TypeMap &types, double to_lammps,
                           std::string &failure);
  void add_registry_to(Pair &host, const TypeMap &types);
  void check_delta_registry(const mlff::ModelInfo &info, const std::string &model_path);

  GhostComm &ghost_comm;
  // a LAMMPS pair style as the prior (several: the sub-styles of a hybrid/overlay prior,
  // evaluated one after the other and summed, as pair hybrid/overlay sums them), or
  std::vector<std::unique_ptr<Pair>> pairs;
  std::vector<std::string> pair_names;
  std::string registry;                   // the name of a registry prior
  std::vector<std::pair<std::string, std::string>> params;    // the registry prior's
  std::unique_ptr<mlff::RegistryPrior> python_prior;          // created by init
  std::vector<std::string> elements;      // per type: the pair style's element symbols
  std::vector<std::string> args;          // see line(), for restart files
  std::string style_name;                 // the prior's pair style
  bool forwarded = false;                 // prior_style given: coeff lines are forwarded
  bool pending = false;                   // init_pending sets the pair style up
  bool warned_unused = false;
};

}    // namespace mlff_ttt
}    // namespace LAMMPS_NS
