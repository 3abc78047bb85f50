"""Energy conservation of the shipped example (examples/lammps/in.si_nve, shipped model).

The test runs the deck's 2x2x2-cell variant (64 atoms) to keep the suite short; `make demo`
runs the default 3x3x3 cells (216 atoms) on 2 ranks."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from nve_check import report, run_nve  # noqa: E402


def test_nve_energy_drift(tmp_path):
    result = run_nve(tmp_path, nprocs=1, steps=2000, cells=2)
    print("\n" + report(result))
    assert result["natoms"] == 64 and result["steps"] == 2000
    assert 300 < result["mean_temperature"] < 700  # the run really moved
    assert abs(result["drift_ev_per_atom_ps"]) < 1e-4
