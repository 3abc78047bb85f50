/* The prior of a delta-learned model (docs/delta.md): the model predicts the reference minus
   its prior, so pair_style mlff_ttt adds the prior pair style's forces, energy and virial at
   every step. The deck gives the prior as for TTT; the model file names it, and a deck whose
   prior is another pair style, or a Python prior, is an error: the sum would be another
   potential without a word. */

#include "mlff_ttt_prior.h"

#include "atom.h"
#include "error.h"
#include "force.h"
#include "pair.h"

#include "model_file.h"

#include <cstring>

using namespace LAMMPS_NS;
using namespace LAMMPS_NS::mlff_ttt;

std::vector<std::string> Prior::style_words() const
{
  if (args.empty()) return {};
  if (args[0] != "prior_style") return {args[1]};    // prior STYLE file El...: no style args
  std::vector<std::string> words;
  for (size_t k = 1; k < args.size() && args[k] != ";"; k++) words.push_back(args[k]);
  return words;
}

void Prior::check_delta(const mlff::ModelInfo &info, const std::string &model_path)
{
  if (info.delta_prior_style.empty())
    error->all(FLERR, "Model {} is delta-learned on the prior {}, which is not a LAMMPS pair "
               "style: pair_style mlff_ttt cannot add it (use it through the ASE calculator, "
               "or train on a prior LAMMPS evaluates: tersoff, stillinger_weber, lammps:...)",
               model_path, info.delta_prior);
  if (!given())
    error->all(FLERR, "Model {} is delta-learned: its energies are relative to the prior {}, "
               "which the deck must give: pair_coeff * * prior_style {} and its pair_coeff I J "
               "prior ... lines (docs/delta.md)", model_path, info.delta_prior,
               info.delta_prior_style);
  if (!registry.empty())
    error->all(FLERR, "Model {} is delta-learned: its prior is added at every step, by a "
               "LAMMPS pair style (pair_coeff * * prior_style {} ...), not by pair_coeff * * "
               "prior python {}", model_path, info.delta_prior_style, registry);
  std::string deck;
  for (const auto &word : style_words()) deck += (deck.empty() ? "" : " ") + word;
  if (deck != info.delta_prior_style)
    error->all(FLERR, "Model {} is delta-learned on the prior {} (pair_style {}), but this "
               "deck's prior is pair_style {}: the sum would be another potential",
               model_path, info.delta_prior, info.delta_prior_style, deck);
}

void Prior::add_to(Pair &host, int eflag, int vflag, NeighList *list, const TypeMap &types)
{
  use_model_list(list, types);
  // The global virial pairwise (VIRIAL_PAIR), as pair hybrid asks its sub-styles for it: F dot
  // r over atom->f would count the forces of every style summed there before this one.
  if (vflag & VIRIAL_FDOTR) vflag = (vflag & ~VIRIAL_FDOTR) | VIRIAL_PAIR;
  const int n = atom->nlocal + atom->nghost;    // newton pair on: ghosts' entries too
  for (auto &owned : pairs) {
    Pair *pair = owned.get();
    pair->compute(eflag, vflag);    // adds its forces to atom->f
    if (host.eflag_global) {
      host.eng_vdwl += pair->eng_vdwl;
      host.eng_coul += pair->eng_coul;
    }
    if (host.vflag_global)
      for (int k = 0; k < 6; k++) host.virial[k] += pair->virial[k];
    if (host.eflag_atom)
      for (int i = 0; i < n; i++) host.eatom[i] += pair->eatom[i];
    if (host.vflag_atom)
      for (int i = 0; i < n; i++)
        for (int k = 0; k < 6; k++) host.vatom[i][k] += pair->vatom[i][k];
  }
}
