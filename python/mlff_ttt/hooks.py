"""Bridge between the pair style and Python hooks (`pair_style mlff_ttt hook every N mod:fn`).

The plugin calls :func:`invoke` with NumPy copies of its current graph; the user's function
receives a :class:`HookGraph` of torch tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


@dataclass
class HookGraph:
    """The graph one MPI rank evaluated at one step.

    Nodes are that rank's owned atoms (the first ``n_local``) followed by ghost atoms.
    ``edge_index[0]`` are centers, ``edge_index[1]`` neighbors, and
    ``edge_vec = positions[edge_index[1]] - positions[edge_index[0]]`` (Angstrom).
    """

    positions: torch.Tensor   # (n_nodes, 3) float64
    species: torch.Tensor     # (n_nodes,) int64, indices into the model's element list
    edge_index: torch.Tensor  # (2, n_edges) int64
    edge_vec: torch.Tensor    # (n_edges, 3) float64
    n_local: int
    step: int
    rank: int
    size: int


def invoke(function: Callable[[HookGraph], object], positions: np.ndarray, species: np.ndarray,
           edge_index: np.ndarray, edge_vec: np.ndarray, n_local: int, step: int, rank: int,
           size: int) -> None:
    graph = HookGraph(
        positions=torch.from_numpy(positions),
        species=torch.from_numpy(species),
        edge_index=torch.from_numpy(edge_index),
        edge_vec=torch.from_numpy(edge_vec),
        n_local=int(n_local),
        step=int(step),
        rank=int(rank),
        size=int(size),
    )
    function(graph)
