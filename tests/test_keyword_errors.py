"""Every pair_style mlff_ttt keyword given a missing, malformed or out-of-range value ends in a
LAMMPS ERROR naming the keyword (RR, the monitor, TTT, the hook, min_distance, device,
exchange); the cases test_rr.py, test_ttt_lammps.py and test_errors.py hold are not repeated
here."""

import pytest

from helpers import ROOT, TERSOFF, run_lmp, silicon_box

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin

DECK = silicon_box(1) + f"""pair_style mlff_ttt {{style}}
pair_coeff * * {ROOT / 'examples' / 'models' / 'si_schnet.pt'} Si
pair_coeff * * prior tersoff/mod {TERSOFF} Si
run 0
"""
CASES = [
    ("rr every -5", "rr every N needs N >= 1"),
    ("rr every abc", "Expected integer parameter instead of 'abc'"),
    ("rr every", "rr every N: N is missing"),
    ("rr every 99999999999999999999999", "is out of range"),
    ("rr", "rr: expected off, once or every N"),
    ("rr once rr_grid -1", "rr_grid radius -1 is not positive"),
    ("rr once rr_grid nan", "rr_grid needs at least one radius"),
    ("rr once rr_grid 3.0 abc", "Unknown pair_style mlff_ttt keyword: abc"),
    ("monitor every -1", "monitor every N needs N >= 1"),
    ("monitor every x", "Expected integer parameter instead of 'x'"),
    ("monitor", "expected 'monitor every N' or 'monitor off'"),
    ("monitor sometimes", "expected 'monitor every N' or 'monitor off'"),
    ("ttt every 2.5 steps 2 lr 1e-3", "Expected integer parameter instead of '2.5'"),
    ("ttt every 10 steps -1 lr 1e-3", "ttt steps K needs K >= 1"),
    ("ttt every 10 steps 2 lr nan", "Expected floating point parameter instead of 'nan'"),
    ("ttt every 10 steps 2 lr inf", "Expected floating point parameter instead of 'inf'"),
    ("ttt every 10 steps 2", "expected 'ttt every N steps K lr X"),
    ("ttt every 10 lr 1e-3 steps 2", "expected 'ttt every N steps K lr X"),
    ("ttt every 0 calibrated", "ttt every N needs N >= 1"),
    ("ttt every 10 calibrated steps 2", "Unknown pair_style mlff_ttt keyword: steps"),
    ("ttt every 10 steps 2 lr 1e-3 max_change 0", "ttt max_change D needs D > 0"),
    ("ttt every 10 steps 2 lr 1e-3 max_change -1", "ttt max_change D needs D > 0"),
    ("ttt every 10 steps 2 lr 1e-3 prior_timeout -1", "prior_timeout T needs T >= 0"),
    ("ttt every 10 steps 2 lr 1e-3 optimizer", "ttt optimizer: its value is missing"),
    ("ttt every 10 steps 2 lr 1e-3 save", "ttt save: its value is missing"),
    ("ttt every 10 steps 2 lr 1e-3 momentum 0.9", "Unknown pair_style mlff_ttt keyword: momentum"),
    ("ttt every 10 steps 2 lr 1e-3 log /proc/no/such/ttt.log",
     "Cannot open TTT log file /proc/no/such/ttt.log"),
    ("hook every 5", "expected 'hook every N module:function'"),
    ("hook every -1 os:getcwd", "hook every N needs N >= 1"),
    ("hook every 5 os", "hook target 'os' must look like module:function"),
    ("hook every 5 os:no_such_function", "module 'os' has no attribute 'no_such_function'"),
    ("min_distance", "min_distance D: D is missing"),
    ("min_distance abc", "Expected floating point parameter instead of 'abc'"),
    ("min_distance 1e400", "is out of range"),
    ("device", "device: expected cpu or cuda"),
    ("exchange", "exchange: expected auto, yes or no"),
    ("exchange maybe", "Expected boolean parameter instead of 'maybe'"),
]


@pytest.mark.parametrize("style, message", CASES, ids=[c[0] for c in CASES])
def test_bad_keyword_value_is_a_lammps_error(tmp_path, style, message):
    proc = run_lmp(DECK.format(style=style), tmp_path, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode > 0, output[-2000:]
    errors = [line for line in output.splitlines() if line.startswith("ERROR")]
    assert errors and message in errors[0], output[-2000:]
    assert "Traceback" not in output
