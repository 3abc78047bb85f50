"""Broad prior-labelled configurations for pretraining (docs/pretraining.md).

The prior is cheap, so it can label configurations far wider than a reference set: MD driven
by the prior itself from the user's own starting structures, over the temperatures and
densities the user names: periodic cells as bulk, as a slab (vacuum added along z) and as a
cluster (the atoms nearest the centre of a supercell, in a box with vacuum); non-periodic
molecules as they are, hot. Every frame carries
``PRIOR_energy``/``PRIOR_forces`` and no reference labels; ``training.pretrain`` in a config
pretrains the representation and the prior head on them before the joint training
(:mod:`mlff_ttt.train`).

Nothing here is chosen for one system: temperatures, strains and kinds are the user's, and the
MD protocol (Langevin, 1 fs, equilibration, stride) is generic. Deterministic from the seed.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Sequence

import ase.io
import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from tqdm import tqdm

from ..data import PRIOR_ENERGY, PRIOR_FORCES
from ..files import write_atomically, write_text_atomically
from ..priors import get_prior

KINDS = ("bulk", "surface", "cluster", "molecule")
# the kinds made from periodic bulk cells; "molecule" runs non-periodic structures as they are
CELL_KINDS = ("bulk", "surface", "cluster")
FILE_NAME = "prior_md.xyz"


@dataclass
class PriorMDRecipe:
    prior: str                   # the prior spec that drives the MD and labels every frame
    temperatures: List[float]    # K, one trajectory per temperature (and strain, for bulk)
    strains: List[float]         # isotropic linear strains of the bulk cells (0.04 = +4%);
    #                              only kind "bulk" reads them
    kinds: List[str]             # of KINDS
    cluster_atoms: int = 0       # atoms per cluster (required when kinds has "cluster")
    vacuum: float = 10.0         # A of vacuum of slabs and clusters; must exceed the prior's cutoff
    frames_per_trajectory: int = 10
    equilibration_steps: int = 300
    stride_steps: int = 25
    timestep_fs: float = 1.0
    friction_per_fs: float = 0.01  # Langevin friction: 1/(100 fs), as the silicon sets use
    seed: int = 0

    def check(self) -> None:
        if not self.temperatures:
            raise ValueError("prior-md needs --temperatures: the temperatures (K) to sample, "
                             "e.g. the training set's range and well beyond it")
        if any(not (t > 0 and math.isfinite(t)) for t in self.temperatures):
            raise ValueError(f"prior-md: temperatures must be positive, not {self.temperatures}")
        unknown = sorted(set(self.kinds) - set(KINDS))
        if not self.kinds or unknown:
            raise ValueError(f"prior-md needs --kinds from {list(KINDS)}"
                             + (f"; unknown: {unknown}" if unknown else ""))
        if "molecule" in self.kinds and len(set(self.kinds)) > 1:
            raise ValueError("prior-md: kind 'molecule' (non-periodic structures) cannot be "
                             f"combined with {list(CELL_KINDS)} (made from periodic cells); "
                             "run prior-md once for each and give training both files")
        if "bulk" in self.kinds and not self.strains:
            raise ValueError("prior-md needs --strains for kind 'bulk': the isotropic strains "
                             "of the bulk cells (e.g. -0.05 0 0.05; 0 alone keeps the density)")
        if any(not (-0.5 < s < 0.5) for s in self.strains):
            raise ValueError(f"prior-md: strains must lie in (-0.5, 0.5), not {self.strains}")
        if "cluster" in self.kinds and self.cluster_atoms < 2:
            raise ValueError("prior-md: kind 'cluster' needs --cluster-atoms (the number of "
                             "atoms of each cluster, at least 2)")
        for name in ("frames_per_trajectory", "stride_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"prior-md: {name} must be at least 1")
        if self.vacuum <= 0 or self.timestep_fs <= 0 or self.friction_per_fs <= 0:
            raise ValueError("prior-md: vacuum, timestep and friction must be positive")


class PriorCalculator(Calculator):
    """An ASE calculator of a prior's energy and forces: what drives the prior MD."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, prior, **kwargs):
        super().__init__(**kwargs)
        self.prior = prior

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energies, forces = self.prior.compute([self.atoms])
        self.results = {"energy": float(energies[0]), "forces": np.asarray(forces[0], dtype=float)}


def _cluster(atoms: Atoms, n: int, vacuum: float) -> Atoms:
    """The n atoms nearest the centre of a supercell of ``atoms`` big enough to hold them
    (by minimum-image distance), centred in a box with ``vacuum`` on every side."""
    repeat = max(1, math.ceil((2 * n / len(atoms)) ** (1 / 3)))
    big = atoms.repeat(repeat)
    centre = big.cell.sum(axis=0) / 2
    nearest = np.argsort(np.linalg.norm(big.positions - centre, axis=1))[:n]
    cluster = big[np.sort(nearest)]
    cluster.set_cell(np.zeros((3, 3)))
    cluster.center(vacuum=vacuum)
    cluster.pbc = True  # periodic images vacuum apart: every prior handles a periodic box
    return cluster


def _surface(atoms: Atoms, vacuum: float) -> Atoms:
    """The bulk cell as a slab: ``vacuum`` added along z, atoms wrapped so none straddles."""
    slab = atoms.copy()
    slab.wrap()
    slab.center(vacuum=vacuum / 2, axis=2)
    return slab


def starting_structures(bulk: Atoms, recipe: PriorMDRecipe):
    """(label, structure, temperature) of every trajectory the recipe asks for."""
    for temperature in recipe.temperatures:
        if "molecule" in recipe.kinds:
            yield f"molecule {bulk.get_chemical_formula()}", bulk.copy(), temperature
        if "bulk" in recipe.kinds:
            for strain in recipe.strains:
                cell = bulk.copy()
                cell.set_cell(cell.cell * (1 + strain), scale_atoms=True)
                yield f"bulk strain {strain:+g}", cell, temperature
        if "surface" in recipe.kinds:
            yield "surface", _surface(bulk, recipe.vacuum), temperature
        if "cluster" in recipe.kinds:
            yield f"cluster {recipe.cluster_atoms}", _cluster(bulk, recipe.cluster_atoms,
                                                              recipe.vacuum), temperature


def sample(start: Atoms, temperature: float, recipe: PriorMDRecipe, calculator,
           rng: np.random.Generator) -> List[Atoms]:
    """Frames of one prior-driven Langevin trajectory, each with the prior's labels."""
    atoms = start.copy()
    atoms.calc = calculator
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    dynamics = Langevin(atoms, recipe.timestep_fs * units.fs, temperature_K=temperature,
                        friction=recipe.friction_per_fs / units.fs, fixcm=False, rng=rng)
    dynamics.run(recipe.equilibration_steps)
    frames = []
    for _ in range(recipe.frames_per_trajectory):
        dynamics.run(recipe.stride_steps)
        frame = atoms.copy()    # without the calculator
        frame.arrays.pop("momenta", None)  # the labels are what training reads
        frame.wrap()
        energy = atoms.get_potential_energy()
        if not np.isfinite(energy):
            raise RuntimeError(f"prior MD at {temperature} K reached a non-finite energy "
                               f"(timestep too long for this prior?)")
        frame.info[PRIOR_ENERGY] = float(energy)
        frame.arrays[PRIOR_FORCES] = atoms.get_forces().copy()
        frames.append(frame)
    return frames


def generate(out_dir: str | Path, structures: Sequence[Atoms], recipe: PriorMDRecipe) -> dict:
    """Writes ``prior_md.xyz`` (and its recipe as ``prior_md.json``) into ``out_dir``; returns
    {"prior_md": path}."""
    recipe.check()
    if not structures:
        raise ValueError("prior-md needs at least one starting structure")
    molecules = "molecule" in recipe.kinds
    for index, atoms in enumerate(structures):
        if molecules and any(atoms.pbc):
            raise ValueError(f"prior-md: starting structure {index} is periodic; kind "
                             f"'molecule' runs non-periodic molecules as they are (use "
                             f"{list(CELL_KINDS)} for periodic cells)")
        if not molecules and (not all(atoms.pbc) or atoms.cell.volume <= 0):
            raise ValueError(f"prior-md: starting structure {index} is not a periodic bulk cell "
                             f"(surfaces and clusters are made from bulk cells; kind "
                             f"'molecule' runs non-periodic molecules)")
    prior = get_prior(recipe.prior)
    prior.check_elements(structures)
    calculator = PriorCalculator(prior)
    rng = np.random.default_rng(recipe.seed)
    plan = [(index, *item) for index, atoms in enumerate(structures)
            for item in starting_structures(atoms, recipe)]
    frames, trajectories = [], []
    for index, label, start, temperature in tqdm(plan, desc="prior MD", unit="trajectory"):
        sampled = sample(start, temperature, recipe, calculator, rng)
        for frame in sampled:
            frame.info["prior_md"] = f"structure {index} {label} {temperature:g} K"
        frames += sampled
        trajectories.append({"structure": index, "kind": label, "temperature_K": temperature,
                             "atoms": len(start), "frames": len(sampled)})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILE_NAME
    write_atomically(path, lambda partial: ase.io.write(partial, frames, format="extxyz"))
    summary = {"recipe": asdict(recipe), "frames": len(frames), "trajectories": trajectories}
    write_text_atomically(path.with_suffix(".json"), json.dumps(summary, indent=2))
    return {"prior_md": path}
