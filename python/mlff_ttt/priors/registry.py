"""Name -> prior class, and ``get_prior(name, **params)``."""

from __future__ import annotations

from .analytic import ZBL, LennardJones, Morse
from .base import Prior
from .chemistry import GFNFF, RDKitMMFF
from .fitted import PairFittedPrior
from .lammps_priors import StillingerWeber, Tersoff
from .sgdml_prior import SGDMLPrior

REGISTRY: dict[str, type] = {cls.name: cls for cls in (
    ZBL, LennardJones, Morse, PairFittedPrior, Tersoff, StillingerWeber, GFNFF, RDKitMMFF,
    SGDMLPrior)}


def available() -> list[str]:
    return sorted(REGISTRY)


def get_prior(name: str, **params) -> Prior:
    """A prior by registry name. Fitted/trained priors load from a file:
    ``get_prior("pair_fitted", path=...)``, ``get_prior("sgdml", model=...)``."""
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown prior {name!r}; known priors: {', '.join(available())}") from None
    return cls.create(**params)
