#include "pair_mlff_ttt.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "platform.h"
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
#include "radius_refiner.h"
#include "ttt_bridge.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
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

PairMLFFTTT::PairMLFFTTT(LAMMPS *lmp) :
    Pair(lmp), prior_init_pending(false), rr_mode(RR_OFF), rr_every(0), rr_grid_given(false),
    min_distance(0.5), device("cpu"), monitor_every(10), monitor_given(false),
    rr_once_pending(false), radius(0.0), radius_evaluated(false), warned_connectivity(false),
    warned_force(false), comm_width(0), ttt_every(0), ttt_steps(0), ttt_lr(0.0),
    ttt_max_change(0.0), ttt_prior_timeout(600.0), ttt_log(nullptr), ttt_last_step(-1),
    graph(new mlff::Graph), atom_graph(new mlff::Graph), has_null_types(false), hook_every(0),
    hook_last_step(-1)
{
  nextra = NUM_EXTRA;
  pvector = new double[nextra];
  for (int k = 0; k < nextra; k++) pvector[k] = extra[k] = 0.0;
  single_enable = 0;
  restartinfo = 1;
  one_coeff = 1;
  manybody_flag = 1;
  ghostneigh = 1;                   // message passing needs the neighbors of ghost atoms
  no_virial_fdotr_compute = 1;      // the core returns the virial from edge gradients
  centroidstressflag = CENTROID_NOTAVAIL;
  comm_forward = comm_reverse = COMM_WIDTH;    // see communicate()
}

PairMLFFTTT::~PairMLFFTTT()
{
  delete[] pvector;
  if (ttt_log) fclose(ttt_log);
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

// The absolute form of a path (as given when it does not resolve).
static std::string absolute_path(const std::string &path)
{
  char *resolved = realpath(path.c_str(), nullptr);
  const std::string out = resolved ? resolved : path;
  free(resolved);
  return out;
}

// An argument vector over strings that outlive it (LAMMPS's settings/coeff take char **).
static std::vector<char *> argv_of(std::vector<std::string> &args)
{
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(&a[0]);
  return argv;
}

/* pair_style mlff_ttt [rr off|once|every N] [rr_grid r1 r2 ...] [monitor every N|off]
                      [min_distance D] [device cpu|cuda] [ttt ...]
                      [hook every N module:function] */

void PairMLFFTTT::settings(int narg, char **arg)
{
  settings_args.assign(arg, arg + narg);
  hook.reset();
  hook_target.clear();
  hook_every = 0;
  hook_last_step = -1;
  rr_mode = RR_OFF;
  rr_every = 0;
  rr_grid.clear();
  rr_grid_given = false;
  min_distance = 0.5;
  device = "cpu";
  monitor_every = 10;
  monitor_given = false;
  ttt_every = 0;
  ttt_steps = 0;
  ttt_lr = ttt_max_change = 0.0;
  ttt_prior_timeout = 600.0;
  ttt_optimizer = "adam";
  ttt_log_path.clear();
  ttt_save_path.clear();
  ttt.reset();
  if (ttt_log) fclose(ttt_log);    // a re-issued pair_style may name another log file
  ttt_log = nullptr;

  int iarg = 0;
  while (iarg < narg) {
    const std::string word = arg[iarg];
    if (word == "hook") {
      if (iarg + 4 > narg || strcmp(arg[iarg + 1], "every") != 0)
        error->all(FLERR, "Illegal pair_style mlff_ttt hook: expected 'hook every N module:function'");
      hook_every = utils::bnumeric(FLERR, arg[iarg + 2], false, lmp);
      if (hook_every < 1) error->all(FLERR, "pair_style mlff_ttt hook every N needs N >= 1");
      hook_target = arg[iarg + 3];
      iarg += 4;
    } else if (word == "rr") {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style mlff_ttt rr: expected off, once or every N");
      const std::string mode = arg[iarg + 1];
      if (mode == "off") {
        rr_mode = RR_OFF;
        iarg += 2;
      } else if (mode == "once") {
        rr_mode = RR_ONCE;
        iarg += 2;
      } else if (mode == "every") {
        if (iarg + 3 > narg) error->all(FLERR, "pair_style mlff_ttt rr every N: N is missing");
        rr_every = utils::bnumeric(FLERR, arg[iarg + 2], false, lmp);
        if (rr_every < 1) error->all(FLERR, "pair_style mlff_ttt rr every N needs N >= 1");
        rr_mode = RR_EVERY;
        iarg += 3;
      } else {
        error->all(FLERR, "pair_style mlff_ttt rr: expected off, once or every N, not {}", mode);
      }
    } else if (word == "rr_grid") {
      rr_grid_given = true;
      iarg++;
      while (iarg < narg && utils::is_double(arg[iarg]))
        rr_grid.push_back(utils::numeric(FLERR, arg[iarg++], false, lmp));
      if (rr_grid.empty())
        error->all(FLERR, "pair_style mlff_ttt rr_grid needs at least one radius");
      for (double r : rr_grid)
        if (!(r > 0.0)) error->all(FLERR, "pair_style mlff_ttt rr_grid radius {} is not positive", r);
    } else if (word == "ttt") {
      // ttt every N steps K lr X [optimizer sgd|adam] [max_change D] [prior_timeout T]
      //     [log FILE] [save FILE]
      if (iarg + 7 > narg || strcmp(arg[iarg + 1], "every") != 0 ||
          strcmp(arg[iarg + 3], "steps") != 0 || strcmp(arg[iarg + 5], "lr") != 0)
        error->all(FLERR, "Illegal pair_style mlff_ttt ttt: expected 'ttt every N steps K lr X "
                   "[optimizer sgd|adam] [max_change D] [prior_timeout T] [log FILE] [save FILE]'");
      ttt_every = utils::bnumeric(FLERR, arg[iarg + 2], false, lmp);
      ttt_steps = utils::inumeric(FLERR, arg[iarg + 4], false, lmp);
      ttt_lr = utils::numeric(FLERR, arg[iarg + 6], false, lmp);
      if (ttt_every < 1) error->all(FLERR, "pair_style mlff_ttt ttt every N needs N >= 1");
      if (ttt_steps < 1) error->all(FLERR, "pair_style mlff_ttt ttt steps K needs K >= 1");
      if (!(ttt_lr > 0.0)) error->all(FLERR, "pair_style mlff_ttt ttt lr X needs X > 0");
      iarg += 7;
      static const std::vector<std::string> ttt_options{"optimizer", "max_change",
                                                        "prior_timeout", "log", "save"};
      while (iarg < narg) {
        const std::string option = arg[iarg];
        if (std::find(ttt_options.begin(), ttt_options.end(), option) == ttt_options.end()) break;
        if (iarg + 1 >= narg)
          error->all(FLERR, "pair_style mlff_ttt ttt {}: its value is missing", option);
        if (option == "optimizer") {
          ttt_optimizer = arg[iarg + 1];
          if (ttt_optimizer != "sgd" && ttt_optimizer != "adam")
            error->all(FLERR, "pair_style mlff_ttt ttt optimizer must be sgd or adam, not {}",
                       ttt_optimizer);
        } else if (option == "max_change") {
          ttt_max_change = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
          if (!(ttt_max_change > 0.0))
            error->all(FLERR, "pair_style mlff_ttt ttt max_change D needs D > 0");
        } else if (option == "prior_timeout") {
          ttt_prior_timeout = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
          if (!(ttt_prior_timeout >= 0.0))
            error->all(FLERR, "pair_style mlff_ttt ttt prior_timeout T needs T >= 0 seconds "
                       "(0: no limit)");
        } else if (option == "log") {
          ttt_log_path = arg[iarg + 1];
        } else {    // "save"
          ttt_save_path = arg[iarg + 1];
        }
        iarg += 2;
      }
    } else if (word == "device") {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style mlff_ttt device: expected cpu or cuda");
      device = arg[iarg + 1];
      if (device != "cpu" && device != "cuda")
        error->all(FLERR, "pair_style mlff_ttt device: expected cpu or cuda, not {}", device);
      iarg += 2;
    } else if (word == "min_distance") {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style mlff_ttt min_distance D: D is missing");
      min_distance = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (!(min_distance >= 0.0))
        error->all(FLERR, "pair_style mlff_ttt min_distance D needs D >= 0 (0: no check)");
      iarg += 2;
    } else if (word == "monitor") {
      monitor_given = true;
      if (iarg + 2 <= narg && strcmp(arg[iarg + 1], "off") == 0) {
        monitor_every = 0;
        iarg += 2;
      } else if (iarg + 3 <= narg && strcmp(arg[iarg + 1], "every") == 0) {
        monitor_every = utils::inumeric(FLERR, arg[iarg + 2], false, lmp);
        if (monitor_every < 1) error->all(FLERR, "pair_style mlff_ttt monitor every N needs N >= 1");
        iarg += 3;
      } else {
        error->all(FLERR, "Illegal pair_style mlff_ttt monitor: expected 'monitor every N' or 'monitor off'");
      }
    } else {
      error->all(FLERR, "Unknown pair_style mlff_ttt keyword: {}", arg[iarg]);
    }
  }
  if (rr_grid_given && rr_mode == RR_OFF)
    error->all(FLERR, "pair_style mlff_ttt rr_grid needs rr once or rr every N");
  // new keywords start from the trained cutoff (RR chooses again under its new grid)
  radius = model ? model->info().cutoff : 0.0;
  radius_evaluated = false;

  if (!hook_target.empty()) {
    try {
      hook = std::make_unique<mlff::PythonHook>(hook_target);
    } catch (std::exception &e) {
      error->all(FLERR, "pair_style mlff_ttt: {}", e.what());
    }
  }
}

/* pair_coeff * * model.pt El1 El2 ... (one element symbol per atom type; NULL for a type the
   model does not see, whose pairs another style of pair_style hybrid handles) */

void PairMLFFTTT::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg < 3) error->all(FLERR, "pair_coeff * * model.pt El1 ... ElN expected");
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_style mlff_ttt takes pair_coeff * * lines only");
  if (strcmp(arg[2], "prior") == 0) {
    prior_coeff(narg, arg);
    prior_args.assign(arg + 2, arg + narg);
    return;
  }
  if (narg != 3 + ntypes)
    error->all(FLERR,
               "pair_coeff * * {} needs one element symbol per atom type: {} types, {} symbols given",
               arg[2], ntypes, narg - 3);

  try {
    model = std::make_unique<mlff::ModelRunner>(arg[2], device);
  } catch (std::exception &e) {
    error->all(FLERR, "pair_style mlff_ttt: {}", e.what());
  }

  const auto &info = model->info();
  model_path = arg[2];
  // restart files name the model by its absolute path: read_restart may run elsewhere
  model_args.assign(arg + 2, arg + narg);
  model_args[0] = absolute_path(arg[2]);
  type_elements.assign(arg + 3, arg + 3 + ntypes);
  ttt.reset();
  radius = info.cutoff;
  radius_evaluated = false;
  type_to_species.assign(ntypes + 1, -1);
  has_null_types = false;
  for (int t = 1; t <= ntypes; t++) {
    const std::string symbol = arg[2 + t];
    if (symbol == "NULL") {
      has_null_types = true;
      continue;
    }
    const int index = model->element_index(symbol);
    if (index < 0) {
      std::string known;
      for (const auto &e : info.elements) known += " " + e;
      error->all(FLERR, "Element {} (atom type {}) is not in model {}; the model knows:{}", symbol,
                 t, arg[2], known);
    }
    type_to_species[t] = index;
  }
  if (std::count(type_to_species.begin(), type_to_species.end(), -1) == ntypes + 1)
    error->all(FLERR, "pair_coeff * * {}: every atom type is NULL, the model would see no atom",
               arg[2]);
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++)
      setflag[i][j] = type_to_species[i] >= 0 && type_to_species[j] >= 0 ? 1 : 0;

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

  // RR and the monitor need the model's statistics, checked here so that both the model and
  // the keywords are known (pair_coeff may come before or after pair_style's re-issue).
  const auto &info = model->info();
  const bool monitor_on = monitor_every > 0 && (monitor_given || info.has_statistics());
  if (!monitor_on) monitor_every = 0;
  if (!monitor_given && info.has_outdated_statistics() && comm->me == 0)
    error->warning(FLERR, "pair_style mlff_ttt: the monitor is off: {}", info.statistics_problem());
  refiner.reset();
  if (rr_mode != RR_OFF || monitor_on) {
    try {
      refiner = std::make_unique<mlff::RadiusRefiner>(info, rr_grid, !rr_grid_given);
    } catch (std::exception &e) {
      error->all(FLERR, "pair_style mlff_ttt {}: {}", rr_mode != RR_OFF ? "rr" : "monitor",
                 e.what());
    }
  }
  // The radius RR chose stays in use across runs, as it would within one run (a second `run`
  // continues the first): only pair_style, pair_coeff and read_restart set it. `rr once`
  // chooses again at the first force call of each run.
  rr_once_pending = rr_mode == RR_ONCE;
  if (ttt_every == 0 && (prior_pair || !prior_python.empty()) && !warned_unused_prior) {
    warned_unused_prior = true;
    if (comm->me == 0)
      error->warning(FLERR, "pair_coeff * * prior {}: pair_style mlff_ttt has no ttt keyword, "
                     "so the prior is not used", prior_args.size() > 1 ? prior_args[1] : "");
  }
  if (comm->me == 0 && refiner) {
    std::string grid;
    for (double r : refiner->grid()) grid += fmt::format(" {:.4g}", r);
    utils::logmesg(lmp, "mlff_ttt: rr {}, grid{} A; monitor {}\n",
                   rr_mode == RR_OFF ? "off" : rr_mode == RR_ONCE ? "once" :
                   fmt::format("every {}", rr_every), grid,
                   monitor_every ? fmt::format("every {} steps", monitor_every) : "off");
  }

  // An owned atom's energy depends on atoms up to (layers x cutoff) away, and the ghost
  // atoms out there need their own neighbors: the ghost shell must span the receptive field.
  // The spectral moments walk two hops, so they need at least two cutoffs.
  double reach = info.receptive_field();
  if (refiner) reach = std::max(reach, 2.0 * info.cutoff);
  const double ghost_cut = reach + neighbor->skin;
  if (comm->cutghostuser < ghost_cut) {
    comm->cutghostuser = ghost_cut;
    if (comm->me == 0)
      utils::logmesg(lmp, "mlff_ttt: ghost cutoff set to {} A (receptive field + skin)\n",
                     ghost_cut);
  }
  mlff::set_model_threads(comm->nthreads);
  if (ttt_every > 0) init_prior();
}

/* The prior pair style's set-up. It runs from init_one, after init_style: inside pair hybrid,
   hybrid's init_style turns every neighbor request made during it into a skip list for the
   sub-style that made it, and a request of the prior (no sub-style of hybrid's) would skip
   every atom. With NULL types, Pair::init's steps are taken for the pairs of the model's types
   only, as pair hybrid sets up its styles (Pair::init requires every type's pairs set). */

void PairMLFFTTT::init_prior_pair()
{
  if (!has_null_types) {
    prior_pair->init();
  } else {
    prior_pair->init_style();
    prior_pair->cutforce = 0.0;
    for (int i = 1; i <= atom->ntypes; i++)
      for (int j = i; j <= atom->ntypes; j++) {
        if (type_to_species[i] < 0 || type_to_species[j] < 0) continue;
        const double cut = prior_pair->init_one(i, j);
        prior_pair->cutsq[i][j] = prior_pair->cutsq[j][i] = cut * cut;
        prior_pair->cutforce = std::max(prior_pair->cutforce, cut);
      }
  }
  if (prior_pair->cutforce > model->info().cutoff + 1e-12)
    error->all(FLERR, "The TTT prior's cutoff {} exceeds the model cutoff {}: its neighbor "
               "list would be incomplete", prior_pair->cutforce, model->info().cutoff);
}

double PairMLFFTTT::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "All pair coeffs are not set");
  if (prior_init_pending) {
    prior_init_pending = false;
    init_prior_pair();
  }
  const double cut = model->info().cutoff;
  cutghost[i][j] = cutghost[j][i] = cut;
  return cut;
}

/* One collective verdict per step on what each rank sees alone: atoms closer than
   min_distance (a model trained on physical structures returns a finite, meaningless number
   there, so the run stops, naming the pair) and a failed model call (`failure`: its message).
   One MAXLOC reduction finds the worst rank, overlaps first and the closest pair among them;
   that rank's message goes to every rank and the run ends with error->all, because a message
   error->one prints on another rank than 0 can be lost when MPI_Abort ends the run. */

void PairMLFFTTT::check_step(const std::string &failure)
{
  const double closest = std::sqrt(graph->closest_sq);
  const bool overlap = min_distance > 0.0 && closest < min_distance;
  struct {
    double severity;
    int rank;
  } mine{overlap ? 2.0 + 1.0 / (1.0 + closest) : failure.empty() ? 0.0 : 1.0, comm->me}, worst{};
  MPI_Allreduce(&mine, &worst, 1, MPI_DOUBLE_INT, MPI_MAXLOC, world);
  if (worst.severity == 0.0) return;
  std::string message = failure;
  if (comm->me == worst.rank && overlap) {
    const tagint a = atom->tag[graph->closest_atoms[0]], b = atom->tag[graph->closest_atoms[1]];
    message = fmt::format("atoms {} and {} are {:.4g} A apart, closer than min_distance {} A "
                          "(overlapping atoms: check the input structure; min_distance 0 "
                          "switches the check off)", std::min(a, b), std::max(a, b), closest,
                          min_distance);
  }
  int length = static_cast<int>(message.size());
  MPI_Bcast(&length, 1, MPI_INT, worst.rank, world);
  message.resize(length);
  MPI_Bcast(&message[0], length, MPI_CHAR, worst.rank, world);
  error->all(FLERR, "pair_style mlff_ttt at step {}: {}", update->ntimestep, message);
}

double PairMLFFTTT::energy_conversion() const
{
  return boltz_of(update->unit_style) / boltz_of(model->info().units);
}

bigint PairMLFFTTT::model_atoms()
{
  if (!has_null_types) return atom->natoms;
  bigint local = 0;
  for (int i = 0; i < atom->nlocal; i++) local += type_to_species[atom->type[i]] >= 0 ? 1 : 0;
  bigint total = 0;
  MPI_Allreduce(&local, &total, 1, MPI_LMP_BIGINT, MPI_SUM, world);
  return total;
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
  if (has_null_types) {
    excluded_atoms.resize(lists.n_total);
    for (int i = 0; i < lists.n_total; i++)
      excluded_atoms[i] = type_to_species[atom->type[i]] < 0 ? 1 : 0;
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
  for (int64_t k = 0; k < out.n_nodes; k++) out.species[k] = type_to_species[type[out.node_atom[k]]];
}

/* pair_coeff * * prior STYLE args... El1 ... ElN: a LAMMPS pair style evaluated as the TTT
   prior, created inside this one as pair hybrid does; its args are the style's own pair_coeff
   arguments after "* *" (the last ntypes of them name the elements). */

void PairMLFFTTT::prior_coeff(int narg, char **arg)
{
  if (narg < 4) error->all(FLERR, "pair_coeff * * prior STYLE ... expected");
  const std::string style = arg[3];
  prior_pair.reset();
  prior_python.clear();
  prior_params.clear();
  ttt.reset();
  warned_unused_prior = false;
  if (style == "python") {
    // pair_coeff * * prior python NAME [key=value ...]: the elements are the model line's
    if (narg < 5) error->all(FLERR, "pair_coeff * * prior python NAME [key=value ...] expected");
    prior_python = arg[4];
    for (int k = 5; k < narg; k++) {
      const std::string item = arg[k];
      const auto equal = item.find('=');
      if (equal == std::string::npos || equal == 0)
        error->all(FLERR, "pair_coeff * * prior python: expected key=value, got {}", item);
      prior_params.emplace_back(item.substr(0, equal), item.substr(equal + 1));
    }
    prior_elements.clear();
    if (comm->me == 0) utils::logmesg(lmp, "mlff_ttt: TTT prior {} (Python registry)\n", prior_python);
    return;
  }
  if (style == "mlff_ttt" || style == "hybrid" || style == "hybrid/overlay" ||
      style == "hybrid/scaled")
    error->all(FLERR, "pair_coeff * * prior {}: not a usable prior pair style", style);
  const int ntypes = atom->ntypes;
  if (narg - 4 < ntypes)
    error->all(FLERR, "pair_coeff * * prior {} needs the style's arguments ending in one element "
               "symbol per atom type ({} types)", style, ntypes);
  prior_elements.assign(arg + narg - ntypes, arg + narg);
  if (model) check_prior_elements();    // else when the model's line has come
  int sflag = 0;
  prior_pair.reset(force->new_pair(style, 1, sflag));
  if (!prior_pair) error->all(FLERR, "pair_coeff * * prior: unknown pair style {}", style);
  prior_pair->settings(0, nullptr);
  std::vector<char *> prior_args{arg[0], arg[1]};
  for (int k = 4; k < narg; k++) prior_args.push_back(arg[k]);
  prior_pair->coeff(static_cast<int>(prior_args.size()), prior_args.data());
  if (comm->me == 0) utils::logmesg(lmp, "mlff_ttt: TTT prior pair style {}\n", style);
}

void PairMLFFTTT::check_prior_elements()
{
  if (prior_elements == type_elements) return;
  std::string model_list, prior_list;
  for (const auto &e : type_elements) model_list += " " + e;
  for (const auto &e : prior_elements) prior_list += " " + e;
  error->all(FLERR, "The TTT prior's elements ({} ) do not match the model's pair_coeff "
             "elements ({} )", prior_list, model_list);
}

/* The prior and the TTT bridge, at the set-up of each run. */

void PairMLFFTTT::init_prior()
{
  if (!prior_pair && prior_python.empty())
    error->all(FLERR, "pair_style mlff_ttt ttt needs a prior: pair_coeff * * prior STYLE ... "
               "or pair_coeff * * prior python NAME");
  if (prior_pair) {
    check_prior_elements();
    prior_init_pending = true;    // in init_one: see init_prior_pair
  } else if (comm->nprocs > 1) {
    error->all(FLERR, "The TTT prior {} of the Python registry runs on one MPI rank only "
               "(use a LAMMPS pair style as the prior on several ranks)", prior_python);
  }
  if (!ttt) {
    try {
      ttt = std::make_unique<mlff::TTTBridge>(model_path,
                                              mlff::TTTOptions{ttt_steps, ttt_lr, ttt_optimizer,
                                                               ttt_max_change, ttt_prior_timeout});
      if (!prior_python.empty()) ttt->set_registry_prior(prior_python, prior_params);
      if (!ttt_optimizer_file.empty()) ttt->load_optimizer(ttt_optimizer_file);
      ttt_optimizer_file.clear();
    } catch (std::exception &e) {
      error->all(FLERR, "pair_style mlff_ttt: {}", e.what());
    }
  }
  if (comm->me == 0 && !ttt_log_path.empty() && !ttt_log) {
    ttt_log = fopen(ttt_log_path.c_str(), "w");
    if (!ttt_log) error->one(FLERR, "Cannot open TTT log file {}", ttt_log_path);
    fputs("# step loss_before loss_after rolled_back energy_change energy_change_sum seconds\n",
          ttt_log);
  }
}

/* The model's energy (all ranks) of `graph` at `at_radius`, without forces: what an energy
   change caused by TTT or RR is measured against. */

double PairMLFFTTT::model_energy(double at_radius)
{
  double energy = 0.0;
  std::string failure;
  try {
    energy = model->compute(*graph, {false, false, false, false}, at_radius).energy;
  } catch (std::exception &e) {
    failure = e.what();
  }
  check_step(failure);
  return global_energy(energy);
}

double PairMLFFTTT::global_energy(double local_energy)
{
  MPI_Allreduce(MPI_IN_PLACE, &local_energy, 1, MPI_DOUBLE, MPI_SUM, world);
  return local_energy;
}

namespace {
// What the TTT bridge sees of LAMMPS: the pair style's communication, on the rows of the graph
// the model evaluates. Its nodes are LAMMPS atoms (graph.node_atom; periodic images are folded
// into their owners already), so rows are spread onto per-atom rows, communicated and gathered.
class PairCommunicator : public mlff::Communicator {
 public:
  PairCommunicator(PairMLFFTTT *pair, const mlff::Graph &graph, int n_atoms) :
      pair(pair), graph(graph), n_atoms(n_atoms)
  {
  }
  void reverse_sum(double *values, int width) override
  {
    mlff::spread_to_atoms(graph, values, width, n_atoms, rows);
    pair->reverse_sum(rows.data(), width);
    mlff::gather_from_atoms(graph, rows.data(), width, values);
  }
  void forward(double *values, int width) override
  {
    mlff::spread_to_atoms(graph, values, width, n_atoms, rows);
    pair->forward(rows.data(), width);
    mlff::gather_from_atoms(graph, rows.data(), width, values);
  }
  void sum(double *values, int n) override { pair->sum(values, n); }
  void broadcast(double *values, int n) override { pair->broadcast(values, n); }

 private:
  PairMLFFTTT *pair;
  const mlff::Graph &graph;
  int n_atoms;
  std::vector<double> rows;
};
}    // namespace

/* One TTT update on this step's structure, before its forces: the prior's forces and energy
   on the same atoms (into separate storage; nothing of them reaches the MD forces), K
   optimizer steps in Python, the new parameters copied into the runner's module in place.
   This step's forces then come from the adapted model, so a later `run` (whose set-up
   computes this step's forces again, and does not repeat the update) continues exactly. */

mlff::TTTUpdate PairMLFFTTT::ttt_update()
{
  mlff::TTTUpdate result;
  const int ntotal = atom->nlocal + atom->nghost;
  const double scale = energy_conversion();    // model units -> LAMMPS units
  std::vector<double> prior_forces(3 * ntotal, 0.0);
  const double prior_energy = evaluate_prior(prior_forces) / scale;
  for (auto &v : prior_forces) v /= scale;
  // a non-finite prior (NaN energy from a failed registry prior, or a pair style's output)
  // reaches the engine, whose loss is then non-finite: the update is rolled back there

  PairCommunicator bridge_comm(this, *graph, ntotal);
  std::vector<double> node_prior_forces(3 * graph->n_nodes);
  mlff::gather_from_atoms(*graph, prior_forces.data(), 3, node_prior_forces.data());
  try {
    result = ttt->update(*graph, node_prior_forces.data(), prior_energy, model_atoms(), radius,
                         bridge_comm);
    model->set_parameters(ttt->parameter_names(), result.values);
  } catch (std::exception &e) {
    error->one(FLERR, "pair_style mlff_ttt at step {}: {}", update->ntimestep, e.what());
  }
  if (result.rolled_back && comm->me == 0)
    error->warning(FLERR, "mlff_ttt: TTT update at step {} rolled back: {}", update->ntimestep,
                   result.reason);
  return result;
}

/* What the update of this step did, once the step's energy with the adapted model is known:
   `change` is that energy minus the energy before the update (LAMMPS units), at the same
   positions and radius; `started` the wall time the update began at. */

void PairMLFFTTT::ttt_record(const mlff::TTTUpdate &result, double change, double started)
{
  if (!result.rolled_back) extra[TTT_UPDATES] += 1.0;
  extra[TTT_LOSS_BEFORE] = result.loss_before;
  extra[TTT_LOSS_AFTER] = result.loss_after;
  extra[TTT_ENERGY_CHANGE] = change;
  extra[TTT_ENERGY_CHANGE_SUM] += change;
  extra[REFINEMENT_ENERGY_CHANGE_SUM] += change;
  if (!ttt_save_path.empty() && comm->me == 0) {
    try {
      ttt->save(ttt_save_path, update->ntimestep);
    } catch (std::exception &e) {
      // the file is replaced through a temporary name, so the last saved model survives a
      // failed save; losing the run over it would cost more than a missed save
      error->warning(FLERR, "mlff_ttt: could not save the adapted model at step {} (the run "
                     "goes on; an earlier save is left as it was): {}", update->ntimestep,
                     e.what());
    }
  }
  extra[TTT_SECONDS] += platform::walltime() - started;
  if (ttt_log) {
    fmt::print(ttt_log, "{} {:.17g} {:.17g} {} {:.17g} {:.17g} {:.6g}\n", update->ntimestep,
               result.loss_before, result.loss_after, result.rolled_back ? 1 : 0, change, extra[TTT_ENERGY_CHANGE_SUM], extra[TTT_SECONDS]);
    fflush(ttt_log);
  }
}

/* The prior's energy (all ranks, LAMMPS units) and its forces on owned atoms (rows of
   `forces`, n_local + n_ghost x 3, LAMMPS units; ghost rows are not used afterwards). */

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

double PairMLFFTTT::evaluate_prior(std::vector<double> &forces)
{
  const int nlocal = atom->nlocal, ntotal = nlocal + atom->nghost;
  double energy = 0.0;
  if (prior_pair) {
    // into separate storage: atom->f is saved and restored around the prior's compute
    double **f = atom->f;
    std::vector<double> saved(f[0], f[0] + 3 * ntotal);
    std::fill(f[0], f[0] + 3 * ntotal, 0.0);
    // with NULL types the prior sees the model's atoms only, as a sub-style of pair hybrid
    // would: through this style's (skip) list; its own list holds every atom (see
    // init_prior_pair), and manybody styles rely on skip lists to never meet a NULL type
    if (has_null_types && prior_pair->list != list) {    // once per run set-up
      int full = prior_pair->list && is_full_list(prior_pair->list, nlocal) ? 1 : 0;
      MPI_Allreduce(MPI_IN_PLACE, &full, 1, MPI_INT, MPI_MIN, world);    // one verdict
      if (!full)
        error->all(FLERR, "pair_coeff * * prior {}: with NULL atom types the prior must be a "
                   "style with one full neighbor list (tersoff, sw, ...)", prior_args[1]);
      prior_pair->list = list;
    }
    prior_pair->compute(1, 0);
    std::copy(f[0], f[0] + 3 * ntotal, forces.begin());
    std::copy(saved.begin(), saved.end(), f[0]);
    reverse_sum(forces.data(), 3);
    energy = prior_pair->eng_vdwl + prior_pair->eng_coul;
    MPI_Allreduce(MPI_IN_PLACE, &energy, 1, MPI_DOUBLE, MPI_SUM, world);
    return energy;
  }
  // a registry prior sees this (only) rank's atoms as one structure, in eV and A, in the
  // order of their IDs: methods such as GFN-FF differ at 1e-8 with the atom order, and
  // LAMMPS reorders its atoms in memory
  // (atoms of NULL types are not part of it)
  std::vector<int> order;
  for (int i = 0; i < nlocal; i++)
    if (type_to_species[atom->type[i]] >= 0) order.push_back(i);
  std::sort(order.begin(), order.end(),
            [this](int a, int b) { return atom->tag[a] < atom->tag[b]; });
  const int n = static_cast<int>(order.size());
  std::vector<std::string> symbols(n);
  std::vector<double> positions(3 * n), sorted_forces(3 * n);
  for (int k = 0; k < n; k++) {
    symbols[k] = type_elements[atom->type[order[k]] - 1];
    for (int d = 0; d < 3; d++) positions[3 * k + d] = atom->x[order[k]][d];
  }
  const double cell[9] = {domain->xprd, 0.0, 0.0, domain->xy, domain->yprd, 0.0,
                          domain->xz, domain->yz, domain->zprd};
  const bool pbc[3] = {domain->xperiodic != 0, domain->yperiodic != 0, domain->zperiodic != 0};
  const double to_lammps = energy_conversion();
  try {
    energy = ttt->registry_prior(symbols, positions.data(), cell, pbc, sorted_forces.data()) *
        to_lammps;
  } catch (std::exception &e) {
    // a failed prior skips the update (nothing to roll back yet); the run goes on
    error->warning(FLERR, "mlff_ttt: TTT update at step {} skipped: {}", update->ntimestep,
                   e.what());
    return std::numeric_limits<double>::quiet_NaN();
  }
  for (int k = 0; k < n; k++)
    for (int d = 0; d < 3; d++) forces[3 * order[k] + d] = sorted_forces[3 * k + d] * to_lammps;
  return energy;
}

void PairMLFFTTT::reverse_sum(double *values, int width)
{
  communicate(values, width, true);
}

void PairMLFFTTT::forward(double *values, int width)
{
  communicate(values, width, false);
}

/* LAMMPS sizes its communication buffers by comm_forward and comm_reverse, which pair hybrid
   reads from its styles when pair_style is issued, before any model or RR grid is known. So
   both stay at COMM_WIDTH doubles per atom, and wider rows travel in slices. */

void PairMLFFTTT::communicate(double *values, int width, bool reverse)
{
  const int ntotal = atom->nlocal + atom->nghost;
  for (int first = 0; first < width; first += COMM_WIDTH) {
    comm_width = std::min(COMM_WIDTH, width - first);
    comm_buffer.resize(static_cast<size_t>(comm_width) * ntotal);
    for (int i = 0; i < ntotal; i++)
      for (int k = 0; k < comm_width; k++)
        comm_buffer[comm_width * i + k] = values[static_cast<size_t>(width) * i + first + k];
    if (reverse)
      comm->reverse_comm(this, comm_width);
    else
      comm->forward_comm(this, comm_width);
    for (int i = 0; i < ntotal; i++)
      for (int k = 0; k < comm_width; k++)
        values[static_cast<size_t>(width) * i + first + k] = comm_buffer[comm_width * i + k];
  }
}

void PairMLFFTTT::sum(double *values, int n)
{
  MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, world);
}

void PairMLFFTTT::broadcast(double *values, int n)
{
  MPI_Bcast(values, n, MPI_DOUBLE, 0, world);
}

/* The spectral moments of the current structure: owned atoms' degrees, copied to their
   ghosts, this rank's moment sums, summed over ranks. Every rank gets the same result. */

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
  mlff::SpectralResult result;
  try {
    refiner->prepare(*atom_graph, all_radii);
    PairCommunicator(this, *atom_graph, atom->nlocal + atom->nghost)
        .forward(refiner->degrees().data(), refiner->num_radii());
    const std::vector<double> local = refiner->local_sums();
    std::vector<double> global(local.size());
    MPI_Allreduce(local.data(), global.data(), static_cast<int>(local.size()), MPI_DOUBLE,
                  MPI_SUM, world);
    result = refiner->finish(global, static_cast<double>(n_atoms));
  } catch (std::exception &e) {
    error->all(FLERR, "pair_style mlff_ttt at step {}: {}", update->ntimestep, e.what());
  }
  extra[SPECTRAL_DISTANCE] = result.cutoff_distance;
  extra[CONNECTIVITY_SHIFT] = result.connectivity_shift ? 1.0 : 0.0;
  if (all_radii) {
    if (comm->me == 0 && result.radius != radius)
      utils::logmesg(lmp, "mlff_ttt rr: step {} radius {:.4g} A (spectral distance {:.4g} at "
                     "the cutoff, {:.4g} at the chosen radius)\n", update->ntimestep,
                     result.radius, result.cutoff_distance,
                     *std::min_element(result.distances.begin(), result.distances.end()));
    radius = result.radius;
  }
  if (result.connectivity_shift && !warned_connectivity) {
    warned_connectivity = true;
    if (comm->me == 0)
      error->warning(FLERR, "mlff_ttt monitor: connectivity shift at step {}: spectral distance "
                     "{:.4g} exceeds the training mean + 1 std ({:.4g})", update->ntimestep,
                     result.cutoff_distance, refiner->threshold());
  }
}

/* The monitor's force measure: the model's forces on owned atoms (ghost contributions
   brought home first), their mean norm as a z-score against the training structures. Only
   the upper tail is a shift: the label shift the paper describes is larger forces than in
   training, and a structure calmer than the training ones (a perfect crystal) is not one. */

void PairMLFFTTT::monitor_forces(const std::vector<double> &forces)
{
  const auto &info = model->info();
  std::vector<double> owned = forces;
  reverse_sum(owned.data(), 3);
  double local = 0.0;
  for (int i = 0; i < atom->nlocal; i++)
    local += std::sqrt(owned[3 * i] * owned[3 * i] + owned[3 * i + 1] * owned[3 * i + 1] +
                       owned[3 * i + 2] * owned[3 * i + 2]);
  double total = 0.0;
  MPI_Allreduce(&local, &total, 1, MPI_DOUBLE, MPI_SUM, world);
  // the training statistics are in the model's units (eV/A), like `forces`
  const bigint n_atoms = model_atoms();
  if (n_atoms == 0) {    // no atoms: no force measure, no shift
    extra[FORCE_NORM_Z] = extra[FORCE_SHIFT] = 0.0;
    return;
  }
  const double mean_norm = total / static_cast<double>(n_atoms);
  const double z = (mean_norm - info.force_norm_mean) / std::max(info.force_norm_std, 1e-12);
  extra[FORCE_NORM_Z] = z;
  extra[FORCE_SHIFT] = z > 1.0 ? 1.0 : 0.0;
  if (z > 1.0 && !warned_force) {
    warned_force = true;
    if (comm->me == 0)
      error->warning(FLERR, "mlff_ttt monitor: force shift at step {}: mean force norm {:.4g} "
                     "eV/A, z-score {:.3g} against the training set", update->ntimestep,
                     mean_norm, z);
  }
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
  const bool rr_due = (rr_mode == RR_EVERY && step % rr_every == 0) || rr_once_pending;
  const bool monitor_due = monitor_every > 0 && step % monitor_every == 0;
  // (with no atoms to adapt to, there is no update)
  const bool ttt_due = ttt && step % ttt_every == 0 && step != ttt_last_step && model_atoms() > 0;
  rr_once_pending = false;
  const double previous_radius = radius;
  if (rr_due || monitor_due) spectral_update(rr_due);
  extra[RR_RADIUS] = radius;

  // the energy before this step's refinements, when one of them changes it
  const bool radius_changed = radius_evaluated && radius != previous_radius;
  double energy_before = 0.0;
  if (radius_changed) {
    build_graph(previous_radius, true, true, *graph);
    energy_before = model_energy(previous_radius);
  }
  // the graph at the radius in use (the model's own switch makes the cut smooth)
  build_graph(radius, true, true, *graph);
  double energy_before_ttt = 0.0, ttt_started = 0.0;
  mlff::TTTUpdate ttt_result;
  if (ttt_due) {
    ttt_last_step = step;
    ttt_started = platform::walltime();
    energy_before_ttt = model_energy(radius);    // also the overlap check, before TTT
    ttt_result = ttt_update();
  }

  mlff::Results result;
  std::string failure;
  try {
    result = model->compute(*graph, {eflag_atom != 0, vflag_global != 0, vflag_atom != 0},
                            radius);
  } catch (mlff::NonFiniteOutput &e) {
    failure = e.node < 0 ? std::string(e.what())
                         : fmt::format("{} for atom {}", e.what(),
                                       atom->tag[graph->node_atom[e.node]]);
  } catch (std::exception &e) {
    failure = e.what();
  }
  check_step(failure);
  radius_evaluated = true;
  const double scale = energy_conversion();
  if (radius_changed || ttt_due) {
    const double energy = global_energy(result.energy);
    const double before_ttt = ttt_due ? energy_before_ttt : energy;
    if (radius_changed) {
      extra[RR_ENERGY_CHANGE] = (before_ttt - energy_before) * scale;
      extra[REFINEMENT_ENERGY_CHANGE_SUM] += extra[RR_ENERGY_CHANGE];
    }
    if (ttt_due) ttt_record(ttt_result, (energy - energy_before_ttt) * scale, ttt_started);
  }
  const int ntotal = atom->nlocal + atom->nghost;
  mlff::spread_to_atoms(*graph, result.forces.data(), 3, ntotal, atom_forces);
  if (monitor_due) monitor_forces(atom_forces);
  // `compute pair` sums pvector over ranks; every rank holds the same values, so rank 0
  // reports them. They describe this step's energy: its radius and the updates made up to
  // and including this step's.
  for (int k = 0; k < nextra; k++) pvector[k] = comm->me == 0 ? extra[k] : 0.0;

  double **f = atom->f;
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
      for (int d = 0; d < 6; d++) vatom[graph->node_atom[k]][d] += scale * result.node_virial[6 * k + d];

  if (hook && step % hook_every == 0 && step != hook_last_step) {
    hook_last_step = step;
    build_graph(radius, true, false, *atom_graph);
    std::vector<double> positions(3 * atom_graph->n_nodes);
    mlff::gather_from_atoms(*atom_graph, atom->x[0], 3, positions.data());
    try {
      hook->call(*atom_graph, {positions.data(), step, comm->me, comm->nprocs});
    } catch (std::exception &e) {
      error->one(FLERR, "pair_style mlff_ttt: {}", e.what());
    }
  }
}

/* Restart files: the pair_style arguments, then the model and prior lines, so read_restart
   continues a run without pair_coeff lines, then the vector's values and the TTT state. With
   TTT updates made, the adapted model and its optimizer's state are written into the working
   folder (mlff_ttt_adapted_step<N>.pt and .optimizer.pt), and the restart names them: a
   continued run equals an uninterrupted one bit for bit. */

void PairMLFFTTT::write_strings(FILE *fp, const std::vector<std::string> &strings)
{
  const int count = static_cast<int>(strings.size());
  fwrite(&count, sizeof(int), 1, fp);
  for (const auto &text : strings) {
    const int length = static_cast<int>(text.size());
    fwrite(&length, sizeof(int), 1, fp);
    fwrite(text.data(), 1, length, fp);
  }
}

std::vector<std::string> PairMLFFTTT::read_strings(FILE *fp)
{
  // rank 0 reads, every rank gets the strings
  int count = 0;
  if (comm->me == 0) utils::sfread(FLERR, &count, sizeof(int), 1, fp, nullptr, error);
  MPI_Bcast(&count, 1, MPI_INT, 0, world);
  if (count < 0 || count > 100000) error->all(FLERR, "Corrupt pair_style mlff_ttt restart data");
  std::vector<std::string> strings(count);
  for (auto &text : strings) {
    int length = 0;
    if (comm->me == 0) utils::sfread(FLERR, &length, sizeof(int), 1, fp, nullptr, error);
    MPI_Bcast(&length, 1, MPI_INT, 0, world);
    if (length < 0 || length > (1 << 20))
      error->all(FLERR, "Corrupt pair_style mlff_ttt restart data");
    text.resize(length);
    if (comm->me == 0 && length > 0)
      utils::sfread(FLERR, &text[0], 1, length, fp, nullptr, error);
    MPI_Bcast(&text[0], length, MPI_CHAR, 0, world);
  }
  return strings;
}

void PairMLFFTTT::write_restart_settings(FILE *fp)
{
  write_strings(fp, settings_args);
}

void PairMLFFTTT::read_restart_settings(FILE *fp)
{
  std::vector<std::string> args = read_strings(fp);
  std::vector<char *> argv = argv_of(args);
  settings(static_cast<int>(argv.size()), argv.data());
}

void PairMLFFTTT::write_restart(FILE *fp)
{
  write_restart_settings(fp);    // LAMMPS calls only this one; settings come first
  std::vector<std::string> model_line = model_args, optimizer_file;
  if (ttt && extra[TTT_UPDATES] > 0) {
    const std::string adapted = fmt::format("mlff_ttt_adapted_step{}.pt", update->ntimestep);
    const std::string optimizer = fmt::format("mlff_ttt_adapted_step{}.optimizer.pt",
                                              update->ntimestep);
    try {
      ttt->save(adapted, update->ntimestep);    // write_restart runs on rank 0 only
      ttt->save_optimizer(optimizer);
    } catch (std::exception &e) {
      error->one(FLERR, "pair_style mlff_ttt: cannot write the adapted model for the restart "
                 "file: {}", e.what());
    }
    model_line[0] = absolute_path(adapted);
    optimizer_file.push_back(absolute_path(optimizer));
  }
  write_strings(fp, model_line);
  write_strings(fp, prior_args);
  const int num_extra = NUM_EXTRA;    // read back first: a file of another layout is refused
  fwrite(&num_extra, sizeof(int), 1, fp);
  fwrite(extra, sizeof(double), NUM_EXTRA, fp);
  write_strings(fp, optimizer_file);
  fwrite(&ttt_last_step, sizeof(bigint), 1, fp);
}

void PairMLFFTTT::read_restart(FILE *fp)
{
  read_restart_settings(fp);
  const std::vector<std::string> model_line = read_strings(fp);
  const std::vector<std::string> prior_line = read_strings(fp);
  int num_extra = 0;
  if (comm->me == 0) utils::sfread(FLERR, &num_extra, sizeof(int), 1, fp, nullptr, error);
  MPI_Bcast(&num_extra, 1, MPI_INT, 0, world);
  if (num_extra != NUM_EXTRA)
    error->all(FLERR, "This restart file's pair_style mlff_ttt record is of another release "
               "({} counters, this one keeps {}): re-issue pair_style and pair_coeff",
               num_extra, static_cast<int>(NUM_EXTRA));
  if (comm->me == 0) utils::sfread(FLERR, extra, sizeof(double), NUM_EXTRA, fp, nullptr, error);
  MPI_Bcast(extra, NUM_EXTRA, MPI_DOUBLE, 0, world);
  const std::vector<std::string> optimizer_file = read_strings(fp);
  bigint last_step = -1;
  if (comm->me == 0) utils::sfread(FLERR, &last_step, sizeof(bigint), 1, fp, nullptr, error);
  MPI_Bcast(&last_step, 1, MPI_LMP_BIGINT, 0, world);
  for (const auto *line : {&model_line, &prior_line}) {
    if (line->empty()) continue;
    std::vector<std::string> args{"*", "*"};
    args.insert(args.end(), line->begin(), line->end());
    std::vector<char *> argv = argv_of(args);
    coeff(static_cast<int>(argv.size()), argv.data());
  }
  // after coeff, which starts TTT and RR afresh: the bridge restores TTT when it is created,
  // and the radius in use when the restart was written stays in use
  ttt_last_step = last_step;
  if (extra[RR_RADIUS] > 0.0) {
    radius = extra[RR_RADIUS];
    radius_evaluated = true;
  }
  ttt_optimizer_file = optimizer_file.empty() ? "" : optimizer_file[0];
}

/* Communication of comm_buffer (comm_width doubles per atom): forward copies owned atoms'
   values to their ghosts (RR degrees), reverse sums ghosts' values into their owners
   (the monitor's forces). */

int PairMLFFTTT::pack_forward_comm(int n, int *list, double *buf, int, int *)
{
  int m = 0;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < comm_width; k++) buf[m++] = comm_buffer[comm_width * list[i] + k];
  return m;
}

void PairMLFFTTT::unpack_forward_comm(int n, int first, double *buf)
{
  int m = 0;
  for (int i = first; i < first + n; i++)
    for (int k = 0; k < comm_width; k++) comm_buffer[comm_width * i + k] = buf[m++];
}

int PairMLFFTTT::pack_reverse_comm(int n, int first, double *buf)
{
  int m = 0;
  for (int i = first; i < first + n; i++)
    for (int k = 0; k < comm_width; k++) buf[m++] = comm_buffer[comm_width * i + k];
  return m;
}

void PairMLFFTTT::unpack_reverse_comm(int n, int *list, double *buf)
{
  int m = 0;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < comm_width; k++) comm_buffer[comm_width * list[i] + k] += buf[m++];
}
