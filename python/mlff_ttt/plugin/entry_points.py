"""Every function the C++ plugin calls by name, and nothing else: cpp/python_entry_points.h
lists them, and tests/test_entry_points.py checks that each is a function defined here, since
a missing or renamed one would fail only when a deck reaches it. Each is a thin call into the
module that does the work: the MD adapter (:mod:`.adapter`: TTT's create, update, save and
optimizer state), the TTT prior (:mod:`.prior_loading`) and the Python hook
(:mod:`mlff_ttt.hooks`). Arguments arrive as the C++ passes them (numpy arrays, plain values)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Callable, Dict

import numpy as np

from ..hooks import HookGraph
from .adapter import Adapter
from .prior_loading import labels_of, load_prior, mismatch_warning, same_prior_spec


def create(model_path: str, settings: Dict[str, object], device: str = "cpu") -> Adapter:
    """The adapter one pair-style instance holds (``ttt`` keyword), its module on the pair
    style's ``device``."""
    return Adapter.from_model_file(model_path, settings, device)


def update(adapter: Adapter, species, edge_index, edge_vec, n_local: int, prior_forces,
           prior_energy: float, n_atoms: int, radius: float, comm) -> Dict[str, object]:
    """One TTT update from the pair style (numpy arrays in); returns the record and the new
    values of the adapter's parameters, flattened in ``adapter.names`` order."""
    record = adapter.update_on(species, edge_index, edge_vec, n_local, prior_forces,
                               prior_energy, n_atoms, radius, comm)
    return dict(asdict(record), values=adapter.flat())


def save(adapter: Adapter, path: str, step: int) -> None:
    """The adapted model file (``ttt ... save``, and beside restart files)."""
    adapter.save_model(path, step)


def save_optimizer(adapter: Adapter, path: str) -> None:
    """The optimizer state beside an adapted model file (restart files)."""
    adapter.save_optimizer(path)


def load_optimizer(adapter: Adapter, path: str) -> None:
    """The optimizer state save_optimizer wrote (read_restart)."""
    adapter.load_optimizer(path)


def registry_prior(name: str, params: Dict[str, str], elements=None):
    """The prior of ``pair_coeff * * prior python NAME k=v``; with ``elements`` (the
    model's element of each atom type in the run) a prior that has no parameters for one of
    them is refused here, at set-up, rather than at its first update."""
    return load_prior(name, params, elements)


def prior_labels(prior, symbols, positions, cell, pbc, timeout: float = 0.0) -> Dict[str, object]:
    """The prior's energy and forces of one rank's structure, within ``timeout`` seconds."""
    return labels_of(prior, symbols, positions, cell, pbc, timeout)


def is_prior_spec(spec: str, name: str, params: Dict[str, str]) -> bool:
    """Whether the deck's ``prior python NAME k=v`` is the prior spec ``spec`` (a delta model's
    ``delta_prior``): both read as prior specs, so 0.5 and 5e-1 are the same value."""
    return same_prior_spec(spec, name, params)


def invoke_hook(function: Callable[[HookGraph], object], positions: np.ndarray,
                species: np.ndarray, edge_index: np.ndarray, edge_vec: np.ndarray, n_local: int,
                step: int, rank: int, size: int) -> None:
    """`hook every N module:function`: the user's function sees the graph as torch tensors."""
    function(HookGraph.from_arrays(positions, species, edge_index, edge_vec, n_local, step,
                                   rank, size))


def prior_mismatch(adapter: Adapter, prior_line) -> str:
    """'' when the run's TTT prior (its deck line's words) is the model's own prior, else a
    warning naming both."""
    return mismatch_warning(adapter.model_prior, list(prior_line))
