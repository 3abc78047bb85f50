/* The restart record of pair_style mlff_ttt, so that read_restart continues a run without
   pair_style or pair_coeff lines: the pair_style arguments first (all that pair hybrid keeps
   of a sub-style, through write_restart_settings), then the model and prior lines, each as
   given after "* *", the `compute pair` vector and the TTT state. Rank 0 writes and reads;
   every rank gets what is read. */
#pragma once

#include "lmptype.h"

#include <cstdio>
#include <string>
#include <vector>

namespace LAMMPS_NS {
class LAMMPS;

namespace mlff_ttt {

// What follows the pair_style arguments, in file order.
struct RestartState {
  std::vector<std::string> model_line;    // model path (absolute), element symbols
  std::vector<std::string> prior_line;    // "prior" STYLE ... (empty: no prior line)
  std::vector<double> vector;             // the `compute pair` vector
  std::string optimizer_file;             // TTT optimizer state (absolute; empty: none)
  bigint ttt_last_step = -1;
};

void write_restart_strings(FILE *fp, const std::vector<std::string> &strings);
std::vector<std::string> read_restart_strings(LAMMPS *lmp, FILE *fp);

void write_restart_state(FILE *fp, const RestartState &state);
// A record whose vector is not `vector_size` long is of another release: a LAMMPS error.
RestartState read_restart_state(LAMMPS *lmp, FILE *fp, int vector_size);

// The absolute form of a path (as given when it does not resolve): how restart files name
// files, since read_restart may run in another folder.
std::string absolute_path(const std::string &path);

// An argument vector over strings that outlive it (LAMMPS's settings/coeff take char **), to
// replay the lines a restart file holds.
std::vector<char *> argv_of(std::vector<std::string> &args);

}    // namespace mlff_ttt
}    // namespace LAMMPS_NS
