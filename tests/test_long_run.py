"""A CI-sized long run (`make long-run` runs 10000 steps): 3000 MD steps with TTT every 100,
RR every 100 and the monitor every 10 keep resident memory flat."""

import pytest

from memory_run import run

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin


def test_resident_memory_stays_flat_with_ttt_and_rr(tmp_path):
    result = run(3000, tmp_path, interval=0.1)
    assert result["completed"] and result["samples"] >= 20
    # about 8 TTT updates, 8 RR choices and 75 monitor evaluations lie between the third and
    # the last quarter of the run: a leak of 250 kB per update would show
    assert abs(result["growth_mb"]) < 2.0, result
