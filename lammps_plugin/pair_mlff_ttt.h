/* pair_style mlff_ttt: LAMMPS glue around the mlff-ttt C++ core (cpp/). Turns LAMMPS's full
   neighbor list (with ghosts) into the core's graph, scatters the returned energies, forces
   and virials back, and schedules RR, the shift monitor, test-time training and the hook.
   No physics or ML lives here: the model, the spectral and force statistics, the unit
   conversion and the TTT engine are the core's. Beside this file: the keywords
   (mlff_ttt_options), the atom types the model sees (mlff_ttt_types), communication
   (mlff_ttt_comm), RR and the monitor (mlff_ttt_rr_monitor), the TTT prior (mlff_ttt_prior)
   and driver (mlff_ttt_driver), the hook (mlff_ttt_hook), the vector (mlff_ttt_vector), the
   restart record (mlff_ttt_restart) and the error policy (mlff_ttt_errors). */
#pragma once

#include "pair.h"

#include "mlff_ttt_comm.h"
#include "mlff_ttt_driver.h"
#include "mlff_ttt_hook.h"
#include "mlff_ttt_options.h"
#include "mlff_ttt_prior.h"
#include "mlff_ttt_rr_monitor.h"
#include "mlff_ttt_types.h"
#include "mlff_ttt_vector.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace mlff {
class DeviceGraph;
class ModelRunner;
struct Graph;
struct Results;
}    // namespace mlff

namespace LAMMPS_NS {

class PairMLFFTTT : public Pair {
 public:
  PairMLFFTTT(class LAMMPS *);
  ~PairMLFFTTT() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;

  void write_restart(FILE *) override;
  void read_restart(FILE *) override;
  void write_restart_settings(FILE *) override;
  void read_restart_settings(FILE *) override;

  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;
  // `fix ID group pair N mlff_ttt prior_residual 1`: the per-atom label-free error signal
  void *extract(const char *, int &) override;
  void *extract_peratom(const char *, int &) override;

 protected:
  void allocate();
  void build_graph(double cutoff, bool prune, bool fold, mlff::Graph &out);
  bigint model_atoms();                // atoms the model sees, over all ranks
  double energy_conversion() const;    // model units -> LAMMPS units
  // Whether this step's forces go layer by layer with features exchanged (Options::exchange)
  bool exchanges_features();    // collective (auto sums the ranks' work)
  double model_energy(const mlff::DeviceGraph &uploaded, double at_radius);
  double global_energy(double local_energy);
  void spectral_update(bool all_radii);
  void add_to_lammps(const mlff::Results &result, double scale);

  mlff_ttt::Options options;                       // the pair_style keywords
  std::vector<std::string> settings_args;          // as given, for restart files

  // the model line: the model, its path as given and (made absolute) with the elements for
  // restart files, and which atom types it sees
  std::unique_ptr<mlff::ModelRunner> model;
  std::string model_path;
  std::vector<std::string> model_args;
  mlff_ttt::TypeMap types;

  double radius = 0.0;                 // in use: the trained cutoff unless RR chose another
  bool radius_evaluated = false;       // a force call has used `radius` (a change then counts)
  double extra[mlff_ttt::NUM_EXTRA] = {};    // the vector (mlff_ttt_vector.h), same on all ranks

  // what the model evaluates: periodic images folded onto their owners, so a rank that spans
  // a periodic direction whole evaluates each atom once
  std::unique_ptr<mlff::Graph> graph;
  // every owned and ghost atom in LAMMPS's order, as the spectral kernel and the hook see
  // the structure (the kernel's ghost communication works per LAMMPS atom)
  std::unique_ptr<mlff::Graph> atom_graph;
  std::vector<int> image_owner;        // find_image_owners of the current atoms (storage)
  std::vector<double> atom_forces;     // the model's forces per LAMMPS atom (owned + ghost)
  std::vector<unsigned char> excluded_atoms;    // per owned and ghost atom: of a NULL type

  mlff_ttt::GhostComm ghost_comm;
  mlff_ttt::RRMonitor rr_monitor;      // `rr ...`, `monitor ...`
  mlff_ttt::Prior prior;               // `pair_coeff * * prior ...`
  mlff_ttt::TTTDriver ttt;             // `ttt every N ...`

  mlff_ttt::Hook hook;                 // `hook every N ...`
  // the prior residual per owned atom, on the steps fix pair sets the flag (TTTDriver)
  int prior_residual_flag = 0;
  std::vector<double> prior_residual;
};

}    // namespace LAMMPS_NS
