"""The prior interface: energies and forces of unlabelled structures, far cheaper than the
reference, used as test-time-training targets (PAPER.md, "Fix 2")."""

from __future__ import annotations

import time

import ase.build
import numpy as np
from ase import Atoms

Labels = tuple[np.ndarray, list[np.ndarray]]


class Prior:
    """Base class. Subclasses set ``name`` and implement ``compute`` and, when bulk
    silicon is not a sensible test structure for them, ``representative``."""

    name: str = ""
    units: dict = {}
    """Each parameter's unit, for messages and docs (parameters: the constructor's)."""
    coverage: str = "every element"
    """The elements the prior has parameters for, in words (see ``covers``)."""
    spec = None  # the PriorSpec it was made from, set by get_prior
    _cost: float | None = None

    @classmethod
    def create(cls, **params) -> "Prior":
        """What ``get_prior(name, **params)`` calls; priors loaded from files override it."""
        return cls(**params)

    def covers(self, symbol: str) -> bool:
        """Whether the prior has parameters for the element ``symbol``."""
        return True

    def check_elements(self, symbols) -> None:
        """ValueError naming the first element (of ``symbols``, or of frames' atoms) the prior
        has no parameters for."""
        for symbol in sorted(set(_symbols(symbols))):
            if not self.covers(symbol):
                raise ValueError(f"prior {self.name!r} has no parameters for {symbol} "
                                 f"(it covers {self.coverage})")

    def compute(self, frames: list[Atoms]) -> Labels:
        """Energies (n,) in eV and forces, one (n_i, 3) array per frame, in eV/A."""
        raise NotImplementedError

    def virials(self, frames: list[Atoms]) -> list[np.ndarray]:
        """The virial sum_i x_i (x) F_i of each periodic frame (3x3, eV): what the stress of
        a delta-learned model needs from its prior (docs/delta.md). Priors that cannot give
        it raise NotImplementedError."""
        raise NotImplementedError(f"prior {self.name!r} gives no virial (stress)")

    def compute_with_virials(self, frames: list[Atoms]):
        """``compute``'s energies and forces and ``virials``' virials (None for a prior that
        gives none); priors that get all three from one evaluation override it."""
        energies, forces = self.compute(frames)
        try:
            return energies, forces, self.virials(frames)
        except NotImplementedError:
            return energies, forces, None

    def representative(self) -> Atoms:
        """Structure ``cost_per_atom`` is measured on (default: 64-atom bulk Si)."""
        return bulk_silicon()

    def cost_per_atom(self, repeats: int = 5, budget_s: float = 0.5) -> float:
        """Seconds per atom of one ``compute`` call on ``representative()``: the median of up
        to ``repeats`` calls (fewer once ``budget_s`` is spent) after one warm-up call.
        Measured when first asked, then cached on the instance."""
        if self._cost is None:
            atoms = self.representative()
            self.compute([atoms])  # warm-up: imports, lazily started engines, caches
            times, start = [], time.perf_counter()
            while len(times) < repeats and (not times or time.perf_counter() - start < budget_s):
                t0 = time.perf_counter()
                self.compute([atoms])
                times.append(time.perf_counter() - t0)
            self._cost = float(np.median(times)) / len(atoms)
        return self._cost

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _symbols(items):
    for item in items:
        if isinstance(item, Atoms):
            yield from item.get_chemical_symbols()
        else:
            yield item


def bulk_silicon(seed: int = 0, repeat: int = 2) -> Atoms:
    """Diamond-cubic Si, ``repeat``^3 conventional cells (default 64 atoms), rattled by
    0.05 A; its cell is diagonal, so it is already in LAMMPS orientation."""
    atoms = ase.build.bulk("Si", "diamond", a=5.431, cubic=True).repeat((repeat,) * 3)
    atoms.rattle(0.05, seed=seed)
    return atoms


def small_molecule() -> Atoms:
    """Benzene (ASE's G2 geometry), non-periodic: the test structure of molecular priors."""
    atoms = ase.build.molecule("C6H6")
    atoms.pbc = False
    return atoms


def check_labels(prior: Prior, frames: list[Atoms], energies, forces) -> Labels:
    """Labels as float arrays, after checking their shapes and finiteness."""
    energies = np.asarray(energies, dtype=float).reshape(-1)
    forces = [np.asarray(f, dtype=float).reshape(len(a), 3) for f, a in zip(forces, frames)]
    if len(energies) != len(frames) or len(forces) != len(frames):
        raise RuntimeError(f"{prior.name}: got {len(energies)} energies / {len(forces)} force "
                           f"arrays for {len(frames)} frames")
    for i, (e, f) in enumerate(zip(energies, forces)):
        if not (np.isfinite(e) and np.all(np.isfinite(f))):
            raise RuntimeError(f"{prior.name}: non-finite energy/forces for frame {i}")
    return energies, forces
