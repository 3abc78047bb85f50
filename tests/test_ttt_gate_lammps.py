"""TTT's gate in LAMMPS is the offline engine's (refine.ttt.gate_threshold): the same threshold
from the model file's validation prior loss, the same loss, the same decision; a skipped update
leaves the model alone, says so once in the log with both numbers, and is a line of the TTT log
file; `gate_std 0` adapts always."""

import pytest

from helpers import EXAMPLE_MODEL, TERSOFF, printed_value, run_ttt_deck, silicon
from mlff_ttt.priors import get_prior
from mlff_ttt.refine.ttt import TTTEngine, TTTSettings, label_with_prior, load_module

pytestmark = pytest.mark.lammps

NEAR = silicon(rattle=0.05, seed=3)     # in distribution: below the gate
FAR = silicon(rattle=0.1, seed=3)       # above it
VECTOR = 'print "updates $(c_shift[6]:%.17g)"'
ENGINE_PRIOR = f"lammps:pair_style=tersoff/mod,pair_coeff=* * {TERSOFF} Si,elements=Si"


def log_rows(path):
    return [line.split() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def offline(atoms):
    """The offline engine's decision on the structure: its loss before, threshold, skipped."""
    frames = label_with_prior([atoms], get_prior(ENGINE_PRIOR))
    engine = TTTEngine(load_module(EXAMPLE_MODEL), TTTSettings(steps=1, lr=1e-3))
    record = engine.adapt(frames)
    return record["prior_loss_before"], record["gate_threshold"], record["skipped"]


@pytest.mark.parametrize("atoms, skipped", [(NEAR, True), (FAR, False)])
def test_the_lammps_gate_is_the_offline_gate(tmp_path, atoms, skipped):
    loss, threshold, offline_skipped = offline(atoms)
    assert offline_skipped == skipped
    result = run_ttt_deck(tmp_path, atoms, "ttt every 1 steps 1 lr 1e-3 log ttt.log save "
                          "adapted.pt monitor off", extra=f"run 0\n{VECTOR}")
    assert result.returncode == 0, result.stdout[-2000:]
    (row,) = log_rows(tmp_path / "ttt.log")
    assert float(row[1]) == pytest.approx(loss, rel=1e-10)      # the same loss as offline
    assert row[7] == ("1" if skipped else "0")                   # the log's skipped column
    message = (f"mlff_ttt: step 0: TTT skipped: prior-head loss {loss:.6g} below the gate "
               f"{threshold:.6g}")
    assert (message in result.stdout) == skipped, result.stdout[-2000:]
    assert printed_value(result.stdout, "updates") == (0.0 if skipped else 1.0)
    assert (tmp_path / "adapted.pt").exists() == (not skipped)    # nothing to save when skipped


def test_a_skipped_update_leaves_the_forces_bit_for_bit_and_gate_std_0_adapts(tmp_path):
    """Below the gate the model is untouched (the same energy as without TTT, bit for bit);
    `gate_std 0` adapts the same structure."""
    energies = {}
    for name, style in (("plain", "monitor off"),
                        ("gated", "ttt every 1 steps 1 lr 1e-3 monitor off"),
                        ("always", "ttt every 1 steps 1 lr 1e-3 gate_std 0 monitor off")):
        result = run_ttt_deck(tmp_path / name, NEAR, style,
                              extra='run 0\nrun 0\nprint "energy $(pe:%.17g)"')
        assert result.returncode == 0, result.stdout[-2000:]
        energies[name] = printed_value(result.stdout, "energy")
    assert energies["gated"] == energies["plain"]
    assert energies["always"] != energies["plain"]


def test_the_skip_is_said_once_per_run(tmp_path):
    md = "velocity all create 100 4928 loop geom\nfix nve all nve\nrun 6\nrun 6"
    result = run_ttt_deck(tmp_path, NEAR, "ttt every 2 steps 1 lr 1e-3 log ttt.log monitor off",
                          extra=md)
    assert result.returncode == 0, result.stdout[-2000:]
    said = [line for line in result.stdout.splitlines() if "TTT skipped" in line]
    assert len(said) == 2                                         # one per run
    rows = log_rows(tmp_path / "ttt.log")
    assert [row[0] for row in rows] == ["0", "2", "4", "6", "8", "10", "12"]
    assert all(row[7] == "1" for row in rows)


def test_gate_std_must_not_be_negative(tmp_path):
    result = run_ttt_deck(tmp_path, NEAR, "ttt every 1 steps 1 lr 1e-3 gate_std -1")
    assert result.returncode != 0
    assert "ERROR: pair_style mlff_ttt ttt gate_std S needs S >= 0 (0: adapt always)" in \
        result.stdout
