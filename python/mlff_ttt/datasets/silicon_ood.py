"""Out-of-distribution silicon splits, labelled like the in-distribution set.

The in-distribution set (:mod:`mlff_ttt.datasets.silicon`) is crystalline diamond silicon at
300-900 K. Each split here moves away from it along one axis a silicon user meets in MD:

=================  ==========================================================================
``ood_liquid``     melt at 1800-2500 K (64 atoms, 3% denser than the crystal, as the liquid is)
``ood_amorphous``  melt at 3000 K, quench in 3 ps to 300-600 K, sample there
``ood_pressure``   beta-tin silicon (the high-pressure phase, 6-fold coordinated) at 300-600 K
``ood_surface``    (001) slab, 72 atoms, 8 A of vacuum, 300-900 K
``ood_vacancy``    diamond crystal with two vacancies (62 atoms), 300-900 K
=================  ==========================================================================

MD is driven by the reference potential (SNAP) with a Langevin thermostat; frames carry
reference (SNAP) and prior (Tersoff/mod) labels from :func:`silicon.label_frames`.
Everything is deterministic from the seed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.build import bulk, diamond100
from ase.spacegroup import crystal
from tqdm import tqdm

from ..files import write_atomically, write_text_atomically
from ..priors.lammps_evaluator import BOX_SETUP, SI_MASS, new_lammps
from . import silicon

STRIDE_STEPS = 25
SAMPLE_EQUIL_STEPS = 300

# name: (structure, temperature range K, frames per trajectory, melt/quench protocol)
RECIPES = {
    "ood_liquid": dict(structure="dense_diamond", temperatures=(1800.0, 2500.0),
                       frames_per_trajectory=20, melt_steps=3000),
    "ood_amorphous": dict(structure="diamond", temperatures=(300.0, 600.0),
                          frames_per_trajectory=20, melt_steps=2000, quench_steps=3000),
    "ood_pressure": dict(structure="beta_tin", temperatures=(300.0, 600.0),
                         frames_per_trajectory=10),
    "ood_surface": dict(structure="slab_001", temperatures=(300.0, 900.0),
                        frames_per_trajectory=10),
    "ood_vacancy": dict(structure="vacancies", temperatures=(300.0, 900.0),
                        frames_per_trajectory=10),
}
MELT_TEMPERATURE = 3000.0


def build_structure(kind: str, rng: np.random.Generator) -> Atoms:
    """Starting structure of a trajectory (orthogonal cell, LAMMPS orientation)."""
    if kind in ("diamond", "dense_diamond", "vacancies"):
        a = silicon.A0 * (0.97 if kind == "dense_diamond" else 1.0)
        atoms = bulk("Si", "diamond", a=a, cubic=True).repeat(2)
        if kind == "vacancies":
            del atoms[sorted(rng.choice(len(atoms), size=2, replace=False).tolist())]
        return atoms
    if kind == "beta_tin":
        # beta-tin Si (I4_1/amd, 4 atoms per cell) with its lattice at about 11 GPa
        cell = crystal("Si", [(0.0, 0.0, 0.0)], spacegroup=141,
                       cellpar=[4.686, 4.686, 2.585, 90, 90, 90])
        return cell.repeat((2, 2, 4))
    if kind == "slab_001":
        return diamond100("Si", size=(3, 3, 8), a=silicon.A0, vacuum=4.0, periodic=True)
    raise ValueError(f"unknown structure {kind!r}")


def plan(name: str, seed: int, n_frames: int) -> list[dict]:
    """Trajectories of one split, from the split's own random stream."""
    recipe = RECIPES[name]
    rng = np.random.default_rng([seed, 100 + sorted(RECIPES).index(name)])
    per = recipe["frames_per_trajectory"]
    n_traj = math.ceil(n_frames / per)
    lo, hi = recipe["temperatures"]
    temps = lo + (hi - lo) * (rng.permutation(n_traj) + rng.random(n_traj)) / n_traj
    seeds = rng.integers(1, 900_000_000, size=(n_traj, 2))
    return [dict(temperature_K=round(float(temps[k]), 1), velocity_seed=int(seeds[k, 0]),
                 langevin_seed=int(seeds[k, 1]), structure_seed=int(seeds[k, 0] % 100_000),
                 n_frames=min(per, n_frames - k * per)) for k in range(n_traj)]


def run_trajectory(name: str, traj: dict, on_frame=None) -> list[Atoms]:
    recipe = RECIPES[name]
    start = build_structure(recipe["structure"], np.random.default_rng(traj["structure_seed"]))
    temp = traj["temperature_K"]
    lmp = new_lammps()
    try:
        cell = start.cell.array
        lmp.commands_list([*BOX_SETUP, "region cell prism 0 1 0 1 0 1 0 0 0",
                           "create_box 1 cell", f"mass 1 {SI_MASS}",
                           *silicon.potentials()["REF"]["commands"]])
        lmp.reset_box([0.0, 0.0, 0.0], [cell[0, 0], cell[1, 1], cell[2, 2]], 0.0, 0.0, 0.0)
        n = len(start)
        created = lmp.create_atoms(n, list(range(1, n + 1)), [1] * n,
                                   start.get_positions(wrap=True).ravel().tolist())
        if created != n:
            raise RuntimeError(f"{name}: LAMMPS accepted {created} of {n} atoms")
        seed = traj["langevin_seed"]
        stages = []  # (T start, T end, steps)
        if "quench_steps" in recipe:
            stages += [(MELT_TEMPERATURE, MELT_TEMPERATURE, recipe["melt_steps"]),
                       (MELT_TEMPERATURE, temp, recipe["quench_steps"])]
        elif "melt_steps" in recipe:
            stages += [(temp, temp, recipe["melt_steps"])]
        stages += [(temp, temp, SAMPLE_EQUIL_STEPS)]
        lmp.commands_list([
            f"velocity all create {stages[0][0]} {traj['velocity_seed']} mom yes dist gaussian",
            "fix integrate all nve", f"timestep {silicon.TIMESTEP_PS}"])
        for k, (t0, t1, steps) in enumerate(stages):
            lmp.commands_list([
                f"fix bath all langevin {t0} {t1} {silicon.LANGEVIN_DAMP_PS} {seed + k} zero yes",
                f"run {steps}", "unfix bath"])
        lmp.command(f"fix bath all langevin {temp} {temp} {silicon.LANGEVIN_DAMP_PS} "
                    f"{seed + len(stages)} zero yes")
        frames = []
        for _ in range(traj["n_frames"]):
            lmp.command(f"run {STRIDE_STEPS}")
            frames.append(silicon.snapshot(lmp))
            if on_frame:
                on_frame()
        return frames
    finally:
        lmp.close()


def _complete(path: Path, seed: int, trajectories: list[dict]) -> bool:
    """True if path holds this split from the same seed and plan (written last, so a
    sidecar that matches means the .xyz beside it is complete)."""
    sidecar = path.with_suffix(".json")
    if not (path.is_file() and sidecar.is_file()):
        return False
    meta = json.loads(sidecar.read_text())
    return meta.get("seed") == int(seed) and meta.get("trajectories") == trajectories


def generate(out_dir, seed: int = 0, n_frames: int = 40, splits=None,
             progress: bool = True) -> dict[str, Path]:
    """Writes si_<split>.xyz (+ .json provenance) for each OOD split; returns the paths."""
    splits = list(splits or RECIPES)
    unknown = sorted(set(splits) - set(RECIPES))
    if unknown:
        raise ValueError(f"unknown silicon OOD split(s) {unknown}; known: {sorted(RECIPES)}")
    if n_frames < 1:
        raise ValueError("n_frames must be positive")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    versions = silicon.versions()
    potentials = {k: {f: v for f, v in spec.items() if f != "commands"}
                  for k, spec in silicon.potentials().items()}
    paths = {}
    for name in splits:
        path = out_dir / f"si_{name}.xyz"
        trajectories = plan(name, seed, n_frames)
        if _complete(path, seed, trajectories):
            paths[name] = path  # finished by an earlier, interrupted run: keep it
            continue
        frames = []
        with tqdm(total=n_frames, desc=f"si_{name} MD", disable=not progress) as bar:
            for traj in trajectories:
                frames += run_trajectory(name, traj, on_frame=bar.update)
        labelled = silicon.label_frames(frames, progress=progress)
        # a complete file or none: an interrupted run leaves no half split
        write_atomically(path, lambda partial: ase.io.write(partial, labelled, format="extxyz"))
        meta = {
            "file": path.name, "split": name, "generator": "mlff_ttt.datasets.silicon_ood",
            "seed": int(seed), "n_frames": len(labelled),
            "n_atoms_per_frame": sorted({len(a) for a in labelled}),
            "units": {"energy": "eV", "forces": "eV/Angstrom", "positions": "Angstrom"},
            "reference": potentials["REF"], "prior": potentials["PRIOR"],
            "recipe": RECIPES[name], "melt_temperature_K": MELT_TEMPERATURE,
            "md": "LAMMPS fix nve + fix langevin driven by the reference potential",
            "timestep_ps": silicon.TIMESTEP_PS, "stride_steps": STRIDE_STEPS,
            "trajectories": trajectories, "versions": versions,
        }
        write_text_atomically(path.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
        paths[name] = path
    return paths
