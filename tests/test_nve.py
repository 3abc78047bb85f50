"""Energy conservation of the shipped example (examples/lammps/in.si_nve, shipped model)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from nve_check import report, run_nve  # noqa: E402


def test_nve_energy_drift(tmp_path):
    result = run_nve(tmp_path, nprocs=1, steps=2000)
    print("\n" + report(result))
    assert result["natoms"] == 216 and result["steps"] == 2000
    assert 300 < result["mean_temperature"] < 700  # the run really moved
    assert abs(result["drift_ev_per_atom_ps"]) < 1e-4
