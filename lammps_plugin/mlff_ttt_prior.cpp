#include "mlff_ttt_prior.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "pair.h"
#include "update.h"
#include "utils.h"

#include "mlff_ttt_comm.h"
#include "mlff_ttt_types.h"
#include "registry_prior.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>

/* The wheel ships no neigh_request.h: the one member of NeighRequest used here (giving the
   prior's own neighbor lists their own cutoff), declared as LAMMPS defines it. */
namespace LAMMPS_NS {
class NeighRequest {
 public:
  void set_cutoff(double);
};
}    // namespace LAMMPS_NS

using namespace LAMMPS_NS;
using namespace LAMMPS_NS::mlff_ttt;

static bool unusable_style(const std::string &style)
{
  // pair hybrid's init_style turns every pair neighbor request that is not one of its
  // sub-styles' into a skip list that skips every pair, the model's included
  return style == "mlff_ttt" || style == "hybrid" || style == "hybrid/overlay" ||
      style == "hybrid/scaled";
}

/* pair_coeff * * prior_style STYLE [args...]: the prior pair style, created and given its
   pair_style arguments now; its coeff lines (pair_coeff I J prior ...) follow. */

void Prior::style(int narg, char **arg)
{
  const std::string name = arg[0];
  pairs.clear();
  pair_names.clear();
  registry.clear();
  python_prior.reset();
  params.clear();
  elements.clear();
  warned_unused = false;
  forwarded = false;
  if (name == "python")
    error->all(FLERR, "pair_coeff * * prior_style python: a registry prior is given by "
               "pair_coeff * * prior python NAME [key=value ...]");
  // hybrid/overlay S1 args1 S2 args2 ...: a sub-style starts at each known style name, as
  // pair hybrid splits its arguments
  std::vector<std::pair<int, int>> spans;    // [first, end) of each style's name and args
  if (name == "hybrid/overlay") {
    for (int k = 1; k < narg; k++) {
      if (force->pair_map->count(arg[k])) spans.emplace_back(k, k + 1);
      else if (spans.empty())
        error->all(FLERR, "pair_coeff * * prior_style hybrid/overlay: {} is not a pair style",
                   arg[k]);
      else spans.back().second = k + 1;
    }
    if (spans.empty())
      error->all(FLERR, "pair_coeff * * prior_style hybrid/overlay STYLE1 args STYLE2 args ... "
                 "expected");
  } else {
    spans.emplace_back(0, narg);
  }
  for (const auto &span : spans) {
    const std::string sub = arg[span.first];
    if (unusable_style(sub))
      error->all(FLERR, "pair_coeff * * prior_style {}: {} is not a usable prior pair style{}",
                 name, sub, sub == "hybrid" || sub == "hybrid/scaled" ?
                 " (hybrid/overlay of the styles is)" : "");
    int sflag = 0;
    pairs.emplace_back(force->new_pair(sub, 1, sflag));
    if (!pairs.back())
      error->all(FLERR, "pair_coeff * * prior_style {}: unknown pair style {} (not in this "
                 "LAMMPS build)", name, sub);
    pairs.back()->settings(span.second - span.first - 1, arg + span.first + 1);
    pair_names.push_back(sub);
  }
  style_name = name;
  forwarded = true;
  args.assign({"prior_style"});
  args.insert(args.end(), arg, arg + narg);
  if (comm->me == 0)
    utils::logmesg(lmp, "mlff_ttt: TTT prior pair style {} (its coeff lines: pair_coeff I J "
                   "prior ...)\n", name);
}

void Prior::restore(const std::vector<std::string> &line)
{
  // "prior_style" STYLE args [; I J args]...
  std::vector<std::vector<std::string>> lines(1);
  for (size_t k = 1; k < line.size(); k++) {
    if (line[k] == ";") lines.emplace_back();
    else lines.back().push_back(line[k]);
  }
  std::vector<char *> argv;
  for (auto &s : lines[0]) argv.push_back(const_cast<char *>(s.c_str()));
  style(static_cast<int>(argv.size()), argv.data());
  for (size_t l = 1; l < lines.size(); l++) {
    auto &c = lines[l];
    c.insert(c.begin() + 2, "prior");
    argv.clear();
    for (auto &s : c) argv.push_back(const_cast<char *>(s.c_str()));
    coeff(static_cast<int>(argv.size()), argv.data(), nullptr);
  }
}

Prior::Prior(LAMMPS *lmp, GhostComm &ghost_comm) : Pointers(lmp), ghost_comm(ghost_comm) {}

Prior::~Prior() = default;

void Prior::coeff(int narg, char **arg, const TypeMap *types)
{
  if (forwarded) {
    // pair_coeff I J prior args...: to the prior style's coeff as "I J args..."; with
    // hybrid/overlay, pair_coeff I J prior SUBSTYLE [N] args... to that sub-style
    size_t which = 0;
    int first = 3;
    if (style_name == "hybrid/overlay") {
      if (narg < 4)
        error->all(FLERR, "pair_coeff {} {} prior SUBSTYLE args...: hybrid/overlay prior lines "
                   "name a sub-style", arg[0], arg[1]);
      const std::string sub = arg[3];
      std::vector<size_t> same;
      for (size_t m = 0; m < pair_names.size(); m++)
        if (pair_names[m] == sub) same.push_back(m);
      if (same.empty())
        error->all(FLERR, "pair_coeff {} {} prior {}: not a sub-style of the hybrid/overlay "
                   "prior", arg[0], arg[1], sub);
      first = 4;
      if (same.size() > 1) {
        const int n = narg > 4 ? utils::inumeric(FLERR, arg[4], false, lmp) : 0;
        if (n < 1 || n > static_cast<int>(same.size()))
          error->all(FLERR, "pair_coeff {} {} prior {} N: the prior uses {} {} times; N is "
                     "1 to {}", arg[0], arg[1], sub, sub, same.size(), same.size());
        first = 5;
        which = same[n - 1];
      } else {
        which = same[0];
      }
    }
    std::vector<char *> style_args{arg[0], arg[1]};
    for (int k = first; k < narg; k++) style_args.push_back(arg[k]);
    pairs[which]->coeff(static_cast<int>(style_args.size()), style_args.data());
    args.push_back(";");
    args.insert(args.end(), {arg[0], arg[1]});
    args.insert(args.end(), arg + 3, arg + narg);
    return;
  }
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff {} {} prior ...: per-pair prior lines need a pair_coeff * * "
               "prior_style STYLE [args...] line first", arg[0], arg[1]);
  if (narg < 4) error->all(FLERR, "pair_coeff * * prior STYLE ... expected");
  const std::string style = arg[3];
  pairs.clear();
  pair_names.clear();
  registry.clear();
  python_prior.reset();
  params.clear();
  warned_unused = false;
  if (style == "python") {
    // pair_coeff * * prior python NAME [key=value ...]: the elements are the model line's
    if (narg < 5) error->all(FLERR, "pair_coeff * * prior python NAME [key=value ...] expected");
    registry = arg[4];
    for (int k = 5; k < narg; k++) {
      const std::string item = arg[k];
      const auto equal = item.find('=');
      if (equal == std::string::npos || equal == 0)
        error->all(FLERR, "pair_coeff * * prior python: expected key=value, got {}", item);
      params.emplace_back(item.substr(0, equal), item.substr(equal + 1));
    }
    elements.clear();
    if (comm->me == 0) utils::logmesg(lmp, "mlff_ttt: TTT prior {} (Python registry)\n", registry);
    args.assign(arg + 2, arg + narg);
    return;
  }
  if (unusable_style(style))
    error->all(FLERR, "pair_coeff * * prior {}: not a usable prior pair style", style);
  const int ntypes = atom->ntypes;
  if (narg - 4 < ntypes)
    error->all(FLERR, "pair_coeff * * prior {} needs the style's arguments ending in one element "
               "symbol per atom type ({} types)", style, ntypes);
  elements.assign(arg + narg - ntypes, arg + narg);
  if (types) check_elements(*types);    // else when the model's line has come
  int sflag = 0;
  pairs.emplace_back(force->new_pair(style, 1, sflag));
  pair_names.push_back(style);
  Pair *pair = pairs.back().get();
  if (!pair) error->all(FLERR, "pair_coeff * * prior: unknown pair style {}", style);
  pair->settings(0, nullptr);
  style_name = style;
  std::vector<char *> style_args{arg[0], arg[1]};
  for (int k = 4; k < narg; k++) style_args.push_back(arg[k]);
  pair->coeff(static_cast<int>(style_args.size()), style_args.data());
  if (comm->me == 0) utils::logmesg(lmp, "mlff_ttt: TTT prior pair style {}\n", style);
  args.assign(arg + 2, arg + narg);
}

void Prior::check_elements(const TypeMap &types)
{
  if (elements == types.elements) return;
  std::string model_list, prior_list;
  for (const auto &e : types.elements) model_list += " " + e;
  for (const auto &e : elements) prior_list += " " + e;
  error->all(FLERR, "The TTT prior's elements ({} ) do not match the model's pair_coeff "
             "elements ({} )", prior_list, model_list);
}

void Prior::warn_unused()
{
  if (!given() || warned_unused) return;
  warned_unused = true;
  if (comm->me == 0)
    error->warning(FLERR, "pair_coeff * * prior {}: pair_style mlff_ttt has no ttt keyword, "
                   "so the prior is not used", args.size() > 1 ? args[1] : "");
}

void Prior::init(const TypeMap &types, double timeout)
{
  if (!given())
    error->all(FLERR, "pair_style mlff_ttt ttt needs a prior: pair_coeff * * prior STYLE ... "
               "or pair_coeff * * prior python NAME");
  if (!registry.empty() && (!python_prior || python_prior->timeout() != timeout)) {
    std::vector<std::string> seen;    // the types' elements, NULL types left out
    for (const auto &element : types.elements)
      if (element != "NULL") seen.push_back(element);
    try {
      python_prior = std::make_unique<mlff::RegistryPrior>(registry, params, seen, timeout);
    } catch (std::exception &e) {
      error->all(FLERR, "pair_coeff * * prior python {}: {}", registry, e.what());
    }
  }
  if (!pairs.empty()) {
    if (!forwarded) check_elements(types);
    // every type the model sees needs the prior's coefficients (pairs of two types: the
    // style's own mixing, or its own error); each sub-style of an overlay covers them all
    for (size_t m = 0; m < pairs.size(); m++)
      for (int i = 1; i <= atom->ntypes; i++) {
        if (!types.sees(i)) continue;
        const Pair *pair = pairs[m].get();
        if (!pair->allocated || !pair->setflag || !pair->setflag[i][i])
          error->all(FLERR, "The TTT prior pair style {} has no coefficients for atom type {}: "
                     "its pair_coeff ... prior lines must cover every atom type the model "
                     "sees", pair_names[m], i);
      }
    pending = true;    // in init_one: see init_pending
  }
}

/* The prior pair style's set-up. It runs from init_one, after init_style: inside pair hybrid,
   hybrid's init_style turns every neighbor request made during it into a skip list for the
   sub-style that made it, and a request of the prior (no sub-style of hybrid's) would skip
   every atom. With NULL types, Pair::init's steps are taken for the pairs of the model's types
   only, as pair hybrid sets up its styles (Pair::init requires every type's pairs set). */

void Prior::init_pending(const TypeMap &types, double model_cutoff)
{
  if (!pending) return;
  pending = false;
  double reach = 0.0;
  for (auto &owned : pairs) {
    Pair *pair = owned.get();
    const size_t first = neighbor->get_pair_requests().size();    // this style's come next
    if (!types.has_null) {
      pair->init();
    } else {
      pair->init_style();
      pair->cutforce = 0.0;
      for (int i = 1; i <= atom->ntypes; i++)
        for (int j = i; j <= atom->ntypes; j++) {
          if (!types.sees(i) || !types.sees(j)) continue;
          const double cut = pair->init_one(i, j);
          pair->cutsq[i][j] = pair->cutsq[j][i] = cut * cut;
          pair->cutforce = std::max(pair->cutforce, cut);
        }
    }
    // A prior reaching beyond the model: its own lists get its cutoff (the model's list, its
    // graph and the neighbor bins stay as they are), and the ghost shell its reach.
    if (pair->cutforce > model_cutoff + 1e-12) {
      const auto requests = neighbor->get_pair_requests();
      for (size_t k = first; k < requests.size(); k++) requests[k]->set_cutoff(pair->cutforce);
    }
    reach = std::max(reach, pair->cutforce);
  }
  if (reach > model_cutoff + 1e-12) {
    const double ghost_cut = reach + neighbor->skin;
    if (comm->cutghostuser < ghost_cut) {
      comm->cutghostuser = ghost_cut;
      if (comm->me == 0)
        utils::logmesg(lmp, "mlff_ttt: ghost cutoff set to {} A (the TTT prior's cutoff {} A "
                       "+ skin)\n", ghost_cut, reach);
    }
  }
}

// Whether a neighbor list is a full one (each pair of owned atoms listed from both sides) or a
// half one: probed on its first pair of owned atoms (true when it has none).
static bool is_full_list(const NeighList *list, int nlocal)
{
  for (int ii = 0; ii < list->inum; ii++) {
    const int i = list->ilist[ii];
    for (int k = 0; k < list->numneigh[i]; k++) {
      const int j = list->firstneigh[i][k] & NEIGHMASK;
      if (j >= nlocal || j == i) continue;
      for (int m = 0; m < list->numneigh[j]; m++)
        if ((list->firstneigh[j][m] & NEIGHMASK) == i) return true;
      return false;
    }
  }
  return true;
}

// With NULL types the prior sees the model's atoms only, as a sub-style of pair hybrid would:
// through the pair style's (skip) list; its own list holds every atom (see init_pending), and
// manybody styles rely on skip lists to never meet a NULL type.
void Prior::use_model_list(NeighList *list, const TypeMap &types)
{
  if (!types.has_null) return;
  for (auto &owned : pairs) {
    Pair *pair = owned.get();
    if (pair->list == list) continue;    // once per run set-up
    int full = pair->list && is_full_list(pair->list, atom->nlocal) ? 1 : 0;
    MPI_Allreduce(MPI_IN_PLACE, &full, 1, MPI_INT, MPI_MIN, world);    // one verdict
    if (!full)
      error->all(FLERR, "pair_coeff * * prior {}: with NULL atom types the prior must be a "
                 "style with one full neighbor list (tersoff, sw, ...)", args[1]);
    pair->list = list;
  }
}

double Prior::evaluate(std::vector<double> &forces, NeighList *list, const TypeMap &types,
                       double to_lammps)
{
  if (pairs.empty()) {
    std::string failure;
    const double energy = evaluate_registry(forces, types, to_lammps, failure);
    // a failed prior skips the update (nothing to roll back yet); the run goes on
    if (!failure.empty() && comm->me == 0)
      error->warning(FLERR, "mlff_ttt: TTT update at step {} skipped: {}", update->ntimestep,
                     failure);
    return energy;
  }
  const int ntotal = atom->nlocal + atom->nghost;
  // into separate storage: atom->f is saved and restored around the prior's compute
  double **f = atom->f;
  std::vector<double> saved(f[0], f[0] + 3 * ntotal);
  std::fill(f[0], f[0] + 3 * ntotal, 0.0);
  use_model_list(list, types);
  double energy = 0.0;
  for (auto &owned : pairs) {
    Pair *pair = owned.get();
    pair->compute(1, 0);    // adds its forces to those of the styles before it
    energy += pair->eng_vdwl + pair->eng_coul;
  }
  std::copy(f[0], f[0] + 3 * ntotal, forces.begin());
  std::copy(saved.begin(), saved.end(), f[0]);
  ghost_comm.reverse_sum(forces.data(), 3);
  ghost_comm.sum(&energy, 1);
  return energy;
}

/* A registry prior sees the whole structure, in eV and A, in the order of the atom IDs on any
   number of ranks: methods such as GFN-FF differ at 1e-8 with the atom order, and LAMMPS
   reorders its atoms in memory (atoms of NULL types are not part of it). The owned atoms of
   every rank are gathered to rank 0, which evaluates the prior; the forces go back to their
   owners and the energy to every rank. */

double Prior::evaluate_registry(std::vector<double> &forces, const TypeMap &types,
                                double to_lammps, std::string &failure)
{
  const int me = comm->me, nprocs = comm->nprocs;
  std::vector<int> mine;    // owned atoms of the model's types, in memory order
  for (int i = 0; i < atom->nlocal; i++)
    if (types.sees(atom->type[i])) mine.push_back(i);
  const int n_mine = static_cast<int>(mine.size());
  std::vector<tagint> tags(n_mine);
  std::vector<int> type_of(n_mine);
  std::vector<double> xyz(3 * n_mine);
  for (int k = 0; k < n_mine; k++) {
    tags[k] = atom->tag[mine[k]];
    type_of[k] = atom->type[mine[k]];
    for (int d = 0; d < 3; d++) xyz[3 * k + d] = atom->x[mine[k]][d];
  }
  std::vector<int> counts(nprocs), displs(nprocs), counts3(nprocs), displs3(nprocs);
  MPI_Gather(&n_mine, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, world);
  int n = 0;
  for (int r = 0; r < nprocs; r++) {
    displs[r] = n;
    n += counts[r];
    counts3[r] = 3 * counts[r];
    displs3[r] = 3 * displs[r];
  }
  std::vector<tagint> all_tags(me == 0 ? n : 0);
  std::vector<int> all_types(me == 0 ? n : 0);
  std::vector<double> all_xyz(me == 0 ? 3 * n : 0), all_forces(me == 0 ? 3 * n : 0);
  MPI_Gatherv(tags.data(), n_mine, MPI_LMP_TAGINT, all_tags.data(), counts.data(),
              displs.data(), MPI_LMP_TAGINT, 0, world);
  MPI_Gatherv(type_of.data(), n_mine, MPI_INT, all_types.data(), counts.data(), displs.data(),
              MPI_INT, 0, world);
  MPI_Gatherv(xyz.data(), 3 * n_mine, MPI_DOUBLE, all_xyz.data(), counts3.data(),
              displs3.data(), MPI_DOUBLE, 0, world);

  // rank 0: the structure in ID order, the prior, its forces back in gathered order
  double result[2] = {0.0, 1.0};    // energy, ok
  failure.clear();
  if (me == 0) {
    std::vector<int> order(n);
    for (int k = 0; k < n; k++) order[k] = k;
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return all_tags[a] < all_tags[b]; });
    std::vector<std::string> symbols(n);
    std::vector<double> positions(3 * n), sorted_forces(3 * n);
    for (int k = 0; k < n; k++) {
      symbols[k] = types.elements[all_types[order[k]] - 1];
      for (int d = 0; d < 3; d++) positions[3 * k + d] = all_xyz[3 * order[k] + d];
    }
    const double cell[9] = {domain->xprd, 0.0, 0.0, domain->xy, domain->yprd, 0.0,
                            domain->xz, domain->yz, domain->zprd};
    const bool pbc[3] = {domain->xperiodic != 0, domain->yperiodic != 0,
                         domain->zperiodic != 0};
    try {
      result[0] = python_prior->evaluate(symbols, positions.data(), cell, pbc,
                                         sorted_forces.data()) * to_lammps;
      for (int k = 0; k < n; k++)
        for (int d = 0; d < 3; d++)
          all_forces[3 * order[k] + d] = sorted_forces[3 * k + d] * to_lammps;
    } catch (std::exception &e) {
      result[1] = 0.0;
      failure = e.what();
    }
  }
  MPI_Bcast(result, 2, MPI_DOUBLE, 0, world);
  if (result[1] == 0.0) {
    if (failure.empty()) failure = "the prior failed on rank 0";    // the other ranks' word
    return std::numeric_limits<double>::quiet_NaN();
  }
  MPI_Scatterv(all_forces.data(), counts3.data(), displs3.data(), MPI_DOUBLE, xyz.data(),
               3 * n_mine, MPI_DOUBLE, 0, world);
  for (int k = 0; k < n_mine; k++)
    for (int d = 0; d < 3; d++) forces[3 * mine[k] + d] = xyz[3 * k + d];
  return result[0];
}
