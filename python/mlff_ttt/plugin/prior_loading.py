"""The TTT prior of ``pair_coeff * * prior python NAME k=v``: finding it (a registry name, or
``module:Class`` of the user's own) and its labels of one rank's structure, within a time
limit, so that a hung prior skips a TTT update instead of stalling the run."""

from __future__ import annotations

import contextlib
import importlib
import signal
import threading
from typing import Dict

import numpy as np
from ase import Atoms

from ..priors import get_prior


def _number_or_text(text: str):
    """A deck's value as the prior's parameter: an int or float where it reads as one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def load_prior(name: str, params: Dict[str, str]):
    """A registry prior, or for ``module:Class`` a prior of the user's own (a
    :class:`mlff_ttt.priors.Prior` subclass, or any callable returning one); values that read
    as numbers are passed as numbers."""
    kwargs = {key: _number_or_text(v) for key, v in params.items()}
    if ":" not in name:
        return get_prior(name, **kwargs)
    module_name, _, attribute = name.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot find the prior {name} (module:Class on the Python path): "
                         f"{error}") from None
    prior = factory.create(**kwargs) if hasattr(factory, "create") else factory(**kwargs)
    if not callable(getattr(prior, "compute", None)):
        raise ValueError(f"{name} made {prior!r}, which has no compute(frames) method")
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
    with time_limit(timeout):
        energies, forces = prior.compute([atoms])
    return {"energy": float(energies[0]), "forces": np.ascontiguousarray(forces[0], dtype=float)}
