// A prior of the Python registry (mlff_ttt.priors, or a module:Class of the user's own)
// evaluated on a whole structure through pybind11: what `pair_coeff * * prior python NAME
// k=v ...` names. TTT fits the prior head to it; a model delta-learned on it has it added at
// every step. One object per deck line, chosen once, then evaluated per structure. No LAMMPS
// or MPI here: the pair style gathers the structure (one rank holds all atoms).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mlff {

using PriorParams = std::vector<std::pair<std::string, std::string>>;

class RegistryPrior {
 public:
  // `elements`: the run's elements, so a prior without parameters for one is refused here,
  // at set-up. `timeout`: seconds one evaluation may take (0: no limit). Throws
  // std::runtime_error.
  RegistryPrior(const std::string& name, const PriorParams& params,
                const std::vector<std::string>& elements, double timeout);
  ~RegistryPrior();
  RegistryPrior(const RegistryPrior&) = delete;
  RegistryPrior& operator=(const RegistryPrior&) = delete;

  // cell: 3 lattice vectors (rows, A); positions n x 3. Returns the energy (eV); forces
  // (n x 3, eV/A) in place. A prior that raises or runs past the timeout throws
  // std::runtime_error.
  double evaluate(const std::vector<std::string>& symbols, const double* positions,
                  const double* cell, const bool* pbc, double* forces);
  double timeout() const { return timeout_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  double timeout_ = 0.0;
};

// Whether the deck's `prior python NAME k=v ...` is the prior spec `spec` (a model file's
// delta_prior), both read as prior specs (values that read as numbers compared as numbers).
// Throws std::runtime_error when either cannot be read.
bool is_prior_spec(const std::string& spec, const std::string& name, const PriorParams& params);

}  // namespace mlff
