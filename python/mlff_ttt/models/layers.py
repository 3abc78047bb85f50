"""Building blocks shared by the architectures."""

from __future__ import annotations

import math
from typing import List, Optional

import torch
from torch import nn

# Width (Angstrom) of the smooth switch that cuts edges at a refined radius (see CosineEnvelope).
RR_SWITCH_WIDTH = 0.5


def layer_edge_count(layer_edges: Optional[List[int]], layer: int, num_edges: int) -> int:
    """How many leading edges message-passing layer ``layer`` (0-based over the whole model)
    uses: all of them without ``layer_edges``. A domain-decomposed caller sorts its edges by
    how many hops their centre lies from the atoms it owns and passes, per layer, the count of
    edges whose centre is within (num_layers - 1 - layer) hops: the later layers only need
    features closer to the owned atoms, so their work shrinks to those edges. The owned
    atoms' energies are unchanged (features further out are never used again)."""
    if layer_edges is None:
        return num_edges
    return layer_edges[layer]


class ShiftedSoftplus(nn.Module):
    """softplus(x) - log 2: smooth, zero at zero (SchNet's activation)."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = math.log(2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(x) - self.shift


class GaussianBasis(nn.Module):
    """Gaussians on a uniform grid over [0, cutoff]."""

    def __init__(self, cutoff: float, num_basis: int) -> None:
        super().__init__()
        centers = torch.linspace(0.0, cutoff, num_basis)
        self.register_buffer("centers", centers)
        self.coeff = -0.5 / float(centers[1] - centers[0]) ** 2

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.coeff * (r.unsqueeze(-1) - self.centers) ** 2)


class CosineEnvelope(nn.Module):
    """0.5 (cos(pi r / rc) + 1) inside the cutoff: value and slope vanish at rc, so energies
    and forces stay continuous as atoms cross the cutoff (needed for energy conservation).

    Radius refinement evaluates the model on a graph cut at a radius below rc. Edges then
    also get a switch that falls from 1 to 0 over the last RR_SWITCH_WIDTH Angstrom below the
    radius (cosine-shaped, so value and slope are continuous): the energy stays smooth as
    atoms cross the radius, and edges shorter than radius - RR_SWITCH_WIDTH keep the trained
    weights. At radius >= rc the switch is not applied: the plain model, bit for bit."""

    def __init__(self, cutoff: float) -> None:
        super().__init__()
        self.cutoff = cutoff
        self.switch_width = RR_SWITCH_WIDTH

    def forward(self, r: torch.Tensor, radius: Optional[float] = None) -> torch.Tensor:
        inside = (r < self.cutoff).to(r.dtype)
        envelope = 0.5 * (torch.cos(math.pi * r / self.cutoff) + 1.0) * inside
        if radius is not None and radius < self.cutoff:
            width = min(self.switch_width, radius)
            x = ((r - (radius - width)) / width).clamp(0.0, 1.0)
            envelope = envelope * 0.5 * (torch.cos(math.pi * x) + 1.0)
        return envelope


class EnergyReadout(nn.Module):
    """Base of the energy heads: message-passing ``blocks`` (the architecture's own; the subclass
    runs them in ``forward``), then per-atom energy = scale * MLP(features) + shift[element].
    The buffers ``scale`` (force RMS) and ``shift`` (per-element energies) are fitted to the
    labels before training. ``blocks`` is registered first, so parameter order (which optimizer
    checkpoints rely on) is blocks, then the MLP."""

    def __init__(self, blocks: nn.ModuleList, hidden: int, num_elements: int,
                 activation: nn.Module) -> None:
        super().__init__()
        self.blocks = blocks
        self.out = nn.Sequential(nn.Linear(hidden, hidden // 2), activation,
                                 nn.Linear(hidden // 2, 1))
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("shift", torch.zeros(num_elements))

    def readout(self, features: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        return self.scale * self.out(features).squeeze(-1) + self.shift[species]
