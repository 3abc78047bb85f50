"""The TTT prior of ``pair_coeff * * prior python NAME k=v``: finding it (a registry name, or
``module:Class`` of the user's own) and its labels of one rank's structure, within a time
limit, so that a hung prior skips a TTT update instead of stalling the run; and whether the
run's TTT prior, of either kind, is the one the model's prior head was trained on."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Dict, List, Optional

import numpy as np
from ase import Atoms

from ..priors import get_prior, parse_prior_spec
from ..priors.registry import REGISTRY, check_parameters, lammps_pair_style_of


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
    spec = parse_prior_spec({"name": name, **params})
    if hasattr(REGISTRY.get(name), "deck_lines"):
        # a second LAMMPS started from inside this one would run on the world communicator
        # from rank 0 alone (a hang); the run's own pair style is exact and local. The
        # constructor builds the lines without starting LAMMPS.
        check_parameters(REGISTRY[name], spec.params)
        lines = REGISTRY[name](**spec.params).deck_lines()
        raise ValueError(f"prior python {name} runs LAMMPS: give the same pair style as the "
                         f"run's own prior, {' / '.join(lines)}")
    prior = get_prior(spec)
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


def same_prior_spec(spec: str, name: str, params: Dict[str, str]) -> bool:
    """Whether ``prior python NAME k=v ...`` (the deck's words) is the prior spec ``spec``:
    the same name and parameter values (as numbers where they read as numbers, so a deck's
    cutoff=6 is a file's cutoff=6.0, which their texts are not)."""
    return parse_prior_spec({"name": name, **params}) == parse_prior_spec(spec)


def mismatch_warning(model_prior: Optional[str], line: List[str]) -> str:
    """'' when the run's TTT prior is the model's (the model file's ``prior_name``), else a
    warning naming both. ``line``: the deck's prior line as the pair style keeps it,
    ``prior python NAME k=v ...``, ``prior STYLE args ... El...`` or ``prior_style STYLE args
    [; I J args]...``. A LAMMPS pair style is compared by its pair_style words only (its coeff
    lines name files and types the deck may spell differently); a model file without a
    prior_name has nothing to compare."""
    if not model_prior or not line:
        return ""
    model = parse_prior_spec(model_prior)
    if line[0] == "prior" and len(line) > 2 and line[1] == "python":
        params = dict(word.split("=", 1) for word in line[3:])
        if same_prior_spec(model_prior, line[2], params):
            return ""
        described = f"prior python {parse_prior_spec({'name': line[2], **params})}"
    else:
        if line[0] == "prior_style":
            words = line[1:line.index(";")] if ";" in line else line[1:]
        else:                                   # prior STYLE file ... El...: no style args
            words = line[1:2]
        if lammps_pair_style_of(model) == words:
            return ""
        described = f"the pair style {' '.join(words)}"
    return (f"the model's prior head was trained on the prior {model}, but this run's TTT prior "
            f"is {described}: TTT fits the prior head to a different potential (docs/priors.md)")
