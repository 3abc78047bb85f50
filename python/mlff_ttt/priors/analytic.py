"""Analytic pair priors in torch: ZBL, Lennard-Jones and Morse.

Energies come from a radius graph (``mlff_ttt.graph.radius_graph``) of each frame, forces
by autograd through ``mlff_ttt.forces.evaluate`` (the gradient with respect to edge
vectors, as in the models). The graph is a full neighbour list, so every pair appears
twice and each edge carries half the pair energy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

from ..forces import evaluate
from ..graph import radius_graph
from .base import Labels, Prior, check_labels

COULOMB = 14.399645  # e^2 / (4 pi eps0) in eV*A
# ZBL universal screening function: sum_k c_k exp(-d_k r / a) (Ziegler, Biersack, Littmark 1985)
ZBL_C = (0.18175, 0.50986, 0.28022, 0.02817)
ZBL_D = (3.19980, 0.94229, 0.40290, 0.20162)


@dataclass
class BatchedGraph:
    """Radius graphs of several frames as one disjoint graph (torch, float64)."""
    numbers: torch.Tensor     # (N,) atomic numbers
    edge_index: torch.Tensor  # (2, E), node indices offset per frame
    edge_vec: torch.Tensor    # (E, 3)
    batch: torch.Tensor       # (N,) frame of each node
    sizes: list[int]          # atoms per frame


def batched_graph(frames: list[Atoms], cutoff: float) -> BatchedGraph:
    numbers, edges, vecs, batch, offset = [], [], [], [], 0
    for k, atoms in enumerate(frames):
        # the priors here look at atomic numbers, not at a model's element indices
        graph = radius_graph(atoms, cutoff, sorted(set(atoms.get_chemical_symbols())))
        numbers.append(atoms.numbers)
        edges.append(graph.edge_index + offset)
        vecs.append(graph.edge_vec)
        batch.append(np.full(len(atoms), k))
        offset += len(atoms)
    return BatchedGraph(
        numbers=torch.from_numpy(np.concatenate(numbers).astype(np.int64)),
        edge_index=torch.from_numpy(np.concatenate(edges, axis=1)),
        edge_vec=torch.from_numpy(np.concatenate(vecs)),
        batch=torch.from_numpy(np.concatenate(batch).astype(np.int64)),
        sizes=[len(a) for a in frames],
    )


class PairPrior(Prior):
    """A pair potential phi(r, Z_i, Z_j) truncated at ``cutoff``; subclasses define
    ``pair_energy``. ``cost_per_atom``: measured on 64-atom bulk Si (see ``Prior``); of the
    order of 1e-5 s per atom, dominated by the neighbour list and autograd."""

    cutoff: float

    def pair_energy(self, r: torch.Tensor, zi: torch.Tensor, zj: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def node_energy(self, numbers, edge_index, edge_vec) -> torch.Tensor:
        """Per-atom energies: half the pair energy of every edge, on its centre atom."""
        r = torch.linalg.norm(edge_vec, dim=1)
        center, neighbor = edge_index
        phi = torch.where(r < self.cutoff,
                          self.pair_energy(r, numbers[center], numbers[neighbor]),
                          torch.zeros_like(r))
        return torch.zeros(len(numbers), dtype=r.dtype).index_add(0, center, 0.5 * phi)

    def _evaluate_graph(self, graph: BatchedGraph):
        return evaluate(self.node_energy, graph.numbers, graph.edge_index, graph.edge_vec,
                        n_nodes=len(graph.numbers), batch=graph.batch,
                        num_structures=len(graph.sizes))

    def evaluate_graph(self, graph: BatchedGraph) -> Labels:
        out = self._evaluate_graph(graph)
        energies = out["energy"].detach().numpy()
        forces = np.split(out["forces"].detach().numpy(), np.cumsum(graph.sizes)[:-1])
        return energies, forces

    def compute(self, frames: list[Atoms]) -> Labels:
        frames = list(frames)
        if not frames:
            return np.zeros(0), []
        energies, forces = self.evaluate_graph(batched_graph(frames, self.cutoff))
        return check_labels(self, frames, energies, forces)

    def virials(self, frames: list[Atoms]) -> list[np.ndarray]:
        frames = list(frames)
        if not frames:
            return []
        out = self._evaluate_graph(batched_graph(frames, self.cutoff))
        return list(out["virial"].detach().numpy())


def smooth_step(r: torch.Tensor, r_on: float, r_off: float) -> torch.Tensor:
    """1 below r_on, 0 above r_off, and 1 - 10x^3 + 15x^4 - 6x^5 in between
    (x = (r - r_on) / (r_off - r_on)): continuous with two continuous derivatives."""
    x = ((r - r_on) / (r_off - r_on)).clamp(0.0, 1.0)
    return 1.0 - x**3 * (10.0 - 15.0 * x + 6.0 * x**2)


class ZBL(PairPrior):
    """ZBL universal screened nuclear repulsion,
    phi(r) = Z_i Z_j e^2/(4 pi eps0 r) sum_k c_k exp(-d_k r / a), a = 0.46850 A / (Z_i^0.23 + Z_j^0.23),
    switched off smoothly (``smooth_step``) between ``cutoff - switch_width`` and ``cutoff``."""

    name = "zbl"
    units = {"cutoff": "A", "switch_width": "A"}
    coverage = "every element (universal screening, Z >= 1)"

    def __init__(self, cutoff: float = 3.0, switch_width: float = 1.0):
        cutoff, switch_width = _numbers(self.name, cutoff=cutoff, switch_width=switch_width)
        if not 0 < switch_width <= cutoff:
            raise ValueError(f"need 0 < switch_width <= cutoff, got {switch_width}, {cutoff}")
        self.cutoff, self.switch_width = float(cutoff), float(switch_width)

    def pair_energy(self, r, zi, zj):
        zi, zj = zi.to(r.dtype), zj.to(r.dtype)
        a = 0.46850 / (zi**0.23 + zj**0.23)
        screening = sum(c * torch.exp(-d * r / a) for c, d in zip(ZBL_C, ZBL_D))
        return (COULOMB * zi * zj / r * screening
                * smooth_step(r, self.cutoff - self.switch_width, self.cutoff))


def _numbers(prior: str, **values) -> list:
    """The values as floats; ValueError naming one that is not a number."""
    out = []
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"prior {prior!r}: {key} must be a number, not {value!r}")
        out.append(float(value))
    return out


class LennardJones(PairPrior):
    """4 eps [(sigma/r)^12 - (sigma/r)^6], shifted to zero at ``cutoff``, for every element
    pair alike. Every parameter is required (no value suits every system)."""

    name = "lennard_jones"
    units = {"epsilon": "eV", "sigma": "A", "cutoff": "A"}
    coverage = "every element, one parameter set for every pair"

    def __init__(self, epsilon: float, sigma: float, cutoff: float):
        self.epsilon, self.sigma, self.cutoff = _numbers(self.name, epsilon=epsilon,
                                                         sigma=sigma, cutoff=cutoff)
        if not self.cutoff > 0:
            raise ValueError(f"prior {self.name!r}: cutoff must be > 0, got {self.cutoff}")

    def _lj(self, r):
        s6 = (self.sigma / r) ** 6
        return 4.0 * self.epsilon * (s6 * s6 - s6)

    def pair_energy(self, r, zi, zj):
        return self._lj(r) - self._lj(torch.tensor(self.cutoff, dtype=r.dtype))


class Morse(PairPrior):
    """D [exp(-2a(r - r0)) - 2 exp(-a(r - r0))] (well depth D at r0), shifted to zero at
    ``cutoff``, for every element pair alike. Every parameter is required (no value suits
    every system)."""

    name = "morse"
    units = {"D": "eV", "a": "1/A", "r0": "A", "cutoff": "A"}
    coverage = "every element, one parameter set for every pair"

    def __init__(self, D: float, a: float, r0: float, cutoff: float):
        self.D, self.a, self.r0, self.cutoff = _numbers(self.name, D=D, a=a, r0=r0,
                                                        cutoff=cutoff)
        if not self.cutoff > 0:
            raise ValueError(f"prior {self.name!r}: cutoff must be > 0, got {self.cutoff}")

    def _morse(self, r):
        e = torch.exp(-self.a * (r - self.r0))
        return self.D * (e * e - 2.0 * e)

    def pair_energy(self, r, zi, zj):
        return self._morse(r) - self._morse(torch.tensor(self.cutoff, dtype=r.dtype))
