"""Silicon priors evaluated by LAMMPS (Python module): Tersoff and Stillinger-Weber.

A thin wrapper around :class:`.lammps_evaluator.LammpsEvaluator` (one LAMMPS instance, atoms
and box replaced per frame) and its frame checks: the silicon datasets label their frames with
the same evaluator, so the labels are computed exactly as the datasets' PRIOR labels are.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from .base import Labels, Prior, check_labels
from .lammps_evaluator import LammpsEvaluator, check_silicon_frame, silicon_pair_commands

# Tersoff variant -> its pair style and potential file (LAMMPS distribution); "mod" gives the
# PRIOR labels of the silicon datasets
TERSOFF_VARIANTS = {"mod": ("tersoff/mod", "Si.tersoff.mod"), "original": ("tersoff", "Si.tersoff")}


class LammpsPrior(Prior):
    """Periodic, Si-only frames with LAMMPS-oriented (lower-triangular) cells.
    ``cost_per_atom``: measured on 64-atom bulk Si; about 1e-5 s per atom, mostly
    per-call overhead of ``run 0``."""

    coverage = "only Si: the LAMMPS distribution's silicon potential file"

    def covers(self, symbol: str) -> bool:
        return symbol == "Si"

    def __init__(self, commands: list[str]):
        self.commands = list(commands)
        self._evaluator = None  # started on first use, kept for later calls

    def compute(self, frames: list[Atoms]) -> Labels:
        frames = list(frames)
        self.check_elements(frames)
        for i, atoms in enumerate(frames):
            check_silicon_frame(i, atoms)
        if self._evaluator is None:
            self._evaluator = LammpsEvaluator(self.commands)
        energies, forces = [], []
        for i, atoms in enumerate(frames):
            energy, f, created = self._evaluator(atoms)
            if created != len(atoms):
                raise ValueError(f"frame {i}: LAMMPS accepted {created} of {len(atoms)} atoms")
            energies.append(energy)
            forces.append(f)
        return check_labels(self, frames, np.array(energies), forces)

    def close(self) -> None:
        if self._evaluator is not None:
            self._evaluator.close()
            self._evaluator = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: LAMMPS may already be gone
            pass


class Tersoff(LammpsPrior):
    """Tersoff silicon. ``variant="mod"`` (default) is ``tersoff/mod`` with Si.tersoff.mod
    (Kumagai et al. 2007), the PRIOR labels of the silicon datasets; ``"original"`` is
    ``tersoff`` with Si.tersoff (Tersoff 1988)."""

    name = "tersoff"
    units = {"variant": "'mod' or 'original'"}

    def __init__(self, variant: str = "mod"):
        if variant not in TERSOFF_VARIANTS:
            raise ValueError(f"unknown Tersoff variant {variant!r}; choose 'mod' or 'original'")
        super().__init__(silicon_pair_commands(*TERSOFF_VARIANTS[variant]))
        self.variant = variant


class StillingerWeber(LammpsPrior):
    """Stillinger-Weber silicon (``pair_style sw``, Si.sw from the LAMMPS distribution)."""

    name = "stillinger_weber"

    def __init__(self):
        super().__init__(silicon_pair_commands("sw", "Si.sw"))
