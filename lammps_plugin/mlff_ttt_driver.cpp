#include "mlff_ttt_driver.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "platform.h"
#include "update.h"
#include "utils.h"

#include "mlff_ttt_comm.h"
#include "mlff_ttt_options.h"
#include "mlff_ttt_prior.h"
#include "mlff_ttt_restart.h"
#include "mlff_ttt_vector.h"

#include "graph.h"
#include "model_runner.h"

#include <algorithm>
#include <cmath>
#include <exception>

using namespace LAMMPS_NS;
using namespace LAMMPS_NS::mlff_ttt;

TTTDriver::TTTDriver(LAMMPS *lmp, const Options &options, Prior &prior, GhostComm &ghost_comm) :
    Pointers(lmp), options(options), prior(prior), ghost_comm(ghost_comm)
{
}

TTTDriver::~TTTDriver()
{
  close_log();
}

void TTTDriver::close_log()
{
  if (log_file) fclose(log_file);
  log_file = nullptr;
}

void TTTDriver::start(const std::string &model_path)
{
  told_skip = false;    // init_style: once per run
  if (!bridge) {
    try {
      bridge = std::make_unique<mlff::TTTBridge>(model_path, options.ttt, options.device);
      if (!optimizer_file.empty()) bridge->load_optimizer(optimizer_file);
      optimizer_file.clear();
      const std::string mismatch = bridge->prior_mismatch(prior.line());
      if (!mismatch.empty() && comm->me == 0) error->warning(FLERR, "mlff_ttt: {}", mismatch);
    } catch (std::exception &e) {
      error->all(FLERR, "pair_style mlff_ttt: {}", e.what());
    }
  }
  if (comm->me == 0 && !options.ttt_log_path.empty() && !log_file) {
    log_file = fopen(options.ttt_log_path.c_str(), "w");
    if (!log_file) error->one(FLERR, "Cannot open TTT log file {}", options.ttt_log_path);
    fputs("# step loss_before loss_after rolled_back energy_change energy_change_sum seconds "
          "skipped\n", log_file);
  }
}

bool TTTDriver::due(bigint step) const
{
  return bridge && step % options.ttt_every == 0 && step != last_step;
}

double TTTDriver::begin(bigint step)
{
  last_step = step;
  return platform::walltime();
}

mlff::TTTUpdate TTTDriver::adapt(mlff::ModelRunner &model, const mlff::Graph &graph,
                                 NeighList *list, const TypeMap &types, bigint n_atoms,
                                 double radius, double scale)
{
  mlff::TTTUpdate result;
  if (!bridge->off_reason().empty()) {    // nothing can change: the prior would be discarded
    result.skipped = true;
    result.loss_before = result.loss_after = std::nan("");
    result.reason = bridge->off_reason();
    tell_skip(result);
    return result;
  }
  const int ntotal = atom->nlocal + atom->nghost;
  std::vector<double> prior_forces(3 * ntotal, 0.0);
  const double prior_energy = prior.evaluate(prior_forces, list, types, scale) / scale;
  for (auto &v : prior_forces) v /= scale;
  // a non-finite prior (NaN energy from a failed registry prior, or a pair style's output)
  // reaches the engine, whose loss is then non-finite: the update is rolled back there

  GraphCommunicator bridge_comm(ghost_comm, graph, ntotal);
  std::vector<double> node_prior_forces(3 * graph.n_nodes);
  mlff::gather_from_atoms(graph, prior_forces.data(), 3, node_prior_forces.data());
  try {
    result = bridge->update(graph, node_prior_forces.data(), prior_energy, n_atoms, radius,
                            bridge_comm);
    model.set_parameters(bridge->parameter_names(), result.values);
  } catch (std::exception &e) {
    error->one(FLERR, "pair_style mlff_ttt at step {}: {}", update->ntimestep, e.what());
  }
  if (result.rolled_back && comm->me == 0)
    error->warning(FLERR, "mlff_ttt: TTT update at step {} rolled back: {}", update->ntimestep,
                   result.reason);
  tell_skip(result);
  return result;
}

void TTTDriver::tell_skip(const mlff::TTTUpdate &result)
{
  // the gate's decision, once per run: at every `ttt every N` it would flood the screen; the
  // TTT log file has a line per step
  if (result.skipped && !told_skip && comm->me == 0) {
    utils::logmesg(lmp, "mlff_ttt: step {}: {} (later decisions of this run: the TTT log "
                   "file and compute pair mlff_ttt)\n", update->ntimestep, result.reason);
    told_skip = true;
  }
}

void TTTDriver::prior_residual(mlff::ModelRunner &model, const mlff::DeviceGraph &uploaded,
                               NeighList *list, const TypeMap &types, double radius,
                               double scale, double *residual)
{
  const mlff::Graph &graph = uploaded.graph();
  const int ntotal = atom->nlocal + atom->nghost;
  std::vector<double> prior_forces(3 * ntotal, 0.0);
  prior.evaluate(prior_forces, list, types, scale);    // owned rows: totals
  std::vector<double> head;
  try {
    head = model.prior_head_forces(uploaded, radius);
  } catch (std::exception &e) {
    error->one(FLERR, "pair_style mlff_ttt prior_residual at step {}: {}", update->ntimestep,
               e.what());
  }
  GraphCommunicator graph_comm(ghost_comm, graph, ntotal);
  graph_comm.reverse_sum(head.data(), 3);    // ghosts' rows into their owners'
  std::fill(residual, residual + atom->nlocal, 0.0);
  for (int64_t k = 0; k < graph.n_local; k++) {
    const int64_t i = graph.node_atom[k];
    double squared = 0.0;
    for (int d = 0; d < 3; d++) {
      const double difference = scale * head[3 * k + d] - prior_forces[3 * i + d];
      squared += difference * difference;
    }
    residual[i] = std::sqrt(squared);
  }
}

void TTTDriver::save_adapted(bigint step)
{
  if (options.ttt_save_path.empty() || comm->me != 0) return;
  try {
    bridge->save(options.ttt_save_path, step);
  } catch (std::exception &e) {
    // the file is replaced through a temporary name, so the last saved model survives a
    // failed save; losing the run over it would cost more than a missed save
    error->warning(FLERR, "mlff_ttt: could not save the adapted model at step {} (the run "
                   "goes on; an earlier save is left as it was): {}", step, e.what());
  }
}

void TTTDriver::record(bigint step, const mlff::TTTUpdate &result, double change,
                       double started, double *vector)
{
  if (!result.rolled_back && !result.skipped) vector[TTT_UPDATES] += 1.0;
  vector[TTT_LOSS_BEFORE] = result.loss_before;
  vector[TTT_LOSS_AFTER] = result.loss_after;
  vector[TTT_ENERGY_CHANGE] = change;
  vector[TTT_ENERGY_CHANGE_SUM] += change;
  vector[REFINEMENT_ENERGY_CHANGE_SUM] += change;
  if (!result.skipped) save_adapted(step);
  vector[TTT_SECONDS] += platform::walltime() - started;
  if (!log_file) return;
  fmt::print(log_file, "{} {:.17g} {:.17g} {} {:.17g} {:.17g} {:.6g} {}\n", step,
             result.loss_before, result.loss_after, result.rolled_back ? 1 : 0, change,
             vector[TTT_ENERGY_CHANGE_SUM], vector[TTT_SECONDS], result.skipped ? 1 : 0);
  fflush(log_file);
}

TTTDriver::AdaptedFiles TTTDriver::write_adapted_files(bigint step)
{
  const std::string model_file = fmt::format("mlff_ttt_adapted_step{}.pt", step);
  const std::string optimizer = fmt::format("mlff_ttt_adapted_step{}.optimizer.pt", step);
  try {
    bridge->save(model_file, step);
    bridge->save_optimizer(optimizer);
  } catch (std::exception &e) {
    error->one(FLERR, "pair_style mlff_ttt: cannot write the adapted model for the restart "
               "file: {}", e.what());
  }
  return {absolute_path(model_file), absolute_path(optimizer)};
}

void TTTDriver::restore(bigint last_update_step, const std::string &optimizer_state_file)
{
  last_step = last_update_step;
  optimizer_file = optimizer_state_file;
}
