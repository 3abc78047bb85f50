/* The prior of a delta-learned model (docs/delta.md): the model predicts the reference minus
   its prior, so pair_style mlff_ttt adds the prior pair style's forces, energy and virial at
   every step. The deck gives the prior as for TTT; the model file names it, and a deck whose
   prior is another one is an error: the sum would be another potential without a word. A
   prior LAMMPS has no pair style for (GFN-FF) is a Python registry prior, evaluated on the
   structure gathered to rank 0 at every step; it gives energy and forces only, so such a
   model runs in non-periodic boxes (where the virial is the sum of r x F) and without
   per-atom energies. */

#include "mlff_ttt_prior.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "pair.h"
#include "update.h"

#include "model_file.h"
#include "registry_prior.h"
#include "units.h"

#include <algorithm>
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
  if (info.delta_prior_style.empty()) {
    check_delta_registry(info, model_path);
    return;
  }
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

// A prior LAMMPS has no pair style for: the deck names it as a registry prior, the same spec.
void Prior::check_delta_registry(const mlff::ModelInfo &info, const std::string &model_path)
{
  if (registry.empty()) {
    std::string words = info.delta_prior;    // the spec NAME:k=v,k=v as deck words
    std::replace(words.begin(), words.end(), ':', ' ');
    std::replace(words.begin(), words.end(), ',', ' ');
    error->all(FLERR, "Model {} is delta-learned on the prior {}, which LAMMPS has no pair "
               "style for: the deck gives it as pair_coeff * * prior python {} (docs/delta.md)",
               model_path, info.delta_prior, words);
  }
  bool same = false;
  try {
    same = mlff::is_prior_spec(info.delta_prior, registry, params);
  } catch (std::exception &e) {
    error->all(FLERR, "pair_coeff * * prior python {}: {}", registry, e.what());
  }
  if (!same) {
    std::string deck;    // the deck's words after "prior python"
    for (size_t k = 2; k < args.size(); k++) deck += (k > 2 ? " " : "") + args[k];
    error->all(FLERR, "Model {} is delta-learned on the prior {}, but this deck's prior is "
               "prior python {}: the sum would be another potential", model_path,
               info.delta_prior, deck);
  }
  if (domain->xperiodic || domain->yperiodic || domain->zperiodic)
    error->all(FLERR, "Model {} is delta-learned on the Python prior {}, which gives energy "
               "and forces only: it runs in non-periodic boxes (boundary f or s), where the "
               "virial is the sum of r x F; a periodic cell's virial needs the prior's own",
               model_path, info.delta_prior);
}

// The registry prior's forces on the owned atoms, its energy (rank 0's share: LAMMPS sums the
// ranks') and the virial of an isolated system, each rank its own atoms' r x F.
void Prior::add_registry_to(Pair &host, const TypeMap &types)
{
  if (host.eflag_atom || host.vflag_atom)
    error->all(FLERR, "pair_style mlff_ttt: per-atom energies and virials of a model "
               "delta-learned on the Python prior {} are not available (the prior gives no "
               "per-atom split); compute the totals instead", registry);
  const int ntotal = atom->nlocal + atom->nghost;
  std::vector<double> forces(3 * ntotal, 0.0);
  std::string failure;
  // registry priors are in eV and A (mlff_ttt.priors)
  const double to_lammps = mlff::energy_conversion("metal", update->unit_style);
  const double energy = evaluate_registry(forces, types, to_lammps, failure);
  if (!failure.empty())
    error->all(FLERR, "pair_style mlff_ttt at step {}: the delta model's prior {} failed: {}",
               update->ntimestep, registry, failure);
  double **f = atom->f, **x = atom->x;
  for (int i = 0; i < atom->nlocal; i++)
    for (int d = 0; d < 3; d++) f[i][d] += forces[3 * i + d];
  if (host.eflag_global && comm->me == 0) host.eng_vdwl += energy;
  if (host.vflag_global)
    for (int i = 0; i < atom->nlocal; i++) {
      const double *r = x[i], *g = &forces[3 * i];
      host.virial[0] += r[0] * g[0];
      host.virial[1] += r[1] * g[1];
      host.virial[2] += r[2] * g[2];
      host.virial[3] += r[0] * g[1];
      host.virial[4] += r[0] * g[2];
      host.virial[5] += r[1] * g[2];
    }
}

void Prior::add_to(Pair &host, int eflag, int vflag, NeighList *list, const TypeMap &types)
{
  if (!registry.empty()) {
    add_registry_to(host, types);
    return;
  }
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
