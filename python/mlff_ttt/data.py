"""Extended-XYZ datasets with reference and prior labels, their frames (radius graphs as tensors),
batching into one graph, and per-structure label statistics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.io import read

from .graph import radius_graph

REF_ENERGY, REF_FORCES = "REF_energy", "REF_forces"
PRIOR_ENERGY, PRIOR_FORCES = "PRIOR_energy", "PRIOR_forces"


@dataclass
class Frame:
    species: torch.Tensor
    edge_index: torch.Tensor
    edge_vec: torch.Tensor
    energy: Optional[float] = None
    forces: Optional[torch.Tensor] = None
    prior_energy: Optional[float] = None
    prior_forces: Optional[torch.Tensor] = None

    @property
    def n_atoms(self) -> int:
        return int(self.species.shape[0])


def read_frames(path: str | Path, index=":") -> List[Atoms]:
    """The structures of an extended XYZ file (``index``: ASE's, e.g. ``slice(0, 3)``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset {path} does not exist")
    try:
        frames = read(path, index=index, format="extxyz")
    except Exception as exc:  # ASE raises XYZError, ValueError, IndexError ... on bad files
        raise ValueError(f"{path} is not a readable extended XYZ file: {exc}") from None
    if not frames:
        raise ValueError(f"{path} holds no structures")
    return frames


def _labels(atoms: Atoms, energy_key: str, forces_key: str, index: int, path, required: bool):
    has = energy_key in atoms.info and forces_key in atoms.arrays
    if not has:
        if required:
            raise ValueError(f"{path}: frame {index} has no {energy_key}/{forces_key} labels")
        return None, None
    return float(atoms.info[energy_key]), torch.tensor(atoms.arrays[forces_key], dtype=torch.float64)


def graph_frame(atoms: Atoms, cutoff: float, elements: Sequence[str], index: int,
                **labels) -> Frame:
    """The frame of one structure: its radius graph as tensors, with the labels given
    (``energy``, ``forces``, ``prior_energy``, ``prior_forces``); ``index`` names the structure
    in the error for elements the model does not know."""
    graph = radius_graph(atoms, cutoff, list(elements), frame=index)
    return Frame(species=torch.from_numpy(graph.species),
                 edge_index=torch.from_numpy(graph.edge_index),
                 edge_vec=torch.from_numpy(graph.edge_vec), **labels)


def load_frames(path: str | Path, elements: Sequence[str], cutoff: float,
                need_prior: bool = False, need_reference: bool = True) -> List[Frame]:
    """Reads a dataset and builds each frame's radius graph once."""
    frames = []
    for index, atoms in enumerate(read_frames(path)):
        energy, forces = _labels(atoms, REF_ENERGY, REF_FORCES, index, path, need_reference)
        p_energy, p_forces = _labels(atoms, PRIOR_ENERGY, PRIOR_FORCES, index, path, need_prior)
        frames.append(graph_frame(atoms, cutoff, elements, index, energy=energy, forces=forces,
                                  prior_energy=p_energy, prior_forces=p_forces))
    if not frames:
        raise ValueError(f"dataset {path} holds no frames")
    return frames


@dataclass
class Batch:
    species: torch.Tensor
    edge_index: torch.Tensor
    edge_vec: torch.Tensor
    batch: torch.Tensor
    n_atoms: torch.Tensor
    energy: Optional[torch.Tensor]
    forces: Optional[torch.Tensor]
    prior_energy: Optional[torch.Tensor]
    prior_forces: Optional[torch.Tensor]

    @property
    def num_structures(self) -> int:
        return int(self.n_atoms.shape[0])


def collate(frames: Sequence[Frame], dtype: torch.dtype = torch.float64) -> Batch:
    """Joins frames into one disconnected graph."""
    offsets = np.cumsum([0] + [f.n_atoms for f in frames[:-1]])
    has_prior = all(f.prior_forces is not None for f in frames)
    has_reference = all(f.forces is not None for f in frames)  # test-time frames have none
    return Batch(
        species=torch.cat([f.species for f in frames]),
        edge_index=torch.cat([f.edge_index + int(o) for f, o in zip(frames, offsets)], dim=1),
        edge_vec=torch.cat([f.edge_vec for f in frames]).to(dtype),
        batch=torch.cat([torch.full((f.n_atoms,), k, dtype=torch.long) for k, f in enumerate(frames)]),
        n_atoms=torch.tensor([f.n_atoms for f in frames]),
        energy=torch.tensor([f.energy for f in frames], dtype=dtype) if has_reference else None,
        forces=torch.cat([f.forces for f in frames]).to(dtype) if has_reference else None,
        prior_energy=torch.tensor([f.prior_energy for f in frames], dtype=dtype) if has_prior else None,
        prior_forces=torch.cat([f.prior_forces for f in frames]).to(dtype) if has_prior else None,
    )


def fit_element_energies(frames: Sequence[Frame], num_elements: int, prior: bool = False) -> torch.Tensor:
    """Least-squares per-element energies E0 so that E ~ sum_atoms E0[element]."""
    counts = np.zeros((len(frames), num_elements))
    energies = np.zeros(len(frames))
    for k, f in enumerate(frames):
        counts[k] = np.bincount(f.species.numpy(), minlength=num_elements)
        energies[k] = f.prior_energy if prior else f.energy
    e0, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return torch.tensor(e0, dtype=torch.float64)


def force_rms(frames: Sequence[Frame], prior: bool = False) -> float:
    forces = torch.cat([(f.prior_forces if prior else f.forces) for f in frames])
    return float(forces.pow(2).mean().sqrt())


def mean_force_norm(atoms: Atoms, index: int, name: str = "test") -> tuple[float, str]:
    """Mean per-atom force norm of a structure and which label it came from (what
    ``diagnose``, the reference statistics and the monitor compare).

    REF_forces are preferred; PRIOR_forces are the fallback. A frame with neither is an error.
    """
    for key in (REF_FORCES, PRIOR_FORCES):
        if key in atoms.arrays:
            forces = np.asarray(atoms.arrays[key], dtype=np.float64)
            return float(np.linalg.norm(forces, axis=1).mean()), key
    raise ValueError(f"{name}: frame {index} has neither {REF_FORCES} nor {PRIOR_FORCES}")
