#include "mlff_ttt_restart.h"

#include "comm.h"
#include "error.h"
#include "lammps.h"
#include "utils.h"

#include <cstdlib>

using namespace LAMMPS_NS;

namespace {

// n values of rank 0's file, on every rank.
template <typename T>
void read_value(LAMMPS *lmp, FILE *fp, T *values, int n, MPI_Datatype type)
{
  if (lmp->comm->me == 0)
    utils::sfread(FLERR, values, sizeof(T), n, fp, nullptr, lmp->error);
  MPI_Bcast(values, n, type, 0, lmp->world);
}

}    // namespace

void mlff_ttt::write_restart_strings(FILE *fp, const std::vector<std::string> &strings)
{
  const int count = static_cast<int>(strings.size());
  fwrite(&count, sizeof(int), 1, fp);
  for (const auto &text : strings) {
    const int length = static_cast<int>(text.size());
    fwrite(&length, sizeof(int), 1, fp);
    fwrite(text.data(), 1, length, fp);
  }
}

std::vector<std::string> mlff_ttt::read_restart_strings(LAMMPS *lmp, FILE *fp)
{
  int count = 0;
  read_value(lmp, fp, &count, 1, MPI_INT);
  if (count < 0 || count > 100000)
    lmp->error->all(FLERR, "Corrupt pair_style mlff_ttt restart data");
  std::vector<std::string> strings(count);
  for (auto &text : strings) {
    int length = 0;
    read_value(lmp, fp, &length, 1, MPI_INT);
    if (length < 0 || length > (1 << 20))
      lmp->error->all(FLERR, "Corrupt pair_style mlff_ttt restart data");
    text.resize(length);
    if (lmp->comm->me == 0 && length > 0)
      utils::sfread(FLERR, &text[0], 1, length, fp, nullptr, lmp->error);
    MPI_Bcast(&text[0], length, MPI_CHAR, 0, lmp->world);
  }
  return strings;
}

void mlff_ttt::write_restart_state(FILE *fp, const RestartState &state)
{
  write_restart_strings(fp, state.model_line);
  write_restart_strings(fp, state.prior_line);
  const int size = static_cast<int>(state.vector.size());    // read back first: a file of
  fwrite(&size, sizeof(int), 1, fp);                          // another layout is refused
  fwrite(state.vector.data(), sizeof(double), size, fp);
  std::vector<std::string> optimizer_file;
  if (!state.optimizer_file.empty()) optimizer_file.push_back(state.optimizer_file);
  write_restart_strings(fp, optimizer_file);
  fwrite(&state.ttt_last_step, sizeof(bigint), 1, fp);
}

mlff_ttt::RestartState mlff_ttt::read_restart_state(LAMMPS *lmp, FILE *fp, int vector_size)
{
  RestartState state;
  state.model_line = read_restart_strings(lmp, fp);
  state.prior_line = read_restart_strings(lmp, fp);
  int size = 0;
  read_value(lmp, fp, &size, 1, MPI_INT);
  if (size != vector_size)
    lmp->error->all(FLERR, "This restart file's pair_style mlff_ttt record is of another release "
                    "({} counters, this one keeps {}): re-issue pair_style and pair_coeff",
                    size, vector_size);
  state.vector.resize(size);
  read_value(lmp, fp, state.vector.data(), size, MPI_DOUBLE);
  const std::vector<std::string> optimizer_file = read_restart_strings(lmp, fp);
  state.optimizer_file = optimizer_file.empty() ? "" : optimizer_file[0];
  read_value(lmp, fp, &state.ttt_last_step, 1, MPI_LMP_BIGINT);
  return state;
}

std::string mlff_ttt::absolute_path(const std::string &path)
{
  char *resolved = realpath(path.c_str(), nullptr);
  const std::string out = resolved ? resolved : path;
  free(resolved);
  return out;
}

std::vector<char *> mlff_ttt::argv_of(std::vector<std::string> &args)
{
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(&a[0]);
  return argv;
}
