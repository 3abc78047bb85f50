"""PaiNN-like equivariant model (Schütt et al. 2021) with a shared representation and two heads.

Every atom carries scalar features s (N, F) and vector features v (N, 3, F). Message blocks let
neighbours update both through rotation-invariant filters of the distance and the edge
direction; update blocks mix s and v within an atom through invariants (vector norms and dot
products). Vectors only ever get multiplied by scalars and summed, so s stays invariant and v
rotates with the structure. The split into representation, prior head and reference head, and
the public methods, are those of :class:`~mlff_ttt.models.schnet.SchNet`.
"""

import math
from typing import List, Optional, Tuple

import torch
from torch import nn

from .base import TwoHeadModel
from .layers import EnergyReadout, layer_edge_count

# Keeps sqrt differentiable (to second order, for force training) where a vector feature is
# zero: at initialisation, for isolated atoms, and in symmetric environments.
NORM_EPS = 1e-8


class SineBasis(nn.Module):
    """sin(n pi r / rc) / r for n = 1..num_basis (the radial Bessel functions of order zero)."""

    def __init__(self, cutoff: float, num_basis: int) -> None:
        super().__init__()
        self.register_buffer("freqs", math.pi / cutoff * torch.arange(1, num_basis + 1))

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        r = r.unsqueeze(-1)
        return torch.sin(self.freqs * r) / r


class Message(nn.Module):
    """Neighbour j -> centre i: ds_i = sum_j a_ij,  dv_i = sum_j (b_ij v_j + c_ij u_ij), where
    (a, b, c) = MLP(s_j) * W(r_ij) and u_ij is the unit edge vector.

    Written for memory traffic, which is what the block's time is on a CPU: every (edges x F)
    or (edges x 3 x F) tensor costs more than the small matrix products."""

    def __init__(self, hidden: int, num_basis: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.context = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(),
                                     nn.Linear(hidden, 3 * hidden))
        self.filter = nn.Linear(num_basis, 3 * hidden)

    def forward(self, s: torch.Tensor, v: Optional[torch.Tensor], edge_index: torch.Tensor,
                basis: torch.Tensor, envelope: torch.Tensor, unit: torch.Tensor,
                n_out: int = -1) -> Tuple[torch.Tensor, torch.Tensor]:
        """``v`` None stands for vector features that are all zero (before the first block).
        The features of nodes [0, n_out) (all: -1); the edges' centres must be among them."""
        centre, neighbour = edge_index[0], edge_index[1]
        f = self.hidden
        # The envelope multiplies the whole filter (bias included), so messages vanish at rc:
        # filter(basis) * envelope = [basis * envelope, envelope] @ [W, bias]^T, a matrix
        # product with no (edges x F) product of its own, forward or backward.
        envelope = envelope.unsqueeze(-1)
        enveloped = torch.cat([basis * envelope, envelope], dim=-1)
        filter_weight = torch.cat([self.filter.weight, self.filter.bias.unsqueeze(-1)], dim=-1)
        context = self.context[1](self.context[0](s))
        # a, b, c each as its own (edges x F) tensor, made by its own rows of the last context
        # layer and of the filter: contiguous per-edge tensors whose gradients need no
        # (edges x 3F) zero-filled buffer, as slices of one (edges x 3F) product would. While
        # v is None (zero vectors) b multiplies zeros and adds exactly nothing: its rows, the
        # gathers of v[neighbour] and their products are skipped.
        rows = [0, 2] if v is None else [0, 1, 2]
        parts: List[torch.Tensor] = []
        last = self.context[2]
        for k in rows:
            features = nn.functional.linear(context, last.weight[k * f:(k + 1) * f],
                                            last.bias[k * f:(k + 1) * f])
            # index_select and index_add rather than x[index] and a broadcast scatter: their
            # backward passes are each other, with no accumulating index_put
            parts.append(features.index_select(0, neighbour)
                         * nn.functional.linear(enveloped, filter_weight[k * f:(k + 1) * f]))
        a, c = parts[0], parts[-1]
        n = s.shape[0] if n_out < 0 else n_out
        ds = s.new_zeros(n, f).index_add(0, centre, a)
        # dv_i = sum_j (b_ij v_j + c_ij u_ij), one Cartesian component at a time: every
        # per-edge tensor is (edges x F), never an (edges x 3 x F) broadcast
        components: List[torch.Tensor] = []
        for d, u in enumerate(unit.unbind(dim=1)):
            edge_term = c * u.unsqueeze(-1)
            if v is not None:
                edge_term = edge_term + parts[1] * v[:, d].index_select(0, neighbour)
            components.append(s.new_zeros(n, f).index_add(0, centre, edge_term))
        dv = torch.stack(components, dim=1)
        if v is None:
            return s[:n] + ds, dv
        return s[:n] + ds, v[:n] + dv


def saturate(x: torch.Tensor) -> torch.Tensor:
    """x / sqrt(1 + x^2): the identity near zero, smooth, bounded by 1 in magnitude."""
    return x * torch.rsqrt(1.0 + x * x)


class Update(nn.Module):
    """Per atom: with U v, V v channel mixes of v and (a, b, c) = MLP(s, |V v|),
    ds = b <U v, V v> + c and dv = a U v.

    ``bounded_invariants``: the two invariants enter saturated, ds = b sat(<U v, V v>) + c and
    (a, b, c) = MLP(s, sat(|V v|)), sat(x) = x / sqrt(1 + x^2). Why: vector features measure
    how lopsided a neighbourhood is, which is small in every crystal the reference data holds
    and large in a liquid or an amorphous structure; the dot product is quadratic in them, so
    out of distribution the unbounded form feeds features far outside their training range
    into the next block (si_painn12 on the liquid split: second-block feature norms 12x the
    training maximum at the first frame, per-atom energies of -24 eV after 20 fs of MD,
    docs/ttt.md). Saturated, the scalar update is bounded by |b| + |c| whatever the vectors."""

    def __init__(self, hidden: int, bounded_invariants: bool = False) -> None:
        super().__init__()
        self.eps = NORM_EPS
        self.bounded_invariants = bounded_invariants
        # no bias: a bias on a vector would not rotate with it
        self.mix_u = nn.Linear(hidden, hidden, bias=False)
        self.mix_v = nn.Linear(hidden, hidden, bias=False)
        self.gates = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(),
                                   nn.Linear(hidden, 3 * hidden))

    def forward(self, s: torch.Tensor, v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        uv = self.mix_u(v)  # (N, 3, F): Linear acts on the channel axis
        vv = self.mix_v(v)
        norm = torch.sqrt((vv * vv).sum(dim=1) + self.eps)
        dot = (uv * vv).sum(dim=1)
        if self.bounded_invariants:
            norm, dot = saturate(norm), saturate(dot)
        parts = torch.chunk(self.gates(torch.cat([s, norm], dim=-1)), 3, dim=-1)
        ds = parts[1] * dot + parts[2]
        dv = parts[0].unsqueeze(1) * uv
        return s + ds, v + dv


class Block(nn.Module):
    """One message block followed by one update block."""

    def __init__(self, hidden: int, num_basis: int, bounded_invariants: bool = False) -> None:
        super().__init__()
        self.message = Message(hidden, num_basis)
        self.update = Update(hidden, bounded_invariants)

    def forward(self, s: torch.Tensor, v: Optional[torch.Tensor], edge_index: torch.Tensor,
                basis: torch.Tensor, envelope: torch.Tensor, unit: torch.Tensor,
                n_out: int = -1) -> Tuple[torch.Tensor, torch.Tensor]:
        s, vectors = self.message(s, v, edge_index, basis, envelope, unit, n_out)
        return self.update(s, vectors)


class EnergyHead(EnergyReadout):
    """Further blocks, then the per-atom energy readout of the scalar features."""

    def __init__(self, hidden: int, num_basis: int, num_layers: int, num_elements: int,
                 bounded_invariants: bool = False) -> None:
        super().__init__(nn.ModuleList([Block(hidden, num_basis, bounded_invariants)
                                        for _ in range(num_layers)]),
                         hidden, num_elements, nn.SiLU())

    def forward(self, s: torch.Tensor, v: torch.Tensor, species: torch.Tensor,
                edge_index: torch.Tensor, basis: torch.Tensor, envelope: torch.Tensor,
                unit: torch.Tensor, layer_edges: Optional[List[int]] = None,
                first_layer: int = 0) -> torch.Tensor:
        for k, block in enumerate(self.blocks):
            n = layer_edge_count(layer_edges, first_layer + k, edge_index.shape[1])
            s, v = block(s, v, edge_index[:, :n], basis[:n], envelope[:n], unit[:n])
        return self.readout(s, species)


class PaiNN(TwoHeadModel):
    """Scalar features s (N, F) and vector features v (N, 3, F), updated by message and update
    blocks; the energy heads read s."""

    architecture = "painn"
    layer_types = (SineBasis, Block, EnergyHead)
    block_option_names = ("bounded_invariants",)

    def representation(self, species: torch.Tensor, edge_index: torch.Tensor,
                       edge_vec: torch.Tensor, radius: Optional[float] = None,
                       layer_edges: Optional[List[int]] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                  torch.Tensor]:
        """Features (s, v) after the shared blocks, and the edge terms the heads reuse."""
        basis, envelope, unit = self.edge_terms(edge_vec, radius)
        s = self.embedding(species)
        v: Optional[torch.Tensor] = None  # zero vectors until the first block
        for k, block in enumerate(self.shared):
            n = layer_edge_count(layer_edges, k, edge_index.shape[1])
            s, v = block(s, v, edge_index[:, :n], basis[:n], envelope[:n], unit[:n])
        assert v is not None  # there is at least one shared block
        return s, v, basis, envelope, unit

    def forward(self, species: torch.Tensor, edge_index: torch.Tensor,
                edge_vec: torch.Tensor, radius: Optional[float] = None,
                layer_edges: Optional[List[int]] = None) -> torch.Tensor:
        """Per-atom reference energies; ``radius`` cuts the graph below the cutoff (RR);
        ``layer_edges`` see :func:`~mlff_ttt.models.layers.layer_edge_count`."""
        s, v, basis, envelope, unit = self.representation(species, edge_index, edge_vec, radius,
                                                          layer_edges)
        return (self.reference_head(s, v, species, edge_index, basis, envelope, unit,
                                    layer_edges, len(self.shared))
                + self.core(species, edge_index, edge_vec, species.shape[0]))

    @torch.jit.export
    def prior_energies(self, species: torch.Tensor, edge_index: torch.Tensor,
                       edge_vec: torch.Tensor, radius: Optional[float] = None) -> torch.Tensor:
        """Per-atom prior energies (what test-time training fits)."""
        s, v, basis, envelope, unit = self.representation(species, edge_index, edge_vec, radius)
        return self.prior_head(s, v, species, edge_index, basis, envelope, unit)

    @torch.jit.export
    def both_energies(self, species: torch.Tensor, edge_index: torch.Tensor,
                      edge_vec: torch.Tensor, radius: Optional[float] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Reference and prior per-atom energies sharing one representation pass."""
        s, v, basis, envelope, unit = self.representation(species, edge_index, edge_vec, radius)
        return (self.reference_head(s, v, species, edge_index, basis, envelope, unit)
                + self.core(species, edge_index, edge_vec, species.shape[0]),
                self.prior_head(s, v, species, edge_index, basis, envelope, unit))

    # One message-passing layer at a time, for a caller that exchanges node features between
    # layers (domain decomposition with ghosts one cutoff deep: docs/speed.md); the features
    # are (N, exchange_width) rows: s, then v flattened (3F).

    @torch.jit.export
    def exchange_width(self) -> int:
        return 4 * self.embedding.embedding_dim

    @torch.jit.export
    def initial_features(self, species: torch.Tensor) -> torch.Tensor:
        s = self.embedding(species)
        return torch.cat([s, s.new_zeros(s.shape[0], 3 * s.shape[1])], dim=1)

    @torch.jit.export
    def edge_terms(self, edge_vec: torch.Tensor,
                   radius: Optional[float] = None) -> List[torch.Tensor]:
        """The per-edge inputs every layer shares: radial basis, envelope, unit vector."""
        r = torch.linalg.norm(edge_vec, dim=-1)  # edges never have r = 0
        return [self.basis(r), self.envelope(r, radius), edge_vec / r.unsqueeze(-1)]

    @torch.jit.export
    def layer_features(self, layer: int, features: torch.Tensor, edge_index: torch.Tensor,
                       terms: List[torch.Tensor], n_out: int) -> torch.Tensor:
        """The features of nodes [0, n_out) after layer ``layer`` (0-based over the shared
        blocks, then the reference head's), from every node's features before it."""
        f = self.embedding.embedding_dim
        s = features[:, :f]
        # the vectors are zero before the first layer: None takes the block's short way
        v: Optional[torch.Tensor] = None
        if layer > 0:
            v = features[:, f:].reshape(features.shape[0], 3, f)
        out = features[:n_out]
        for k, block in enumerate(self.shared):
            if k == layer:
                s, vectors = block(s, v, edge_index, terms[0], terms[1], terms[2], n_out)
                out = torch.cat([s, vectors.reshape(s.shape[0], 3 * f)], dim=1)
        for k, block in enumerate(self.reference_head.blocks):
            if k + len(self.shared) == layer:
                s, vectors = block(s, v, edge_index, terms[0], terms[1], terms[2], n_out)
                out = torch.cat([s, vectors.reshape(s.shape[0], 3 * f)], dim=1)
        return out

    @torch.jit.export
    def features_energies(self, features: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """Per-atom reference energies from the features after the last layer, without the
        core repulsion (``core``, which the caller adds from the edges)."""
        return self.reference_head.readout(features[:, :self.embedding.embedding_dim], species)
