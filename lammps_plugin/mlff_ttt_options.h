/* The keywords of pair_style mlff_ttt and their parser. The member initializers below are the
   only copy of each default (those of TTT's optimizer live in mlff::TTTOptions, which the
   bridge takes as it is):

   pair_style mlff_ttt [rr off|once|every N] [rr_grid r1 r2 ...] [monitor every N|off]
                       [min_distance D] [device cpu|cuda] [exchange auto|yes|no]
                       [ttt every N steps K lr X [optimizer sgd|adam] [max_change D]
                            [prior_timeout T] [log FILE] [save FILE]]
                       [hook every N module:function] */
#pragma once

#include "lmptype.h"

#include "ttt_bridge.h"

#include <string>
#include <vector>

namespace LAMMPS_NS {
class LAMMPS;

namespace mlff_ttt {

struct Options {
  enum RRMode { RR_OFF, RR_ONCE, RR_EVERY };
  RRMode rr_mode = RR_OFF;
  bigint rr_every = 0;                 // rr every N
  std::vector<double> rr_grid;         // as given by rr_grid (empty: the model's radii)
  bool rr_grid_given = false;
  int monitor_every = 10;              // 0: off
  bool monitor_given = false;          // `monitor every N` or `monitor off` written in the deck
  double min_distance = 0.5;           // closer atoms are an error (A); 0: no check
  std::string device = "cpu";          // where the model runs: "cpu" or "cuda"
  // On several ranks, the forces one message-passing layer at a time with the ghosts'
  // features exchanged between layers (mlff::ModelRunner::compute_exchanged): no rank
  // evaluates another's atoms. no: each rank evaluates its ghosts as deep as the receptive
  // field (the same forces, with the work that grows with the rank count). auto: exchange at
  // a step where evaluating the ghosts would add more than kAutoExchangeExtraWork to the
  // edge work of all ranks (the exchange's communication costs more than it saves where
  // ghosts add little: 2-rank MD of isolated molecules, 1.00x work, ran 16-28% slower with
  // it; diamond silicon at 1.09x and 1.20x ran 3-10% faster).
  enum ExchangeMode { EXCHANGE_AUTO, EXCHANGE_YES, EXCHANGE_NO };
  ExchangeMode exchange = EXCHANGE_AUTO;
  static constexpr double kAutoExchangeExtraWork = 0.05;

  bigint ttt_every = 0;                // 0: no test-time training
  mlff::TTTOptions ttt;                // steps K, lr X (both required), the rest optional
  std::string ttt_log_path, ttt_save_path;    // empty: no log, no saved model

  bigint hook_every = 0;
  std::string hook_target;             // module:function; empty: no hook
};

/* Sets `options` from the pair_style arguments, starting from the defaults, and ends the run
   with a LAMMPS error naming the keyword for a malformed or out-of-range one. The hook's
   target is checked for its form only: its module is imported when the hook is created. */
void parse_options(LAMMPS *lmp, int narg, char **arg, Options &options);

}    // namespace mlff_ttt
}    // namespace LAMMPS_NS
