#include "pair_mlff_ttt.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#include "graph.h"
#include "model_runner.h"
#include "python_hook.h"

#include <cstring>
#include <exception>

using namespace LAMMPS_NS;

// Boltzmann constants LAMMPS uses for the metal (eV/K) and real (kcal/mol/K) unit styles;
// their ratio converts model energies so they agree with LAMMPS's own thermal energies.
static constexpr double BOLTZ_METAL = 8.617343e-5;
static constexpr double BOLTZ_REAL = 0.0019872067;

static double boltz_of(const std::string &units)
{
  return units == "real" ? BOLTZ_REAL : BOLTZ_METAL;
}

PairMLFFTTT::PairMLFFTTT(LAMMPS *lmp) : Pair(lmp), graph(new mlff::Graph), hook_every(0)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  ghostneigh = 1;                   // message passing needs the neighbors of ghost atoms
  no_virial_fdotr_compute = 1;      // the core returns the virial from edge gradients
  centroidstressflag = CENTROID_NOTAVAIL;
}

PairMLFFTTT::~PairMLFFTTT()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
  }
}

void PairMLFFTTT::allocate()
{
  allocated = 1;
  const int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  memory->create(cutghost, n, n, "pair:cutghost");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) setflag[i][j] = 0;
}

/* pair_style mlff_ttt [hook every N module:function] */

void PairMLFFTTT::settings(int narg, char **arg)
{
  hook.reset();
  hook_target.clear();
  hook_every = 0;

  int iarg = 0;
  while (iarg < narg) {
    if (strcmp(arg[iarg], "hook") == 0) {
      if (iarg + 4 > narg || strcmp(arg[iarg + 1], "every") != 0)
        error->all(FLERR, "Illegal pair_style mlff_ttt hook: expected 'hook every N module:function'");
      hook_every = utils::bnumeric(FLERR, arg[iarg + 2], false, lmp);
      if (hook_every < 1) error->all(FLERR, "pair_style mlff_ttt hook every N needs N >= 1");
      hook_target = arg[iarg + 3];
      iarg += 4;
    } else {
      error->all(FLERR, "Unknown pair_style mlff_ttt keyword: {}", arg[iarg]);
    }
  }

  if (!hook_target.empty()) {
    try {
      hook = std::make_unique<mlff::PythonHook>(hook_target);
    } catch (std::exception &e) {
      error->all(FLERR, "pair_style mlff_ttt: {}", e.what());
    }
  }
}

/* pair_coeff * * model.pt El1 El2 ... (one element symbol per atom type) */

void PairMLFFTTT::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg < 3) error->all(FLERR, "pair_coeff * * model.pt El1 ... ElN expected");
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_style mlff_ttt takes a single pair_coeff * * line");
  if (narg != 3 + ntypes)
    error->all(FLERR,
               "pair_coeff * * {} needs one element symbol per atom type: {} types, {} symbols given",
               arg[2], ntypes, narg - 3);

  try {
    model = std::make_unique<mlff::ModelRunner>(arg[2]);
  } catch (std::exception &e) {
    error->all(FLERR, "pair_style mlff_ttt: {}", e.what());
  }

  const auto &info = model->info();
  type_to_species.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; t++) {
    const std::string symbol = arg[2 + t];
    const int index = model->element_index(symbol);
    if (index < 0) {
      std::string known;
      for (const auto &e : info.elements) known += " " + e;
      error->all(FLERR, "Element {} (atom type {}) is not in model {}; the model knows:{}", symbol,
                 t, arg[2], known);
    }
    type_to_species[t] = index;
  }
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = 1;

  if (comm->me == 0)
    utils::logmesg(lmp,
                   "mlff_ttt: model {} ({}, {}, {} elements, cutoff {} A, {} layers, units {})\n",
                   arg[2], info.architecture, info.dtype, info.elements.size(), info.cutoff,
                   info.num_layers, info.units);
}

void PairMLFFTTT::init_style()
{
  if (!model) error->all(FLERR, "pair_style mlff_ttt needs a pair_coeff * * model.pt ... line");
  if (force->newton_pair == 0) error->all(FLERR, "Pair style mlff_ttt requires newton pair on");
  const std::string units = update->unit_style;
  if (units != "metal" && units != "real")
    error->all(FLERR, "Pair style mlff_ttt supports units metal or real, not units {}", units);

  neighbor->add_request(this, NeighConst::REQ_FULL | NeighConst::REQ_GHOST);

  // An owned atom's energy depends on atoms up to (layers x cutoff) away, and the ghost
  // atoms out there need their own neighbors: the ghost shell must span the receptive field.
  const double ghost_cut = model->info().receptive_field() + neighbor->skin;
  if (comm->cutghostuser < ghost_cut) {
    comm->cutghostuser = ghost_cut;
    if (comm->me == 0)
      utils::logmesg(lmp, "mlff_ttt: ghost cutoff set to {} A (receptive field + skin)\n",
                     ghost_cut);
  }
  mlff::set_model_threads(comm->nthreads);
}

double PairMLFFTTT::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "All pair coeffs are not set");
  const double cut = model->info().cutoff;
  cutghost[i][j] = cutghost[j][i] = cut;
  return cut;
}

double PairMLFFTTT::energy_conversion() const
{
  return boltz_of(update->unit_style) / boltz_of(model->info().units);
}

void PairMLFFTTT::build_graph()
{
  const int ntotal = atom->nlocal + atom->nghost;
  graph->n_nodes = ntotal;
  graph->n_local = atom->nlocal;
  graph->species.resize(ntotal);
  const int *type = atom->type;
  for (int i = 0; i < ntotal; i++) graph->species[i] = type_to_species[type[i]];
  graph->clear_edges();
  mlff::append_edges(atom->x[0], list->ilist, list->inum + list->gnum, list->numneigh,
                     list->firstneigh, NEIGHMASK, model->info().cutoff, *graph);
  mlff::prune_to_receptive_field(*graph, model->info().num_layers);
}

void PairMLFFTTT::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  build_graph();

  mlff::Results result;
  try {
    result = model->compute(*graph, {eflag_atom != 0, vflag_global != 0, vflag_atom != 0});
  } catch (std::exception &e) {
    error->one(FLERR, "pair_style mlff_ttt at step {}: {}", update->ntimestep, e.what());
  }

  const double scale = energy_conversion();
  const int ntotal = graph->n_nodes;
  double **f = atom->f;
  for (int i = 0; i < ntotal; i++)
    for (int k = 0; k < 3; k++) f[i][k] += scale * result.forces[3 * i + k];

  if (eflag_global) eng_vdwl += scale * result.energy;
  if (eflag_atom)
    for (int i = 0; i < atom->nlocal; i++) eatom[i] += scale * result.node_energy[i];
  if (vflag_global)
    for (int k = 0; k < 6; k++) virial[k] += scale * result.virial[k];
  if (vflag_atom)
    for (int i = 0; i < ntotal; i++)
      for (int k = 0; k < 6; k++) vatom[i][k] += scale * result.node_virial[6 * i + k];

  if (hook && update->ntimestep % hook_every == 0) {
    try {
      hook->call(*graph, {atom->x[0], update->ntimestep, comm->me, comm->nprocs});
    } catch (std::exception &e) {
      error->one(FLERR, "pair_style mlff_ttt: {}", e.what());
    }
  }
}
