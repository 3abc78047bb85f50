"""SchNet-like invariant model with a shared representation and two energy heads.

The representation (element embedding + the first ``shared_layers`` interaction blocks) feeds
two heads with ``head_layers`` further interaction blocks and an output MLP each: the prior
head learns the cheap prior's energies, the reference head the reference energies. Test-time
training updates the representation through the prior head only.
"""

from __future__ import annotations

from typing import List, Optional

import torch
from torch import nn

from .base import TwoHeadModel
from .layers import EnergyReadout, GaussianBasis, ShiftedSoftplus, layer_edge_count


class Interaction(nn.Module):
    """Continuous-filter convolution: h_i += MLP(sum_j W(r_ij) * Lin(h_j))."""

    def __init__(self, hidden: int, num_basis: int) -> None:
        super().__init__()
        self.filter = nn.Sequential(
            nn.Linear(num_basis, hidden), ShiftedSoftplus(), nn.Linear(hidden, hidden)
        )
        self.lin_in = nn.Linear(hidden, hidden, bias=False)
        self.update = nn.Sequential(
            nn.Linear(hidden, hidden), ShiftedSoftplus(), nn.Linear(hidden, hidden)
        )

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, basis: torch.Tensor,
                envelope: torch.Tensor) -> torch.Tensor:
        weights = self.filter(basis) * envelope.unsqueeze(-1)
        # index_select and index_add rather than x[index] and a scatter: their backward passes
        # are each other, with no accumulating index_put
        messages = self.lin_in(h).index_select(0, edge_index[1]) * weights
        aggregated = torch.zeros_like(h).index_add(0, edge_index[0], messages)
        return h + self.update(aggregated)


class EnergyHead(EnergyReadout):
    """Further interaction blocks, then the per-atom energy readout."""

    def __init__(self, hidden: int, num_basis: int, num_layers: int, num_elements: int) -> None:
        super().__init__(nn.ModuleList([Interaction(hidden, num_basis) for _ in range(num_layers)]),
                         hidden, num_elements, ShiftedSoftplus())

    def forward(self, h: torch.Tensor, species: torch.Tensor, edge_index: torch.Tensor,
                basis: torch.Tensor, envelope: torch.Tensor,
                layer_edges: Optional[List[int]] = None, first_layer: int = 0) -> torch.Tensor:
        for k, block in enumerate(self.blocks):
            n = layer_edge_count(layer_edges, first_layer + k, edge_index.shape[1])
            h = block(h, edge_index[:, :n], basis[:n], envelope[:n])
        return self.readout(h, species)


class SchNet(TwoHeadModel):
    """Invariant features h (N, F), updated by continuous-filter convolutions."""

    architecture = "schnet"
    layer_types = (GaussianBasis, Interaction, EnergyHead)

    def representation(self, species: torch.Tensor, edge_index: torch.Tensor,
                       edge_vec: torch.Tensor, radius: Optional[float] = None,
                       layer_edges: Optional[List[int]] = None):
        r = torch.linalg.norm(edge_vec, dim=-1)
        basis = self.basis(r)
        envelope = self.envelope(r, radius)
        h = self.embedding(species)
        for k, block in enumerate(self.shared):
            n = layer_edge_count(layer_edges, k, edge_index.shape[1])
            h = block(h, edge_index[:, :n], basis[:n], envelope[:n])
        return h, basis, envelope

    def forward(self, species: torch.Tensor, edge_index: torch.Tensor,
                edge_vec: torch.Tensor, radius: Optional[float] = None,
                layer_edges: Optional[List[int]] = None) -> torch.Tensor:
        """Per-atom reference energies; ``radius`` cuts the graph below the cutoff (RR);
        ``layer_edges`` see :func:`~mlff_ttt.models.layers.layer_edge_count`."""
        h, basis, envelope = self.representation(species, edge_index, edge_vec, radius,
                                                 layer_edges)
        return self.reference_head(h, species, edge_index, basis, envelope, layer_edges,
                                   len(self.shared))

    @torch.jit.export
    def prior_energies(self, species: torch.Tensor, edge_index: torch.Tensor,
                       edge_vec: torch.Tensor, radius: Optional[float] = None) -> torch.Tensor:
        """Per-atom prior energies (what test-time training fits)."""
        h, basis, envelope = self.representation(species, edge_index, edge_vec, radius)
        return self.prior_head(h, species, edge_index, basis, envelope)

    @torch.jit.export
    def both_energies(self, species: torch.Tensor, edge_index: torch.Tensor,
                      edge_vec: torch.Tensor, radius: Optional[float] = None):
        """Reference and prior per-atom energies sharing one representation pass."""
        h, basis, envelope = self.representation(species, edge_index, edge_vec, radius)
        return (self.reference_head(h, species, edge_index, basis, envelope),
                self.prior_head(h, species, edge_index, basis, envelope))
