"""Cheap physical priors for test-time training: energies (eV) and forces (eV/A) of
unlabelled structures. ``get_prior(name, **params)``; ``available()`` lists the names."""

from .analytic import ZBL, LennardJones, Morse, PairPrior
from .base import Prior
from .chemistry import GFNFF, RDKitMMFF
from .fitted import PairFittedPrior
from .lammps_priors import LammpsPrior, StillingerWeber, Tersoff
from .registry import REGISTRY, available, get_prior
from .sgdml_prior import SGDMLPrior

__all__ = ["Prior", "PairPrior", "ZBL", "LennardJones", "Morse", "PairFittedPrior",
           "LammpsPrior", "Tersoff", "StillingerWeber", "GFNFF", "RDKitMMFF", "SGDMLPrior",
           "REGISTRY", "available", "get_prior"]
