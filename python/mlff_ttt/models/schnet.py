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
                envelope: torch.Tensor, n_out: int = -1) -> torch.Tensor:
        """The features after the block of nodes [0, n_out) (all: -1); the edges' centres
        must be among them."""
        n = h.shape[0] if n_out < 0 else n_out
        weights = self.filter(basis) * envelope.unsqueeze(-1)
        # index_select and index_add rather than x[index] and a scatter: their backward passes
        # are each other, with no accumulating index_put
        messages = self.lin_in(h).index_select(0, edge_index[1]) * weights
        aggregated = h.new_zeros(n, h.shape[1]).index_add(0, edge_index[0], messages)
        return h[:n] + self.update(aggregated)


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
        basis, envelope = self.edge_terms(edge_vec, radius)
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
        return (self.reference_head(h, species, edge_index, basis, envelope, layer_edges,
                                    len(self.shared))
                + self.core(species, edge_index, edge_vec, species.shape[0]))

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
        return (self.reference_head(h, species, edge_index, basis, envelope)
                + self.core(species, edge_index, edge_vec, species.shape[0]),
                self.prior_head(h, species, edge_index, basis, envelope))

    # One message-passing layer at a time, for a caller that exchanges node features between
    # layers (domain decomposition with ghosts one cutoff deep: docs/speed.md); the features
    # are (N, exchange_width) rows, here h itself.

    @torch.jit.export
    def exchange_width(self) -> int:
        return self.embedding.embedding_dim

    @torch.jit.export
    def initial_features(self, species: torch.Tensor) -> torch.Tensor:
        return self.embedding(species)

    @torch.jit.export
    def edge_terms(self, edge_vec: torch.Tensor,
                   radius: Optional[float] = None) -> List[torch.Tensor]:
        """The per-edge inputs every layer shares: the radial basis and the envelope."""
        r = torch.linalg.norm(edge_vec, dim=-1)
        return [self.basis(r), self.envelope(r, radius)]

    @torch.jit.export
    def layer_features(self, layer: int, features: torch.Tensor, edge_index: torch.Tensor,
                       terms: List[torch.Tensor], n_out: int) -> torch.Tensor:
        """The features of nodes [0, n_out) after layer ``layer`` (0-based over the shared
        blocks, then the reference head's), from every node's features before it."""
        h = features[:n_out]
        for k, block in enumerate(self.shared):
            if k == layer:
                h = block(features, edge_index, terms[0], terms[1], n_out)
        for k, block in enumerate(self.reference_head.blocks):
            if k + len(self.shared) == layer:
                h = block(features, edge_index, terms[0], terms[1], n_out)
        return h

    @torch.jit.export
    def features_energies(self, features: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """Per-atom reference energies from the features after the last layer, without the
        core repulsion (``core``, which the caller adds from the edges)."""
        return self.reference_head.readout(features, species)
