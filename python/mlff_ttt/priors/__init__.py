"""Cheap physical priors for test-time training: energies (eV) and forces (eV/A) of
unlabelled structures. ``get_prior(spec)`` (a spec: ``"morse:D=0.3429,a=1.3588,r0=2.77,cutoff=5.0"``,
see :mod:`.spec` and docs/priors.md) or ``get_prior(name, **params)``; ``available()`` lists
the names."""

from .analytic import ZBL, LennardJones, Morse, PairPrior
from .base import Prior
from .chemistry import GFNFF, RDKitMMFF
from .fitted import PairFittedPrior
from .lammps_priors import LammpsPrior, StillingerWeber, Tersoff
from .registry import REGISTRY, available, check_parameters, get_prior, parameters_of
from .sgdml_prior import SGDMLPrior
from .spec import PriorSpec, parse_prior_spec

__all__ = ["Prior", "PairPrior", "ZBL", "LennardJones", "Morse", "PairFittedPrior",
           "LammpsPrior", "Tersoff", "StillingerWeber", "GFNFF", "RDKitMMFF", "SGDMLPrior",
           "REGISTRY", "available", "get_prior", "parameters_of", "check_parameters",
           "PriorSpec", "parse_prior_spec"]
