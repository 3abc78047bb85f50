"""RR and the shift monitor inside MD (`make bench-test-time`, last part).

(c) Step time of a 4096-atom diamond silicon box (shipped si_schnet, 1 rank, 1 thread) with
    `rr off` and the monitor off, with the monitor every 10 steps, and with `rr every 100`.
(d) NVE energy drift of an out-of-distribution structure (a frame of si_ood_surface, where RR
    picks a smaller radius) with `rr once` vs `rr off`.

    python tests/benchmarks/bench_rr_md.py [--steps 200] [--nve-steps 4000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import ase.io
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / "si_schnet.pt"
LMP = Path(sys.prefix) / "bin" / "lmp"
# keep large blocks in the process between steps (see the README's speed section)
ENV = dict(os.environ, OMP_NUM_THREADS="1", MALLOC_MMAP_THRESHOLD_="4000000000",
           MALLOC_TRIM_THRESHOLD_="4000000000", MALLOC_TOP_PAD_="1000000000")

SPEED_DECK = """
units        metal
lattice      diamond 5.431
region       box block 0 8 0 8 0 8
create_box   1 box
create_atoms 1 box
mass         1 28.0855
pair_style   mlff_ttt {style}
pair_coeff   * * {model} Si
velocity     all create 600 4928459 mom yes rot yes
timestep     0.001
fix          integrate all nve
thermo       100
run          5
run          {steps}
"""

NVE_DECK = """
units        metal
boundary     p p p
read_data    data.lmp
pair_style   mlff_ttt {style}
pair_coeff   * * {model} Si
compute      shift all pair mlff_ttt
velocity     all create 600 12345 mom yes rot yes
timestep     0.001
fix          integrate all nve
thermo_style custom step etotal c_shift[1]
thermo_modify format float %.12g
thermo       10
run          {steps}
"""


def run(deck: str, workdir: Path) -> str:
    (workdir / "in.deck").write_text(deck)
    proc = subprocess.run([str(LMP), "-in", "in.deck", "-log", "none"], cwd=workdir, env=ENV,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-2000:])
    return proc.stdout


def step_time(style: str, steps: int, workdir: Path) -> float:
    out = run(SPEED_DECK.format(style=style, model=MODEL, steps=steps), workdir)
    return float(re.findall(r"Loop time of (\S+) on", out)[1]) / steps


def nve_drift(style: str, steps: int, workdir: Path) -> tuple[float, float, float]:
    """Slope of total energy per atom (eV/atom/ps), max |E - E0| per atom, the radius used."""
    out = run(NVE_DECK.format(style=style, model=MODEL, steps=steps), workdir)
    block = re.search(r"^\s*Step .*?\n(.*?)^Loop time", out, flags=re.M | re.S).group(1)
    rows = np.array([[float(v) for v in line.split()] for line in block.strip().splitlines()])
    natoms = int(re.search(r"with (\d+) atoms", out).group(1))
    energy = rows[:, 1] / natoms
    time_ps = rows[:, 0] * 1e-3
    return float(np.polyfit(time_ps, energy, 1)[0]), float(np.abs(energy - energy[0]).max()), \
        float(rows[-1, 2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--nve-steps", type=int, default=4000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"(c) 4096 atoms, {args.steps} NVE steps, 1 rank, 1 thread, {MODEL.name}")
        base = None
        for style in ("monitor off", "monitor every 10", "rr every 100 monitor off",
                      "rr every 100 monitor every 10"):
            t = step_time(style, args.steps, tmp)
            base = base or t
            print(f"  pair_style mlff_ttt {style:<32s} {t * 1e3:8.1f} ms/step  "
                  f"{t / base - 1:+.1%}", flush=True)
        frame = ase.io.read(ROOT / "examples" / "data" / "si_ood_surface.xyz", index=0)
        ase.io.write(tmp / "data.lmp", frame, format="lammps-data", masses=True,
                     specorder=["Si"])
        print(f"(d) NVE of si_ood_surface frame 0 ({len(frame)} atoms), 1 fs, 600 K, "
              f"{args.nve_steps} steps")
        drifts = {}
        for style in ("rr off", "rr once"):
            slope, excursion, radius = nve_drift(style, args.nve_steps, tmp)
            drifts[style] = slope
            print(f"  {style:<8s} radius {radius:.4g} A  drift {slope:+.3e} eV/atom/ps  "
                  f"max |E-E0| {excursion:.3e} eV/atom", flush=True)
        print(f"  |drift rr once| / |drift rr off| = "
              f"{abs(drifts['rr once']) / abs(drifts['rr off']):.2f}")


if __name__ == "__main__":
    main()
