"""Delta learning on the prior, in one place: the reference head of a model trained with
``training.target: delta`` learns the reference minus the prior, and every prediction adds the
prior back, so a user sees one potential (docs/delta.md).

Training takes the difference from the data's PRIOR_* labels, after checking on a few frames
that they are the config's prior's (labels made with other parameters would be added back
wrong at every prediction). The model file records the prior (``delta_prior``, and for a
prior LAMMPS evaluates its pair_style words, ``delta_prior_style``, which the pair style checks
against the deck's prior line); the calculator adds it here; in LAMMPS the pair style
evaluates the prior pair style every step and adds it.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from ase import Atoms

from .data import PRIOR_ENERGY, PRIOR_FORCES, Frame
from .priors import get_prior, parse_prior_spec
from .priors.registry import lammps_pair_style_of

# How far the data's PRIOR labels may lie from the prior's own values (extended XYZ files
# keep 8 decimals; labels of other parameters differ by orders of magnitude more).
LABEL_TOLERANCE = 1e-5    # eV/atom and eV/A
FRAMES_CHECKED = 3


def subtract_prior_labels(frames: Sequence[Frame]) -> None:
    """Each frame's reference labels become reference minus prior (in place)."""
    for frame in frames:
        frame.energy = frame.energy - frame.prior_energy
        frame.forces = frame.forces - frame.prior_forces


def check_prior_labels(prior_spec: str, structures: Sequence[Atoms], source: str) -> None:
    """ValueError unless the PRIOR_* labels of the first structures are ``prior_spec``'s own
    energies and forces: delta learning adds that prior back at every prediction."""
    checked = list(structures[:FRAMES_CHECKED])
    energies, forces = get_prior(prior_spec).compute(checked)
    for index, (atoms, energy, f) in enumerate(zip(checked, energies, forces)):
        energy_gap = abs(float(atoms.info[PRIOR_ENERGY]) - float(energy)) / len(atoms)
        force_gap = float(np.abs(np.asarray(atoms.arrays[PRIOR_FORCES]) - f).max())
        if energy_gap > LABEL_TOLERANCE or force_gap > LABEL_TOLERANCE:
            raise ValueError(
                f"{source}: frame {index}'s PRIOR_energy/PRIOR_forces are not the prior "
                f"{prior_spec}'s (energy {energy_gap:.3g} eV/atom, forces up to {force_gap:.3g} "
                f"eV/A apart): delta learning adds that prior back at every prediction, so the "
                f"labels must be its own (relabel with 'mlff-ttt label --prior', or name the "
                f"prior that made them)")


def delta_attributes(prior_spec: Optional[str]) -> dict:
    """The model file's typed attributes of delta learning: the prior's spec ("" for a model
    that predicts the reference itself) and, when LAMMPS evaluates that prior, its pair_style
    words ("" when it does not: pair_style mlff_ttt then refuses the model)."""
    if not prior_spec:
        return {"delta_prior": "", "delta_prior_style": ""}
    words = lammps_pair_style_of(parse_prior_spec(prior_spec))
    return {"delta_prior": str(prior_spec), "delta_prior_style": " ".join(words or [])}


class DeltaPrior:
    """The prior a delta model adds back, for the calculator: energy, forces and (periodic
    frames, priors that give it) the virial of one structure."""

    def __init__(self, prior_spec: str):
        self.spec = prior_spec
        self.prior = get_prior(prior_spec)

    def labels(self, atoms: Atoms, virial: bool) -> tuple[float, np.ndarray, Optional[np.ndarray]]:
        # a prior of the user's own need only have compute (mlff_ttt.priors.get_prior)
        if not virial or not hasattr(self.prior, "compute_with_virials"):
            energies, forces = self.prior.compute([atoms])
            return float(energies[0]), np.asarray(forces[0], dtype=float), None
        energies, forces, virials = self.prior.compute_with_virials([atoms])
        virial_of = None if virials is None or virials[0] is None else \
            np.asarray(virials[0], dtype=float)
        return float(energies[0]), np.asarray(forces[0], dtype=float), virial_of
