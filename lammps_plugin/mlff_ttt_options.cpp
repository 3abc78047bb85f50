#include "mlff_ttt_options.h"

#include "error.h"
#include "lammps.h"
#include "utils.h"

#include "python_hook.h"

#include <algorithm>
#include <cstring>
#include <exception>

using namespace LAMMPS_NS;

namespace {

// ttt every N steps K lr X (or ttt every N calibrated: the model file's calibrated settings),
// then its options; returns the index after them.
int parse_ttt(LAMMPS *lmp, int iarg, int narg, char **arg, mlff_ttt::Options &options)
{
  Error *error = lmp->error;
  const bool calibrated = iarg + 4 <= narg && strcmp(arg[iarg + 1], "every") == 0 &&
      strcmp(arg[iarg + 3], "calibrated") == 0;
  if (!calibrated &&
      (iarg + 7 > narg || strcmp(arg[iarg + 1], "every") != 0 ||
       strcmp(arg[iarg + 3], "steps") != 0 || strcmp(arg[iarg + 5], "lr") != 0))
    error->all(FLERR, "Illegal pair_style mlff_ttt ttt: expected 'ttt every N steps K lr X' or "
               "'ttt every N calibrated', then [optimizer sgd|adam] [max_change D] [gate_std S] "
               "[prior_timeout T] [log FILE] [save FILE]");
  mlff::TTTOptions &ttt = options.ttt;
  options.ttt_every = utils::bnumeric(FLERR, arg[iarg + 2], false, lmp);
  if (options.ttt_every < 1) error->all(FLERR, "pair_style mlff_ttt ttt every N needs N >= 1");
  ttt.calibrated = calibrated;
  if (calibrated) {
    iarg += 4;
  } else {
    ttt.steps = utils::inumeric(FLERR, arg[iarg + 4], false, lmp);
    ttt.lr = utils::numeric(FLERR, arg[iarg + 6], false, lmp);
    if (ttt.steps < 1) error->all(FLERR, "pair_style mlff_ttt ttt steps K needs K >= 1");
    if (!(ttt.lr > 0.0)) error->all(FLERR, "pair_style mlff_ttt ttt lr X needs X > 0");
    iarg += 7;
  }
  static const std::vector<std::string> ttt_options{"optimizer", "max_change", "gate_std",
                                                    "prior_timeout", "log", "save"};
  while (iarg < narg) {
    const std::string option = arg[iarg];
    if (std::find(ttt_options.begin(), ttt_options.end(), option) == ttt_options.end()) break;
    if (iarg + 1 >= narg)
      error->all(FLERR, "pair_style mlff_ttt ttt {}: its value is missing", option);
    if (option == "optimizer") {
      ttt.optimizer = arg[iarg + 1];
      if (ttt.optimizer != "sgd" && ttt.optimizer != "adam")
        error->all(FLERR, "pair_style mlff_ttt ttt optimizer must be sgd or adam, not {}",
                   ttt.optimizer);
    } else if (option == "max_change") {
      ttt.max_change = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (!(ttt.max_change > 0.0))
        error->all(FLERR, "pair_style mlff_ttt ttt max_change D needs D > 0");
    } else if (option == "gate_std") {
      ttt.gate_std = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (!(ttt.gate_std >= 0.0))
        error->all(FLERR, "pair_style mlff_ttt ttt gate_std S needs S >= 0 (0: adapt always)");
    } else if (option == "prior_timeout") {
      ttt.prior_timeout = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (!(ttt.prior_timeout >= 0.0))
        error->all(FLERR, "pair_style mlff_ttt ttt prior_timeout T needs T >= 0 seconds "
                   "(0: no limit)");
    } else if (option == "log") {
      options.ttt_log_path = arg[iarg + 1];
    } else {    // "save"
      options.ttt_save_path = arg[iarg + 1];
    }
    iarg += 2;
  }
  return iarg;
}

// rr off|once|every N; returns the index after it.
int parse_rr(LAMMPS *lmp, int iarg, int narg, char **arg, mlff_ttt::Options &options)
{
  Error *error = lmp->error;
  if (iarg + 2 > narg) error->all(FLERR, "pair_style mlff_ttt rr: expected off, once or every N");
  const std::string mode = arg[iarg + 1];
  if (mode == "off") {
    options.rr_mode = mlff_ttt::Options::RR_OFF;
    return iarg + 2;
  }
  if (mode == "once") {
    options.rr_mode = mlff_ttt::Options::RR_ONCE;
    return iarg + 2;
  }
  if (mode != "every")
    error->all(FLERR, "pair_style mlff_ttt rr: expected off, once or every N, not {}", mode);
  if (iarg + 3 > narg) error->all(FLERR, "pair_style mlff_ttt rr every N: N is missing");
  options.rr_every = utils::bnumeric(FLERR, arg[iarg + 2], false, lmp);
  if (options.rr_every < 1) error->all(FLERR, "pair_style mlff_ttt rr every N needs N >= 1");
  options.rr_mode = mlff_ttt::Options::RR_EVERY;
  return iarg + 3;
}

}    // namespace

void mlff_ttt::parse_options(LAMMPS *lmp, int narg, char **arg, Options &options)
{
  Error *error = lmp->error;
  options = Options();
  int iarg = 0;
  while (iarg < narg) {
    const std::string word = arg[iarg];
    if (word == "hook") {
      if (iarg + 4 > narg || strcmp(arg[iarg + 1], "every") != 0)
        error->all(FLERR, "Illegal pair_style mlff_ttt hook: expected "
                   "'hook every N module:function'");
      options.hook_every = utils::bnumeric(FLERR, arg[iarg + 2], false, lmp);
      if (options.hook_every < 1)
        error->all(FLERR, "pair_style mlff_ttt hook every N needs N >= 1");
      options.hook_target = arg[iarg + 3];
      iarg += 4;
    } else if (word == "rr") {
      iarg = parse_rr(lmp, iarg, narg, arg, options);
    } else if (word == "rr_grid") {
      options.rr_grid_given = true;
      iarg++;
      while (iarg < narg && utils::is_double(arg[iarg]))
        options.rr_grid.push_back(utils::numeric(FLERR, arg[iarg++], false, lmp));
      if (options.rr_grid.empty())
        error->all(FLERR, "pair_style mlff_ttt rr_grid needs at least one radius");
      for (double r : options.rr_grid)
        if (!(r > 0.0))
          error->all(FLERR, "pair_style mlff_ttt rr_grid radius {} is not positive", r);
    } else if (word == "ttt") {
      iarg = parse_ttt(lmp, iarg, narg, arg, options);
    } else if (word == "device") {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style mlff_ttt device: expected cpu or cuda");
      options.device = arg[iarg + 1];
      if (options.device != "cpu" && options.device != "cuda")
        error->all(FLERR, "pair_style mlff_ttt device: expected cpu or cuda, not {}",
                   options.device);
      iarg += 2;
    } else if (word == "exchange") {
      if (iarg + 2 > narg)
        error->all(FLERR, "pair_style mlff_ttt exchange: expected auto, yes or no");
      if (strcmp(arg[iarg + 1], "auto") == 0)
        options.exchange = Options::EXCHANGE_AUTO;
      else
        options.exchange = utils::logical(FLERR, arg[iarg + 1], false, lmp) == 1
            ? Options::EXCHANGE_YES : Options::EXCHANGE_NO;
      iarg += 2;
    } else if (word == "min_distance") {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style mlff_ttt min_distance D: D is missing");
      options.min_distance = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (!(options.min_distance >= 0.0))
        error->all(FLERR, "pair_style mlff_ttt min_distance D needs D >= 0 (0: no check)");
      iarg += 2;
    } else if (word == "monitor") {
      options.monitor_given = true;
      if (iarg + 2 <= narg && strcmp(arg[iarg + 1], "off") == 0) {
        options.monitor_every = 0;
        iarg += 2;
      } else if (iarg + 3 <= narg && strcmp(arg[iarg + 1], "every") == 0) {
        options.monitor_every = utils::inumeric(FLERR, arg[iarg + 2], false, lmp);
        if (options.monitor_every < 1)
          error->all(FLERR, "pair_style mlff_ttt monitor every N needs N >= 1");
        iarg += 3;
      } else {
        error->all(FLERR, "Illegal pair_style mlff_ttt monitor: expected 'monitor every N' or "
                   "'monitor off'");
      }
    } else {
      error->all(FLERR, "Unknown pair_style mlff_ttt keyword: {}", arg[iarg]);
    }
  }
  if (options.rr_grid_given && options.rr_mode == Options::RR_OFF)
    error->all(FLERR, "pair_style mlff_ttt rr_grid needs rr once or rr every N");
  if (!options.hook_target.empty()) {
    try {
      mlff::check_hook_target(options.hook_target);
    } catch (std::exception &e) {
      error->all(FLERR, "pair_style mlff_ttt: {}", e.what());
    }
  }
}
