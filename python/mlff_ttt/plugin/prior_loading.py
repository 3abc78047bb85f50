"""The TTT prior of ``pair_coeff * * prior python NAME k=v``: finding it (a registry name, or
``module:Class`` of the user's own) and its labels of one rank's structure, within a time
limit, so that a hung prior skips a TTT update instead of stalling the run."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Dict

import numpy as np
from ase import Atoms

from ..priors import get_prior, parse_prior_spec


def load_prior(name: str, params: Dict[str, str], elements=None):
    """The prior of ``prior python NAME k=v``: a registry prior, or for ``module:Class`` a
    prior of the user's own (a :class:`mlff_ttt.priors.Prior` subclass, or any callable
    returning one). The deck's name and key=value pairs are one prior spec, read and checked
    as every other (:func:`mlff_ttt.priors.parse_prior_spec`: values that read as numbers are
    numbers; a missing required or an unknown parameter is an error naming it). With
    ``elements`` (symbols; NULL or empty ones are skipped) it also refuses a prior that has
    no parameters for one of them."""
    if "name" in params:
        raise ValueError(f"prior {name}: 'name' is not a parameter")
    prior = get_prior(parse_prior_spec({"name": name, **params}))
    if elements is not None and hasattr(prior, "check_elements"):
        prior.check_elements([e for e in elements if e and e != "NULL"])
    return prior


class PriorTimeout(RuntimeError):
    """The prior took longer than the pair style's prior_timeout (its name is in the warning
    LAMMPS prints)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raises PriorTimeout in the block once ``seconds`` have passed (0: no limit), through
    SIGALRM: a prior looping in Python or waiting in a system call is stopped; one stuck
    inside compiled code is stopped when it next returns to Python. Only the main thread can
    take signals, so elsewhere the block runs without a limit."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise PriorTimeout(f"the prior took longer than prior_timeout {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def labels_of(prior, symbols, positions, cell, pbc, timeout: float = 0.0) -> Dict[str, object]:
    """The prior's energy (eV) and forces (eV/A) of one rank's whole structure, within
    ``timeout`` seconds (0: no limit)."""
    atoms = Atoms(symbols=list(symbols), positions=np.asarray(positions).reshape(-1, 3),
                  cell=np.asarray(cell).reshape(3, 3), pbc=[bool(p) for p in pbc])
    if hasattr(prior, "check_elements"):
        prior.check_elements([atoms])
    with time_limit(timeout):
        energies, forces = prior.compute([atoms])
    return {"energy": float(energies[0]), "forces": np.ascontiguousarray(forces[0], dtype=float)}
