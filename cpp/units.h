// The unit styles a model's energies can be in and the factor between them. LAMMPS's metal
// (eV) and real (kcal/mol) styles differ in their energy unit only (both measure length in A),
// and the factor is the ratio of the Boltzmann constants LAMMPS uses for them, so converted
// model energies agree with LAMMPS's own thermal energies.
#pragma once

#include <string>

namespace mlff {

// Boltzmann constants of LAMMPS's unit styles (src/update.cpp): metal, eV/K; real, kcal/mol/K.
constexpr double kBoltzmannMetal = 8.617343e-5;
constexpr double kBoltzmannReal = 0.0019872067;

// The Boltzmann constant of a unit style ("real", else metal).
inline double boltzmann_constant(const std::string& units) {
  return units == "real" ? kBoltzmannReal : kBoltzmannMetal;
}

// What an energy (or force) in `from` units is multiplied by to be in `to` units.
inline double energy_conversion(const std::string& from, const std::string& to) {
  return boltzmann_constant(to) / boltzmann_constant(from);
}

}  // namespace mlff
