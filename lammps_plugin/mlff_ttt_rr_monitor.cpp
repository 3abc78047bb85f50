#include "mlff_ttt_rr_monitor.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "update.h"
#include "utils.h"

#include "mlff_ttt_comm.h"
#include "mlff_ttt_errors.h"
#include "mlff_ttt_options.h"
#include "mlff_ttt_vector.h"

#include "force_statistics.h"
#include "graph.h"
#include "radius_refiner.h"

#include <algorithm>

using namespace LAMMPS_NS;
using namespace LAMMPS_NS::mlff_ttt;

RRMonitor::RRMonitor(LAMMPS *lmp, Options &options, GhostComm &ghost_comm) :
    Pointers(lmp), options(options), ghost_comm(ghost_comm)
{
}

RRMonitor::~RRMonitor() = default;

void RRMonitor::init(const mlff::ModelInfo &info)
{
  const bool monitor_on =
      options.monitor_every > 0 && (options.monitor_given || info.has_statistics());
  if (!monitor_on) options.monitor_every = 0;
  if (!options.monitor_given && info.has_outdated_statistics() && comm->me == 0)
    error->warning(FLERR, "pair_style mlff_ttt: the monitor is off: {}", info.statistics_problem());
  refiner.reset();
  const bool rr_on = options.rr_mode != Options::RR_OFF;
  if (rr_on || monitor_on) {
    try {
      // `device cuda`: the moments on the GPU too (a build with a CUDA torch but no nvcc has
      // no kernel for them, and says so here)
      refiner = std::make_unique<mlff::RadiusRefiner>(info, options.rr_grid, !options.rr_grid_given,
                                                      mlff::moment_device(options.device));
    } catch (std::exception &e) {
      error->all(FLERR, "pair_style mlff_ttt {}: {}", rr_on ? "rr" : "monitor", e.what());
    }
  }
  // The radius RR chose stays in use across runs, as it would within one run (a second `run`
  // continues the first): only pair_style, pair_coeff and read_restart set it. `rr once`
  // chooses again at the first force call of each run.
  rr_once_pending = options.rr_mode == Options::RR_ONCE;
}

void RRMonitor::log_settings()
{
  const bool rr_on = options.rr_mode != Options::RR_OFF;
  if (comm->me == 0 && refiner) {
    std::string grid;
    for (double r : refiner->grid()) grid += fmt::format(" {:.4g}", r);
    utils::logmesg(lmp, "mlff_ttt: rr {}, grid{} A; monitor {}\n",
                   !rr_on ? "off" : options.rr_mode == Options::RR_ONCE ? "once" :
                   fmt::format("every {}", options.rr_every), grid,
                   options.monitor_every ? fmt::format("every {} steps", options.monitor_every)
                                         : "off");
  }
}

bool RRMonitor::rr_due(bigint step)
{
  const bool due =
      (options.rr_mode == Options::RR_EVERY && step % options.rr_every == 0) || rr_once_pending;
  rr_once_pending = false;
  return due;
}

bool RRMonitor::monitor_due(bigint step) const
{
  return options.monitor_every > 0 && step % options.monitor_every == 0;
}

/* Owned atoms' degrees, copied to their ghosts, this rank's moment sums, summed over ranks.
   Each step on this rank's atoms ends in the collective verdict before the communication that
   needs every rank (see mlff_ttt_errors.cpp). */

void RRMonitor::spectral_update(const mlff::Graph &atom_graph, bool all_radii, double n_atoms,
                                double &radius, double *vector)
{
  std::vector<double> local;
  end_if_any_rank_failed(lmp, failure_of([&] { refiner->prepare(atom_graph, all_radii); }));
  GraphCommunicator(ghost_comm, atom_graph, atom->nlocal + atom->nghost)
      .forward(refiner->degrees().data(), refiner->num_radii());
  end_if_any_rank_failed(lmp, failure_of([&] { local = refiner->local_sums(); }));
  std::vector<double> global(local.size());
  MPI_Allreduce(local.data(), global.data(), static_cast<int>(local.size()), MPI_DOUBLE,
                MPI_SUM, world);
  mlff::SpectralResult result;
  end_if_any_rank_failed(lmp, failure_of([&] { result = refiner->finish(global, n_atoms); }));
  vector[SPECTRAL_DISTANCE] = result.cutoff_distance;
  vector[CONNECTIVITY_SHIFT] = result.connectivity_shift ? 1.0 : 0.0;
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

void RRMonitor::monitor_forces(const std::vector<double> &forces, bigint n_atoms,
                               const mlff::ModelInfo &info, double *vector)
{
  if (n_atoms == 0) {    // no atoms: no force measure, no shift
    vector[FORCE_NORM_Z] = vector[FORCE_SHIFT] = 0.0;
    return;
  }
  std::vector<double> owned = forces;
  ghost_comm.reverse_sum(owned.data(), 3);
  const double local = mlff::force_norm_sum(owned.data(), atom->nlocal);
  double total = 0.0;
  MPI_Allreduce(&local, &total, 1, MPI_DOUBLE, MPI_SUM, world);
  // the training statistics are in the model's units (eV/A), like `forces`
  const double mean_norm = total / static_cast<double>(n_atoms);
  const mlff::ForceShift shift = mlff::force_shift(mean_norm, info);
  vector[FORCE_NORM_Z] = shift.z;
  vector[FORCE_SHIFT] = shift.shift ? 1.0 : 0.0;
  if (shift.shift && !warned_force) {
    warned_force = true;
    if (comm->me == 0)
      error->warning(FLERR, "mlff_ttt monitor: force shift at step {}: mean force norm {:.4g} "
                     "eV/A, z-score {:.3g} against the training set", update->ntimestep,
                     mean_norm, shift.z);
  }
}
