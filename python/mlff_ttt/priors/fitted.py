"""A pair prior fitted once to reference labels, then fixed.

E = sum_pairs phi_ab(r) + sum_atoms e_a, with phi_ab(r) = sum_k c_abk B_k(r) on fixed radial
basis functions B_k (Gaussians times a cosine cutoff) for every unordered element pair ab,
and one constant e_a per element. Energies and forces are linear in (c, e), so the fit is a
linear least-squares problem; the columns of its design matrix are the prior's own energies
and forces with one coefficient set to 1 (one code path for fitting and prediction).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

from ..files import write_text_atomically
from ..graph import element_indices
from .analytic import PairPrior, batched_graph
from .base import Labels, bulk_silicon, check_labels

FORMAT = "mlff_ttt.priors.pair_fitted/1"


class PairFittedPrior(PairPrior):
    """Build with ``PairFittedPrior.fit(frames, elements, ...)`` or ``load(path)``
    (``get_prior("pair_fitted", path=...)``). ``cost_per_atom``: measured on 64-atom bulk Si
    geometry with species cycled through ``elements``; about that of the analytic priors."""

    name = "pair_fitted"
    units = {"path": "a pair_fitted JSON file (PairFittedPrior.save)"}

    @property
    def coverage(self) -> str:
        return f"{', '.join(self.elements)}, the elements it was fitted on"

    def covers(self, symbol: str) -> bool:
        return symbol in self.elements

    def __init__(self, elements, cutoff: float, r_min: float, coefficients, element_energies,
                 info: dict | None = None):
        self.elements = list(elements)
        self.cutoff, self.r_min = float(cutoff), float(r_min)
        n = len(self.elements)
        self.coefficients = np.array(coefficients, dtype=float)  # (n_pairs, num_basis)
        self.element_energies = np.array(element_energies, dtype=float)  # (n_elements,)
        if self.coefficients.ndim != 2 or len(self.coefficients) != n * (n + 1) // 2:
            raise ValueError(f"coefficients must have shape ({n * (n + 1) // 2}, num_basis) "
                             f"for {n} elements, got {self.coefficients.shape}")
        if self.element_energies.shape != (n,):
            raise ValueError(f"element_energies must have shape ({n},)")
        self.info = dict(info or {})  # fit statistics, kept in the file
        # Lookup tables: atomic number -> element index -> unordered pair index.
        self._element_of = torch.full((119,), -1, dtype=torch.long)
        self._element_of[[Atoms(s).numbers[0] for s in self.elements]] = torch.arange(n)
        pair = torch.zeros((n, n), dtype=torch.long)
        for k, (a, b) in enumerate(self.pairs()):
            pair[a, b] = pair[b, a] = k
        self._pair_of = pair

    @property
    def num_basis(self) -> int:
        return self.coefficients.shape[1]

    def pairs(self) -> list[tuple[int, int]]:
        n = len(self.elements)
        return [(a, b) for a in range(n) for b in range(a, n)]

    def basis(self, r: torch.Tensor) -> torch.Tensor:
        """(E, num_basis): Gaussians of width equal to their spacing, centred evenly on
        [r_min, cutoff], times 0.5 (cos(pi r / cutoff) + 1) so they vanish smoothly."""
        centers = torch.linspace(self.r_min, self.cutoff, self.num_basis, dtype=r.dtype)
        width = (self.cutoff - self.r_min) / max(self.num_basis - 1, 1)
        envelope = 0.5 * (torch.cos(torch.pi * r / self.cutoff) + 1.0)
        return torch.exp(-0.5 * ((r[:, None] - centers) / width) ** 2) * envelope[:, None]

    def pair_energy(self, r, zi, zj):
        pair = self._pair_of[self._element_of[zi], self._element_of[zj]]
        coefficients = torch.from_numpy(self.coefficients).to(r.dtype)[pair]
        return (self.basis(r) * coefficients).sum(dim=1)

    def compute(self, frames: list[Atoms]) -> Labels:
        frames = list(frames)
        self.check_elements(frames)
        counts = self._element_counts(frames)  # also rejects unknown elements
        energies, forces = super().compute(frames)
        return check_labels(self, frames, energies + counts @ self.element_energies, forces)

    def _element_counts(self, frames) -> np.ndarray:
        counts = np.zeros((len(frames), len(self.elements)))
        for i, atoms in enumerate(frames):
            counts[i] = np.bincount(element_indices(atoms, self.elements, frame=i),
                                    minlength=len(self.elements))
        return counts

    def representative(self) -> Atoms:
        atoms = bulk_silicon()
        atoms.set_chemical_symbols([self.elements[i % len(self.elements)] for i in range(len(atoms))])
        return atoms

    @classmethod
    def fit(cls, frames: list[Atoms], elements, cutoff: float = 5.0, num_basis: int = 12,
            r_min: float | None = None, energy_weight: float = 1.0, ridge: float = 1e-6,
            energy_key: str = "REF_energy", forces_key: str = "REF_forces") -> "PairFittedPrior":
        """Least-squares fit to per-atom energies (rows weighted by ``energy_weight``) and
        force components, with a small ridge penalty on the pair coefficients (basis
        functions no training pair distance reaches stay at zero). ``r_min``, the first
        basis centre, defaults to the shortest training pair distance rounded down to 0.1 A."""
        frames = list(frames)
        if not frames:
            raise ValueError("no frames to fit")
        elements = list(elements)
        for index, atoms in enumerate(frames):
            if energy_key not in atoms.info or forces_key not in atoms.arrays:
                raise ValueError(f"frame {index} has no {energy_key}/{forces_key} labels to fit to")
        graph = batched_graph(frames, cutoff)
        if r_min is None:
            r_min = np.floor(10 * float(torch.linalg.norm(graph.edge_vec, dim=1).min())) / 10
        n_pairs = len(elements) * (len(elements) + 1) // 2
        prior = cls(elements, cutoff, r_min, np.zeros((n_pairs, num_basis)), np.zeros(len(elements)))
        counts = prior._element_counts(frames)
        n_atoms = counts.sum(axis=1)
        columns = []
        for k in range(prior.coefficients.size):  # one column per pair coefficient
            prior.coefficients.flat[:] = np.eye(prior.coefficients.size)[k]
            energies, forces = prior.evaluate_graph(graph)
            columns.append(np.concatenate([energy_weight * energies / n_atoms, np.concatenate(forces).ravel()]))
        n_force_rows = 3 * int(n_atoms.sum())
        for a in range(len(elements)):  # element constants: energy only
            columns.append(np.concatenate([energy_weight * counts[:, a] / n_atoms, np.zeros(n_force_rows)]))
        design = np.stack(columns, axis=1)
        target = np.concatenate([
            energy_weight * np.array([f.info[energy_key] for f in frames]) / n_atoms,
            np.concatenate([f.arrays[forces_key] for f in frames]).ravel()])
        penalty = np.sqrt(ridge) * np.eye(design.shape[1])[:prior.coefficients.size]
        solution, *_ = np.linalg.lstsq(np.vstack([design, penalty]),
                                       np.concatenate([target, np.zeros(len(penalty))]), rcond=None)
        residual = design @ solution - target
        n_e = len(frames)
        info = {"n_frames": n_e, "energy_key": energy_key, "forces_key": forces_key,
                "energy_weight": energy_weight, "ridge": ridge,
                "train_energy_rmse_per_atom": float(np.sqrt(np.mean((residual[:n_e] / energy_weight) ** 2))),
                "train_force_rmse": float(np.sqrt(np.mean(residual[n_e:] ** 2)))}
        return cls(elements, cutoff, r_min, solution[:prior.coefficients.size].reshape(n_pairs, num_basis),
                   solution[prior.coefficients.size:], info)

    def to_dict(self) -> dict:
        return {"format": FORMAT, "elements": self.elements, "cutoff": self.cutoff,
                "r_min": self.r_min, "coefficients": self.coefficients.tolist(),
                "element_energies": self.element_energies.tolist(), "info": self.info}

    def save(self, path) -> None:
        """JSON; Python writes floats with round-trip precision, so ``load`` is exact."""
        write_text_atomically(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path) -> "PairFittedPrior":
        data = json.loads(Path(path).read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} file (format={data.get('format')!r})")
        return cls(data["elements"], data["cutoff"], data["r_min"], data["coefficients"],
                   data["element_energies"], data.get("info"))

    @classmethod
    def create(cls, path) -> "PairFittedPrior":
        return cls.load(path)
