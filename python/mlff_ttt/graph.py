"""Radius graphs of periodic or finite structures, from vesin's neighbor lists.

Edges are directed: ``edge_index[0]`` is the center, ``edge_index[1]`` the neighbor and
``edge_vec = x[neighbor] - x[center] + shift @ cell`` (the convention of the C++ core).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from vesin import NeighborList


@dataclass
class StructureGraph:
    species: np.ndarray      # (n,) int64 element indices
    edge_index: np.ndarray   # (2, E) int64
    edge_vec: np.ndarray     # (E, 3) float64
    shifts: np.ndarray       # (E, 3) float64 integer cell shifts of the neighbor image


def element_indices(atoms: Atoms, elements: list[str], frame: int | None = None) -> np.ndarray:
    """Indices of each atom's element in ``elements``; ValueError naming unknown ones."""
    lookup = {symbol: k for k, symbol in enumerate(elements)}
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(lookup))
    if unknown:
        where = f" in frame {frame}" if frame is not None else ""
        raise ValueError(f"element(s) {unknown}{where} not in the model's elements {elements}")
    return np.array([lookup[s] for s in symbols], dtype=np.int64)


def radius_graph(atoms: Atoms, cutoff: float, elements: list[str],
                 frame: int | None = None) -> StructureGraph:
    """Full radius graph; ``frame`` only labels the error for unknown elements."""
    pbc = atoms.get_pbc()
    if pbc.any() and not pbc.all():
        raise ValueError("mixed periodic boundary conditions are not supported")
    periodic = bool(pbc.all())
    box = atoms.cell.array if periodic else np.zeros((3, 3))
    calculator = NeighborList(cutoff=cutoff, full_list=True)
    i, j, shifts, vectors = calculator.compute(
        points=atoms.positions, box=box, periodic=periodic, quantities="ijSD")
    return StructureGraph(
        species=element_indices(atoms, elements, frame),
        edge_index=np.stack([i, j]).astype(np.int64),
        edge_vec=np.asarray(vectors, dtype=np.float64),
        shifts=np.asarray(shifts, dtype=np.float64),
    )
