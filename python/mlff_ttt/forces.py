"""Energies to forces and virials through gradients with respect to edge vectors.

The energy depends on positions only through edge vectors r_e = x[neighbor] - x[center],
so with g_e = dE/dr_e: F[center] += g_e, F[neighbor] -= g_e, and the virial
sum_i x_i (x) F_i = -sum_e r_e (x) g_e. This is exact for periodic images and for the ghost
atoms of a domain decomposition alike, and is what the C++ core computes.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

EnergyFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

# Voigt order used by LAMMPS and the core: xx yy zz xy xz yz
VOIGT = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


def evaluate(energy_fn: EnergyFn, species: torch.Tensor, edge_index: torch.Tensor,
             edge_vec: torch.Tensor, n_nodes: int, batch: Optional[torch.Tensor] = None,
             num_structures: int = 1, create_graph: bool = False) -> Dict[str, torch.Tensor]:
    """Energy per structure, forces per node and virial per structure (3x3).

    ``energy_fn(species, edge_index, edge_vec)`` returns per-node energies. ``batch`` maps
    nodes to structures when several disjoint structures are evaluated at once.
    With ``create_graph`` the outputs stay differentiable (for force training).
    """
    edge_vec = edge_vec.detach().requires_grad_(True)
    node_energy = energy_fn(species, edge_index, edge_vec)
    if batch is None:
        batch = torch.zeros(n_nodes, dtype=torch.long, device=node_energy.device)
    energy = torch.zeros(num_structures, dtype=node_energy.dtype, device=node_energy.device)
    energy = energy.index_add(0, batch, node_energy)
    (grad,) = torch.autograd.grad(energy.sum(), edge_vec, create_graph=create_graph)
    forces = torch.zeros((n_nodes, 3), dtype=grad.dtype, device=grad.device)
    forces = forces.index_add(0, edge_index[0], grad).index_add(0, edge_index[1], -grad)
    edge_virial = -edge_vec.unsqueeze(2) * grad.unsqueeze(1)  # (E, 3, 3)
    virial = torch.zeros((num_structures, 3, 3), dtype=grad.dtype, device=grad.device)
    virial = virial.index_add(0, batch[edge_index[0]], edge_virial)
    return {"energy": energy, "node_energy": node_energy, "forces": forces, "virial": virial}
