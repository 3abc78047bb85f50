/* pair_style mlff_ttt: thin LAMMPS glue around the mlff-ttt C++ core.
   Turns LAMMPS's full neighbor list (with ghosts) into the core's graph, and scatters the
   returned energies, forces and virials back. No physics or ML lives here. */
#pragma once

#include "pair.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace mlff {
class ModelRunner;
class PythonHook;
class RadiusRefiner;
class TTTBridge;
struct Graph;
struct TTTUpdate;
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

  // Entries of the `compute pair mlff_ttt` vector, in this order.
  enum {
    RR_RADIUS, SPECTRAL_DISTANCE, FORCE_NORM_Z, CONNECTIVITY_SHIFT, FORCE_SHIFT,
    TTT_UPDATES, TTT_LOSS_BEFORE, TTT_LOSS_AFTER, TTT_ENERGY_CHANGE, TTT_ENERGY_CHANGE_SUM,
    TTT_SECONDS, RR_ENERGY_CHANGE, REFINEMENT_ENERGY_CHANGE_SUM, NUM_EXTRA
  };

  // The engine's ghost communication and MPI sums, for the TTT bridge: values hold `width`
  // doubles per owned and ghost atom.
  void reverse_sum(double *values, int width);
  void forward(double *values, int width);
  void sum(double *values, int n);
  void broadcast(double *values, int n);

 protected:
  void allocate();
  void build_graph(double cutoff, bool prune, bool fold, mlff::Graph &out);
  double energy_conversion() const;
  void check_step(const std::string &failure);
  void spectral_update(bool all_radii);
  void monitor_forces(const std::vector<double> &forces);
  void prior_coeff(int narg, char **arg);
  void init_prior();
  void init_prior_pair();
  bool prior_init_pending;             // init_one sets the prior pair style up
  void check_prior_elements();
  mlff::TTTUpdate ttt_update();
  void ttt_record(const mlff::TTTUpdate &result, double change, double started);
  double global_energy(double local_energy);
  double evaluate_prior(std::vector<double> &forces);    // this rank's share of this step's energy
  double model_energy(double at_radius);

  enum RRMode { RR_OFF, RR_ONCE, RR_EVERY };
  RRMode rr_mode;
  bigint rr_every;
  std::vector<double> rr_grid;         // as given by rr_grid (empty: the model's radii)
  bool rr_grid_given;
  double min_distance;                 // closer atoms are an error (A); 0: no check
  std::string device;                  // where the model runs: "cpu" or "cuda"
  int monitor_every;                   // 0: off
  bool monitor_given;                  // `monitor every N` written in the deck
  bool rr_once_pending;
  double radius;                       // in use: the trained cutoff unless RR chose another
  bool radius_evaluated;               // a force call has used `radius` (a change then counts)
  bool warned_connectivity, warned_force;
  bool warned_unused_prior = false;    // a prior line without `ttt` is said once
  double extra[NUM_EXTRA];             // the vector's values, the same on every rank
  std::unique_ptr<mlff::RadiusRefiner> refiner;
  std::vector<double> comm_buffer;     // what forward/reverse communication moves
  int comm_width;                      // doubles per atom in comm_buffer
  static constexpr int COMM_WIDTH = 3; // at most, per message
  void communicate(double *values, int width, bool reverse);

  // test-time training: `ttt every N steps K lr X ...` and the prior of `pair_coeff * * prior`
  bigint ttt_every;
  int ttt_steps;
  double ttt_lr, ttt_max_change;
  double ttt_prior_timeout;            // seconds a Python prior may take (0: no limit)
  std::string ttt_optimizer, ttt_log_path, ttt_save_path;
  std::string model_path;
  std::unique_ptr<Pair> prior_pair;    // a LAMMPS pair style evaluated as the prior, or
  std::string prior_python;            // the name of a registry prior (one rank only)
  std::vector<std::pair<std::string, std::string>> prior_params;
  std::vector<std::string> type_elements, prior_elements;
  std::unique_ptr<mlff::TTTBridge> ttt;
  FILE *ttt_log;
  bigint ttt_last_step;                // an update per step at most (a run's set-up repeats it)
  std::string ttt_optimizer_file;      // optimizer state of a restart file, for the bridge

  // what restart files carry: the pair_style arguments, the model line (model path made
  // absolute, elements) and the prior line, each as given after "* *"
  std::vector<std::string> settings_args, model_args, prior_args;
  void write_strings(FILE *fp, const std::vector<std::string> &strings);
  std::vector<std::string> read_strings(FILE *fp);

  std::unique_ptr<mlff::ModelRunner> model;
  // what the model evaluates: periodic images folded onto their owners, so a rank that spans
  // a periodic direction whole evaluates each atom once
  std::unique_ptr<mlff::Graph> graph;
  // every owned and ghost atom in LAMMPS's order, as the spectral kernel and the hook see
  // the structure (the kernel's ghost communication works per LAMMPS atom)
  std::unique_ptr<mlff::Graph> atom_graph;
  std::vector<int> image_owner;        // find_image_owners of the current atoms (storage)
  std::vector<double> atom_forces;     // the model's forces per LAMMPS atom (owned + ghost)
  std::vector<int> type_to_species;    // LAMMPS type (1-based) -> model element index (-1: NULL)
  bool has_null_types;                 // some type is NULL: its atoms are not in the graphs
  std::vector<unsigned char> excluded_atoms;    // per owned and ghost atom: of a NULL type
  bigint model_atoms();                // atoms the model sees, over all ranks

  std::unique_ptr<mlff::PythonHook> hook;
  std::string hook_target;
  bigint hook_every;
  bigint hook_last_step;               // the hook sees each step once (a run's set-up repeats it)
};

}    // namespace LAMMPS_NS
