#include "pair_mlff_ttt.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "platform.h"
#include "update.h"
#include "utils.h"

#include "mlff_ttt_errors.h"
#include "mlff_ttt_restart.h"

#include "graph.h"
#include "model_runner.h"
#include "units.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>

using namespace LAMMPS_NS;
using namespace LAMMPS_NS::mlff_ttt;

PairMLFFTTT::PairMLFFTTT(LAMMPS *lmp) :
    Pair(lmp), graph(new mlff::Graph), atom_graph(new mlff::Graph), ghost_comm(lmp, this),
    rr_monitor(lmp, options, ghost_comm), prior(lmp, ghost_comm),
    ttt(lmp, options, prior, ghost_comm), hook(lmp, options)
{
  nextra = NUM_VECTOR;
  pvector = new double[nextra];
  for (int k = 0; k < nextra; k++) pvector[k] = 0.0;
  single_enable = 0;
  restartinfo = 1;
  // pair_coeff * * lines only (checked in coeff), but for the prior's forwarded lines,
  // pair_coeff I J prior ..., which LAMMPS refuses for a one_coeff style
  one_coeff = 0;
  manybody_flag = 1;
  ghostneigh = 1;                   // message passing needs the neighbors of ghost atoms
  no_virial_fdotr_compute = 1;      // the core returns the virial from edge gradients
  centroidstressflag = CENTROID_NOTAVAIL;
  comm_forward = comm_reverse = GhostComm::WIDTH;
}

PairMLFFTTT::~PairMLFFTTT()
{
  delete[] pvector;
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

void PairMLFFTTT::settings(int narg, char **arg)
{
  settings_args.assign(arg, arg + narg);
  hook.reset();
  ttt.reset();
  ttt.close_log();    // a re-issued pair_style may name another log file
  parse_options(lmp, narg, arg, options);
  // new keywords start from the trained cutoff (RR chooses again under its new grid)
  radius = model ? model->info().cutoff : 0.0;
  radius_evaluated = false;
}

/* pair_coeff * * model.pt El1 El2 ... (one element symbol per atom type; NULL for a type the
   model does not see, whose pairs another style of pair_style hybrid handles), or the TTT
   prior's line, pair_coeff * * prior ... */

void PairMLFFTTT::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg < 3) error->all(FLERR, "pair_coeff * * model.pt El1 ... ElN expected");
  if (strcmp(arg[2], "prior") == 0) {
    ttt.reset();    // the bridge checks the prior against the model's when it is created
    prior.coeff(narg, arg, model ? &types : nullptr);
    return;
  }
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_style mlff_ttt takes pair_coeff * * lines only (and pair_coeff I J "
               "prior ... after a pair_coeff * * prior_style line)");
  if (strcmp(arg[2], "prior_style") == 0) {
    if (narg < 4) error->all(FLERR, "pair_coeff * * prior_style STYLE [args ...] expected");
    ttt.reset();
    prior.style(narg - 3, arg + 3);
    return;
  }
  if (narg != 3 + ntypes)
    error->all(FLERR, "pair_coeff * * {} needs one element symbol per atom type: {} types, {} "
               "symbols given", arg[2], ntypes, narg - 3);

  try {
    model = std::make_unique<mlff::ModelRunner>(arg[2], options.device);
  } catch (std::exception &e) {
    error->all(FLERR, "pair_style mlff_ttt: {}", e.what());
  }

  const auto &info = model->info();
  model_path = arg[2];
  // restart files name the model by its absolute path: read_restart may run elsewhere
  model_args.assign(arg + 2, arg + narg);
  model_args[0] = absolute_path(arg[2]);
  ttt.reset();
  radius = info.cutoff;
  radius_evaluated = false;
  types.assign(lmp, *model, arg[2], ntypes, arg + 3);
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = types.sees(i) && types.sees(j) ? 1 : 0;

  if (comm->me == 0)
    utils::logmesg(lmp,
                   "mlff_ttt: model {} ({}, {}, {} elements, cutoff {} A, {} layers, units {})\n",
                   arg[2], info.architecture, info.dtype, info.elements.size(), info.cutoff,
                   info.num_layers, info.units);
}

void PairMLFFTTT::init_style()
{
  hook.init();
  if (!model) error->all(FLERR, "pair_style mlff_ttt needs a pair_coeff * * model.pt ... line");
  if (force->newton_pair == 0) error->all(FLERR, "Pair style mlff_ttt requires newton pair on");
  const std::string units = update->unit_style;
  if (units != "metal" && units != "real")
    error->all(FLERR, "Pair style mlff_ttt supports units metal or real, not units {}", units);

  neighbor->add_request(this, NeighConst::REQ_FULL | NeighConst::REQ_GHOST);

  // RR and the monitor need the model's statistics, checked here so that both the model and
  // the keywords are known (pair_coeff may come before or after pair_style's re-issue).
  const auto &info = model->info();
  rr_monitor.init(info);
  // a delta model's energies are relative to its prior, which is then added at every step
  if (info.is_delta()) prior.check_delta(info, model_path);
  else if (options.ttt_every == 0) prior.warn_unused();
  rr_monitor.log_settings();

  // An owned atom's energy depends on atoms up to (layers x cutoff) away, and the ghost
  // atoms out there need their own neighbors: the ghost shell must span the receptive field.
  // The spectral moments walk two hops, so they need at least two cutoffs.
  double reach = info.receptive_field();
  if (rr_monitor.on()) reach = std::max(reach, 2.0 * info.cutoff);
  const double ghost_cut = reach + neighbor->skin;
  if (comm->cutghostuser < ghost_cut) {
    comm->cutghostuser = ghost_cut;
    if (comm->me == 0)
      utils::logmesg(lmp, "mlff_ttt: ghost cutoff set to {} A (receptive field + skin)\n",
                     ghost_cut);
  }
  if (options.exchange != Options::EXCHANGE_NO && comm->nprocs > 1 && !model->can_exchange())
    error->warning(FLERR, "pair_style mlff_ttt: model {} was exported before the "
                   "layer-by-layer methods: each rank evaluates its ghost atoms as deep as the "
                   "receptive field (the same forces, more work per rank); re-export it with "
                   "mlff-ttt export to exchange features between layers", model_path);
  mlff::set_model_threads(comm->nthreads);
  if (options.ttt_every > 0 || info.is_delta()) prior.init(types, options.ttt.prior_timeout);
  if (options.ttt_every > 0) ttt.start(model_path);
}

double PairMLFFTTT::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "All pair coeffs are not set");
  prior.init_pending(types, model->info().cutoff);
  const double cut = model->info().cutoff;
  cutghost[i][j] = cutghost[j][i] = cut;
  return cut;
}

bool PairMLFFTTT::exchanges_features()
{
  // every condition before the sum is the same on all ranks, so all of them reach it or none
  const int layers = model->info().num_layers;
  if (options.exchange == Options::EXCHANGE_NO || comm->nprocs == 1 || !model->can_exchange() ||
      graph->layer_edges.size() != static_cast<size_t>(layers))
    return false;
  if (options.exchange == Options::EXCHANGE_YES) return true;
  // auto: the edge work of all ranks with the deep ghost shell against the exchange's
  double work[2] = {static_cast<double>(graph->edge_evaluations(layers)),
                    static_cast<double>(graph->exchanged_edge_evaluations(layers))};
  ghost_comm.sum(work, 2);
  return work[0] > (1.0 + Options::kAutoExchangeExtraWork) * work[1];
}

double PairMLFFTTT::energy_conversion() const
{
  return mlff::energy_conversion(model->info().units, update->unit_style);
}

bigint PairMLFFTTT::model_atoms()
{
  return types.count_atoms(lmp);
}

void PairMLFFTTT::build_graph(double cutoff, bool prune, bool fold, mlff::Graph &out)
{
  mlff::NeighborLists lists;
  lists.positions = atom->x[0];
  lists.n_local = atom->nlocal;
  lists.n_total = atom->nlocal + atom->nghost;
  lists.centers = list->ilist;
  lists.n_centers = list->inum + list->gnum;
  lists.counts = list->numneigh;
  lists.lists = list->firstneigh;
  lists.index_mask = NEIGHMASK;
  if (types.has_null) {
    excluded_atoms.resize(lists.n_total);
    for (int i = 0; i < lists.n_total; i++) excluded_atoms[i] = types.sees(atom->type[i]) ? 0 : 1;
    lists.excluded = excluded_atoms.data();
  }
  fold = fold && atom->tag_enable;    // images are recognised by their atom IDs
  // Which ghost images which owned atom is found again at every graph build, never cached:
  // LAMMPS renumbers its atoms at neighbor builds, sorts, exchanges, every run's set-up,
  // displace_atoms, rerun and read_dump, and no counter it offers a pair style changes at all
  // of them (Neighbor::ncalls restarts from 0 at each run's set-up). It costs one pass over
  // the atoms (see find_image_owners), a small part of building the edges.
  if (fold) mlff::find_image_owners(atom->tag, lists.n_local, lists.n_total, image_owner);
  mlff::build_graph(lists, cutoff, prune ? model->info().num_layers : 0,
                    fold ? &image_owner : nullptr, out);
  out.species.resize(out.n_nodes);
  const int *type = atom->type;
  for (int64_t k = 0; k < out.n_nodes; k++) out.species[k] = types.species[type[out.node_atom[k]]];
}

/* The model's energy (all ranks) of `graph` at `at_radius`, without forces: what an energy
   change caused by TTT or RR is measured against. */

double PairMLFFTTT::model_energy(const mlff::DeviceGraph &uploaded, double at_radius)
{
  double energy = 0.0;
  check_step(lmp, uploaded.graph(), options.min_distance, failure_of([&] {
    energy = model->compute(uploaded, {false, false, false, false}, at_radius).energy;
  }));
  return global_energy(energy);
}

double PairMLFFTTT::global_energy(double local_energy)
{
  ghost_comm.sum(&local_energy, 1);
  return local_energy;
}

void PairMLFFTTT::spectral_update(bool all_radii)
{
  // no atoms (none created yet, or all deleted): no structure to measure; the radius in use
  // stays, and the spectral entries read 0 with no shift flagged
  const bigint n_atoms = model_atoms();
  if (n_atoms == 0) {
    extra[SPECTRAL_DISTANCE] = extra[CONNECTIVITY_SHIFT] = 0.0;
    return;
  }
  build_graph(model->info().cutoff, false, false, *atom_graph);
  rr_monitor.spectral_update(*atom_graph, all_radii, static_cast<double>(n_atoms), radius, extra);
}

/* One force call: RR and the monitor's spectral part (when due), a TTT update (when due), the
   model on the graph at the radius in use, and what the refinements changed. An energy
   change that RR or TTT makes at a step is measured at that step's positions (the energy
   before the change: one extra energy-only model call, made only then) and summed into
   REFINEMENT_ENERGY_CHANGE_SUM, so E_total minus that sum is what NVE conserves. */

void PairMLFFTTT::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  const bigint step = update->ntimestep;
  const bool rr_due = rr_monitor.rr_due(step);
  const bool monitor_due = rr_monitor.monitor_due(step);
  // (with no atoms to adapt to, there is no update)
  const bool ttt_due = ttt.due(step) && model_atoms() > 0;
  const double previous_radius = radius;
  if (rr_due || monitor_due) spectral_update(rr_due);
  extra[RR_RADIUS] = radius;

  // the energy before this step's refinements, when one of them changes it
  const bool radius_changed = radius_evaluated && radius != previous_radius;
  double energy_before = 0.0;
  if (radius_changed) {
    build_graph(previous_radius, true, true, *graph);
    energy_before = model_energy(model->upload(*graph), previous_radius);
  }
  // the graph at the radius in use (the model's own switch makes the cut smooth), moved to
  // the model's device once for this step's model calls
  build_graph(radius, true, true, *graph);
  const mlff::DeviceGraph uploaded = model->upload(*graph);
  double energy_before_ttt = 0.0, ttt_started = 0.0;
  mlff::TTTUpdate ttt_result;
  if (ttt_due) {
    ttt_started = ttt.begin(step);
    energy_before_ttt = model_energy(uploaded, radius);    // also the overlap check, before TTT
    ttt_result = ttt.adapt(*model, *graph, list, types, model_atoms(), radius, energy_conversion());
  }

  mlff::Results result;
  std::string failure;
  const int ntotal = atom->nlocal + atom->nghost;
  const mlff::Request request{eflag_atom != 0, vflag_global != 0, vflag_atom != 0};
  // the same on every rank (compute_exchanged is collective)
  const bool exchanged = exchanges_features();
  try {
    if (exchanged) {
      GraphCommunicator graph_comm(ghost_comm, *graph, ntotal);
      result = model->compute_exchanged(uploaded, request, radius, graph_comm);
    } else {
      result = model->compute(uploaded, request, radius);
    }
  } catch (mlff::NonFiniteOutput &e) {
    failure = e.node < 0 ? std::string(e.what())
                         : fmt::format("{} for atom {}", e.what(),
                                       atom->tag[graph->node_atom[e.node]]);
  } catch (std::exception &e) {
    failure = e.what();
  }
  check_step(lmp, *graph, options.min_distance, failure);
  radius_evaluated = true;
  const double scale = energy_conversion();
  if (radius_changed || ttt_due) {
    const double energy = global_energy(result.energy);
    const double before_ttt = ttt_due ? energy_before_ttt : energy;
    if (radius_changed) {
      extra[RR_ENERGY_CHANGE] = (before_ttt - energy_before) * scale;
      extra[REFINEMENT_ENERGY_CHANGE_SUM] += extra[RR_ENERGY_CHANGE];
    }
    if (ttt_due)
      ttt.record(step, ttt_result, (energy - energy_before_ttt) * scale, ttt_started, extra);
  }
  mlff::spread_to_atoms(*graph, result.forces.data(), 3, ntotal, atom_forces);
  if (monitor_due) rr_monitor.monitor_forces(atom_forces, model_atoms(), model->info(), extra);
  // `compute pair` sums pvector over ranks; every rank holds the same values, so rank 0
  // reports them. They describe this step's energy: its radius and the updates made up to
  // and including this step's. The work counts are each rank's own, so their sum is the
  // work of all ranks (what grows with the rank count: docs/speed.md).
  for (int k = 0; k < NUM_EXTRA; k++) pvector[k] = comm->me == 0 ? extra[k] : 0.0;
  // exchanged: the layers evaluate the owned nodes, from the edges centred on them (the
  // ghosts' features are copied from their owners, not evaluated)
  const int layers = model->info().num_layers;
  pvector[GRAPH_NODES] = static_cast<double>(exchanged ? graph->n_local : graph->n_nodes);
  pvector[EDGE_EVALUATIONS] = static_cast<double>(
      exchanged ? graph->exchanged_edge_evaluations(layers) : graph->edge_evaluations(layers));
  add_to_lammps(result, scale);
  if (model->info().is_delta()) prior.add_to(*this, eflag, vflag, list, types);
  if (prior_residual_flag) {
    if (!ttt.active())
      error->all(FLERR, "fix pair ... mlff_ttt prior_residual needs pair_style mlff_ttt ttt ... "
                 "and a pair_coeff * * prior line (the prior the signal compares the prior "
                 "head with)");
    prior_residual.resize(std::max<size_t>(prior_residual.size(), atom->nmax));
    ttt.prior_residual(*model, uploaded, list, types, radius, scale, prior_residual.data());
  }
  if (hook.due(step)) {
    build_graph(radius, true, false, *atom_graph);
    hook.call(*atom_graph, atom->x[0], step);
  }
}

// The model's forces, energies and virials (model units; forces per atom in atom_forces) into
// LAMMPS's.
void PairMLFFTTT::add_to_lammps(const mlff::Results &result, double scale)
{
  double **f = atom->f;
  const int ntotal = atom->nlocal + atom->nghost;
  for (int i = 0; i < ntotal; i++)
    for (int d = 0; d < 3; d++) f[i][d] += scale * atom_forces[3 * i + d];
  if (eflag_global) eng_vdwl += scale * result.energy;
  if (eflag_atom)
    for (int64_t k = 0; k < graph->n_local; k++)
      eatom[graph->node_atom[k]] += scale * result.node_energy[k];
  if (vflag_global)
    for (int k = 0; k < 6; k++) virial[k] += scale * result.virial[k];
  if (vflag_atom)
    for (int64_t k = 0; k < graph->n_nodes; k++)
      for (int d = 0; d < 6; d++)
        vatom[graph->node_atom[k]][d] += scale * result.node_virial[6 * k + d];
}

/* Restart files (mlff_ttt_restart.h): the pair_style arguments, then the model and prior
   lines, so read_restart continues a run without pair_coeff lines, the vector and the TTT
   state. */

void PairMLFFTTT::write_restart_settings(FILE *fp)
{
  write_restart_strings(fp, settings_args);
  // As a sub-style of pair hybrid only these settings reach the restart file (hybrid keeps
  // no pair_coeff lines, and read_restart needs them given again): the adapted model would be
  // lost without a word, so it is written beside the restart and named.
  if (force->pair != this && ttt.active() && extra[TTT_UPDATES] > 0) {
    const TTTDriver::AdaptedFiles files = ttt.write_adapted_files(update->ntimestep);
    error->warning(FLERR, "pair_style mlff_ttt inside pair {}: its restart files keep no "
                   "pair_coeff lines, so after read_restart give them again, with the adapted "
                   "model of step {}, {}, in place of the original to continue TTT (the "
                   "optimizer's state starts again)", force->pair_style, update->ntimestep,
                   files.model);
  }
}

void PairMLFFTTT::read_restart_settings(FILE *fp)
{
  std::vector<std::string> args = read_restart_strings(lmp, fp);
  std::vector<char *> argv = argv_of(args);
  settings(static_cast<int>(argv.size()), argv.data());
}

void PairMLFFTTT::write_restart(FILE *fp)
{
  write_restart_settings(fp);    // LAMMPS calls only this one; settings come first
  RestartState state;
  state.model_line = model_args;
  // With TTT updates made, the model in use is the adapted one, which lives in memory only:
  // the restart must name files that hold it and its optimizer's state as they are at this
  // step (so that a continued run equals an uninterrupted one bit for bit), and this call, on
  // rank 0 as LAMMPS writes the restart, is the one place that knows the step is a restart's.
  if (ttt.active() && extra[TTT_UPDATES] > 0) {
    const TTTDriver::AdaptedFiles files = ttt.write_adapted_files(update->ntimestep);
    state.model_line[0] = files.model;
    state.optimizer_file = files.optimizer;
  }
  state.prior_line = prior.line();
  state.vector.assign(extra, extra + NUM_EXTRA);
  state.ttt_last_step = ttt.last_update_step();
  write_restart_state(fp, state);
}

void PairMLFFTTT::read_restart(FILE *fp)
{
  read_restart_settings(fp);
  const RestartState state = read_restart_state(lmp, fp, NUM_EXTRA);
  std::copy(state.vector.begin(), state.vector.end(), extra);
  for (const auto *line : {&state.model_line, &state.prior_line}) {
    if (line->empty()) continue;
    if (line == &state.prior_line && line->front() == "prior_style") {
      ttt.reset();
      prior.restore(*line);
      continue;
    }
    std::vector<std::string> args{"*", "*"};
    args.insert(args.end(), line->begin(), line->end());
    std::vector<char *> argv = argv_of(args);
    coeff(static_cast<int>(argv.size()), argv.data());
  }
  // after coeff, which starts TTT and RR afresh: the bridge restores TTT when it is created,
  // and the radius in use when the restart was written stays in use
  ttt.restore(state.ttt_last_step, state.optimizer_file);
  if (extra[RR_RADIUS] > 0.0) {
    radius = extra[RR_RADIUS];
    radius_evaluated = true;
  }
}

// LAMMPS's ghost communication of the rows GhostComm sends.

int PairMLFFTTT::pack_forward_comm(int n, int *list, double *buf, int, int *)
{
  return ghost_comm.pack_forward(n, list, buf);
}

void PairMLFFTTT::unpack_forward_comm(int n, int first, double *buf)
{
  ghost_comm.unpack_forward(n, first, buf);
}

int PairMLFFTTT::pack_reverse_comm(int n, int first, double *buf)
{
  return ghost_comm.pack_reverse(n, first, buf);
}

void PairMLFFTTT::unpack_reverse_comm(int n, int *list, double *buf)
{
  ghost_comm.unpack_reverse(n, list, buf);
}

/* fix pair's interface (LAMMPS's fix_pair): it sets `prior_residual_flag` through extract()
   before the steps it samples and copies the per-atom array afterwards. */

void *PairMLFFTTT::extract(const char *name, int &dim)
{
  dim = 0;
  if (strcmp(name, "prior_residual_flag") == 0) return &prior_residual_flag;
  return nullptr;
}

void *PairMLFFTTT::extract_peratom(const char *name, int &ncol)
{
  ncol = 0;
  if (strcmp(name, "prior_residual") == 0)
    return prior_residual.empty() ? nullptr : prior_residual.data();
  return nullptr;
}
