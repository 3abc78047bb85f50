/* pair_style mlff_ttt: thin LAMMPS glue around the mlff-ttt C++ core.
   Turns LAMMPS's full neighbor list (with ghosts) into the core's graph, and scatters the
   returned energies, forces and virials back. No physics or ML lives here. */
#pragma once

#include "pair.h"

#include <memory>
#include <string>
#include <vector>

namespace mlff {
class ModelRunner;
class PythonHook;
struct Graph;
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

 protected:
  void allocate();
  void build_graph();
  double energy_conversion() const;

  std::unique_ptr<mlff::ModelRunner> model;
  std::unique_ptr<mlff::Graph> graph;
  std::vector<int> type_to_species;    // LAMMPS type (1-based) -> model element index

  std::unique_ptr<mlff::PythonHook> hook;
  std::string hook_target;
  bigint hook_every;
};

}    // namespace LAMMPS_NS
