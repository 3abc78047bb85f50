"""A repulsive core where the training data has no pairs.

A learned energy is fitted only down to the closest pair distance its reference data holds;
below it the model extrapolates and can be far too soft, so hot or compressed MD lets atoms
approach further than any physical structure (measured: the default silicon model's liquid
brought atoms to 1.50 A; the reference's own MD never below 1.93 A). This term adds the
universal screened nuclear repulsion of Ziegler, Biersack and Littmark (ZBL), switched on
smoothly below each element pair's closest distance in the training set: zero on every
training pair, so training and in-distribution predictions are unchanged, and a steep wall
where the data ends. The same choice ML-PACE's core repulsion and NequIP's ZBL term make;
written here because it must live inside the model (one potential for TorchScript, the
pair style, the calculator and TTT alike) and no maintained library provides it as a module.
"""

from __future__ import annotations

import math
from typing import List, Sequence

import torch
from ase.data import atomic_numbers
from torch import nn

# e^2 / (4 pi eps0) in eV A (CODATA 2018)
COULOMB_EV_A = 14.399645
# ZBL universal screening function phi(x) = sum_k c_k exp(-d_k x), x = r / a, and its
# screening length a = 0.46850 A / (Z_i^0.23 + Z_j^0.23) (Ziegler, Biersack, Littmark 1985)
ZBL_COEFFICIENTS = (0.18175, 0.50986, 0.28022, 0.02817)
ZBL_EXPONENTS = (3.19980, 0.94229, 0.40290, 0.20162)
ZBL_LENGTH_A = 0.46850
ZBL_Z_POWER = 0.23


class CoreRepulsion(nn.Module):
    """E_i = 1/2 sum_j s(r_ij) ZBL(r_ij) over the edges centred on i (both directions of a
    pair are edges, so each atom carries half of each pair's energy). s is 1 below
    onset - switch_width, 0 above ``onset`` (per element pair: the training set's closest
    distance), cosine-shaped in between, so energy and forces stay continuous. An element pair
    with onset 0 (never within the cutoff in the training set) gets no core term.

    Its state is the constructor's arguments (recorded in the model's hparams), so a model
    rebuilt from its hparams has it; ``switch_width`` 0 is the model without it."""

    def __init__(self, elements: Sequence[str], switch_width: float = 0.0,
                 onset: Sequence[Sequence[float]] = ()) -> None:
        super().__init__()
        n = len(elements)
        table = torch.zeros(n, n, dtype=torch.float64)
        if switch_width > 0:
            table = torch.tensor(onset, dtype=torch.float64)
            if table.shape != (n, n) or not torch.equal(table, table.T) or bool((table < 0).any()):
                raise ValueError(f"core repulsion onset must be a symmetric {n} x {n} table of "
                                 f"distances >= 0 (one row per element of {list(elements)})")
            if bool(((table > 0) & (table <= switch_width)).any()):
                raise ValueError(f"core repulsion switch_width {switch_width} A must be below "
                                 f"every onset distance ({table[table > 0].min():.3f} A)")
        self.switch_width = float(switch_width)
        self.reach = float(table.max())
        # Plain tensor attributes, not buffers: no state of their own (rebuilt from the hparams,
        # so files made before this term load as they were), cast to the edges' dtype and
        # device where used (a few numbers per element pair).
        self.onset = table
        z = torch.tensor([float(atomic_numbers[e]) for e in elements], dtype=torch.float64)
        # per element pair: ZBL's screening length and Z_i Z_j e^2 / (4 pi eps0)
        self.screening = ZBL_LENGTH_A / (z[:, None] ** ZBL_Z_POWER + z[None, :] ** ZBL_Z_POWER)
        self.coulomb = COULOMB_EV_A * z[:, None] * z[None, :]
        self.coefficients = torch.tensor(ZBL_COEFFICIENTS, dtype=torch.float64)
        self.exponents = torch.tensor(ZBL_EXPONENTS, dtype=torch.float64)

    def forward(self, species: torch.Tensor, edge_index: torch.Tensor, edge_vec: torch.Tensor,
                n_out: int) -> torch.Tensor:
        """Per-atom core energies of nodes [0, n_out); the edges' centres must be among them."""
        energies = edge_vec.new_zeros(n_out)
        if self.switch_width <= 0:
            return energies
        # the few edges inside the reach (in a physical structure usually none), found outside
        # autograd so that the other edges cost no backward pass
        squared = (edge_vec.detach() ** 2).sum(-1)
        near = torch.nonzero(squared < self.reach * self.reach).squeeze(1)
        r = torch.linalg.norm(edge_vec.index_select(0, near), dim=-1)
        centre = edge_index[0].index_select(0, near)
        s_i = species.index_select(0, centre)
        s_j = species.index_select(0, edge_index[1].index_select(0, near))
        onset = self.onset.to(device=r.device, dtype=r.dtype)[s_i, s_j]
        u = ((r - (onset - self.switch_width)) / self.switch_width).clamp(0.0, 1.0)
        switch = 0.5 * (torch.cos(math.pi * u) + 1.0) * (onset > 0).to(r.dtype)
        x = r / self.screening.to(device=r.device, dtype=r.dtype)[s_i, s_j]
        exponents = self.exponents.to(device=r.device, dtype=r.dtype)
        coefficients = self.coefficients.to(device=r.device, dtype=r.dtype)
        phi = (coefficients * torch.exp(-exponents * x.unsqueeze(-1))).sum(-1)
        pair = switch * self.coulomb.to(device=r.device, dtype=r.dtype)[s_i, s_j] / r * phi
        return energies.index_add(0, centre, 0.5 * pair)


def closest_pair_distances(frames, num_elements: int) -> List[List[float]]:
    """Per element pair, the shortest edge of the frames' graphs (0 where none occurs): where
    the core repulsion starts."""
    table = torch.zeros(num_elements, num_elements, dtype=torch.float64)
    for frame in frames:
        if frame.edge_index.shape[1] == 0:
            continue
        r = torch.linalg.norm(frame.edge_vec.to(torch.float64), dim=-1)
        s_i = frame.species[frame.edge_index[0]]
        s_j = frame.species[frame.edge_index[1]]
        for a in range(num_elements):
            for b in range(a, num_elements):
                pair = ((s_i == a) & (s_j == b)) | ((s_i == b) & (s_j == a))
                if bool(pair.any()):
                    closest = float(r[pair].min())
                    current = float(table[a, b])
                    table[a, b] = table[b, a] = closest if current == 0 else min(current, closest)
    return table.tolist()
