"""The label-free per-atom error signal (issue 19): |F_prior head - F_prior| per atom, from
LAMMPS through `fix ID all pair N mlff_ttt prior_residual 1` (usable with dump, compute reduce
and fix halt) equal to the offline engine's TTTEngine.prior_residuals, on 1 and 2 ranks."""

import numpy as np
import pytest

from helpers import EXAMPLE_MODEL, TERSOFF, ranks, run_ttt_deck, silicon
from mlff_ttt.refine.ttt import TTTEngine, TTTSettings, label_with_prior, load_module

pytestmark = pytest.mark.lammps

STRUCTURE = silicon(rattle=0.1, seed=3)
# no update at step 1 (ttt every 1000): the residual is the shipped model's
SIGNAL = """reset_timestep 1
fix res all pair 1 mlff_ttt prior_residual 1
compute rmax all reduce max f_res
run 0
print "max_residual $(c_rmax:%.17g)"
write_dump all custom res.dump id f_res modify sort id format float %.17g
"""


def python_residuals(atoms):
    frames = label_with_prior([atoms], f"lammps:pair_style=tersoff/mod,pair_coeff=* * {TERSOFF} "
                                       "Si,elements=Si")
    return TTTEngine(load_module(EXAMPLE_MODEL), TTTSettings()).prior_residuals(frames)[0]


def dumped(path):
    lines = path.read_text().splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("ITEM: ATOMS")) + 1
    return np.array([float(line.split()[1]) for line in lines[start:]])


@pytest.mark.parametrize("nprocs", ranks(1, 2))
def test_lammps_residual_is_the_offline_one(tmp_path, nprocs):
    expected = python_residuals(STRUCTURE)
    result = run_ttt_deck(tmp_path, STRUCTURE, "ttt every 1000 steps 1 lr 1e-3 monitor off",
                          extra=SIGNAL, nprocs=nprocs)
    assert result.returncode == 0, result.stdout[-2000:]
    residual = dumped(tmp_path / "res.dump")
    np.testing.assert_allclose(residual, expected, rtol=1e-9, atol=1e-10)
    assert 0.05 < expected.max() < 10.0                          # a real signal, not zeros
    line = next(l for l in result.stdout.splitlines() if l.startswith("max_residual"))
    assert float(line.split()[1]) == pytest.approx(expected.max(), rel=1e-9)


def test_fix_halt_on_the_signal(tmp_path):
    """`fix halt` stops a run once the largest residual passes a bound (here one the rattled
    crystal's is above, so the run stops at the first check)."""
    md = ("velocity all create 300 4928 loop geom\nfix nve all nve\n"
          "fix res all pair 5 mlff_ttt prior_residual 1\ncompute rmax all reduce max f_res\n"
          "variable rmax equal c_rmax\nfix stop all halt 5 v_rmax > 0.05 error soft\nrun 50\n"
          'print "stopped_at $(step)"')
    result = run_ttt_deck(tmp_path, STRUCTURE, "ttt every 1000 steps 1 lr 1e-3 monitor off",
                          extra=md)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "stopped_at 5" in result.stdout, result.stdout[-2000:]


def test_the_signal_needs_a_ttt_prior(tmp_path):
    result = run_ttt_deck(tmp_path, STRUCTURE, "monitor off", prior="",
                          extra="fix res all pair 1 mlff_ttt prior_residual 1\nrun 0")
    assert result.returncode != 0
    assert "ERROR: fix pair ... mlff_ttt prior_residual needs pair_style mlff_ttt ttt" in \
        result.stdout, result.stdout[-2000:]


def test_the_calculator_gives_the_same_signal():
    from mlff_ttt.calculator import MLFFCalculator
    atoms = STRUCTURE.copy()
    atoms.calc = MLFFCalculator(str(EXAMPLE_MODEL), prior_residual=True,
                                prior=f"lammps:pair_style=tersoff/mod,pair_coeff=* * {TERSOFF} "
                                      "Si,elements=Si")
    np.testing.assert_allclose(atoms.calc.get_property("prior_residual", atoms),
                               python_residuals(STRUCTURE), rtol=1e-12, atol=1e-12)
    assert "prior_residual" in atoms.calc.results
