"""Name -> prior class, and ``get_prior(spec)`` / ``get_prior(name, **params)``.

Every prior's parameters are those of its constructor (``create`` for priors loaded from a
file): one without a default is required, and a spec that misses it is an error naming it and
its unit (the class's ``units``); a key the constructor does not take is an error listing the
accepted ones. ``module:Class`` names a prior of the user's own (a :class:`Prior` subclass, or
any callable returning an object with ``compute(frames)``); its parameters go to it unchecked.
"""

from __future__ import annotations

import inspect
import os
from typing import List, Optional

from .analytic import ZBL, LennardJones, Morse
from .base import Prior
from .chemistry import GFNFF, RDKitMMFF
from .fitted import PairFittedPrior
from .lammps_priors import LammpsPairStyle, StillingerWeber, Tersoff
from .sgdml_prior import SGDMLPrior
from .spec import PriorSpec, parse_prior_spec
from ..user_objects import find_object

REGISTRY: dict[str, type] = {cls.name: cls for cls in (
    ZBL, LennardJones, Morse, PairFittedPrior, Tersoff, StillingerWeber, LammpsPairStyle, GFNFF,
    RDKitMMFF, SGDMLPrior)}

REQUIRED = inspect.Parameter.empty


def available() -> list[str]:
    return sorted(REGISTRY)


def parameters_of(cls) -> dict:
    """A registry prior's parameters, name -> default (``REQUIRED`` where it has none), in
    the constructor's order."""
    params = list(inspect.signature(cls.create).parameters.values())  # bound: no cls
    if any(p.kind is p.VAR_KEYWORD for p in params):  # Prior.create(**params): the constructor's
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # drop self
    return {p.name: p.default for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def _with_unit(cls, key: str) -> str:
    unit = getattr(cls, "units", {}).get(key)
    return f"{key} ({unit})" if unit else key


def check_parameters(cls, params: dict) -> None:
    """ValueError for a key the prior does not take, or a required one not given."""
    accepted = parameters_of(cls)
    for key in params:
        if key not in accepted:
            raise ValueError(f"prior {cls.name!r} has no parameter {key!r}; it takes "
                             f"{', '.join(accepted) or 'none'}")
    required = [k for k, default in accepted.items() if default is REQUIRED]
    missing = [k for k in required if k not in params]
    if missing:
        example = ",".join(f"{k}=..." for k in required)
        raise ValueError(f"prior {cls.name!r} needs {', '.join(_with_unit(cls, k) for k in missing)}: "
                         f"give {'them' if len(required) > 1 else 'it'} as {cls.name}:{example}")


def _user_prior(spec: PriorSpec, params: dict):
    factory = find_object(spec.name, "prior")
    try:
        prior = factory.create(**params) if hasattr(factory, "create") else factory(**params)
    except TypeError as error:
        raise ValueError(f"prior {spec.name}: {error}") from None
    if not callable(getattr(prior, "compute", None)):
        raise ValueError(f"{spec.name} made {prior!r}, which has no compute(frames) method")
    return prior


def get_prior(spec, **params) -> Prior:
    """A prior from a spec (:func:`parse_prior_spec`: ``"morse:D=0.3429,a=1.3588,r0=2.77,
    cutoff=5.0"``, a mapping or a :class:`PriorSpec`) and/or keyword parameters (any Python
    value: ``get_prior("sgdml", model=path)``), after checking the parameters. The prior keeps
    its spec in ``prior.spec`` (keyword values that a spec cannot hold are left out of it)."""
    spec = parse_prior_spec(spec)
    both = sorted(set(spec.params) & set(params))
    if both:
        raise ValueError(f"prior {spec.name}: {', '.join(both)} given both in the spec and as "
                         "keywords")
    merged = {**spec.params, **params}
    module_name, colon, rest = spec.name.partition(":")
    if colon and module_name in REGISTRY:
        raise ValueError(f"prior spec {spec.name!r}: {rest!r} is not KEY=VALUE")
    if colon:
        prior = _user_prior(spec, merged)
    else:
        try:
            cls = REGISTRY[spec.name]
        except KeyError:
            raise ValueError(f"unknown prior {spec.name!r}; known priors: {', '.join(available())}, "
                             "or module:Class") from None
        check_parameters(cls, merged)
        prior = cls.create(**merged)
    try:
        recorded = PriorSpec(spec.name, {k: os.fspath(v) if isinstance(v, os.PathLike) else v
                                         for k, v in merged.items()})
    except ValueError:
        recorded = None  # a keyword value no spec text can hold (e.g. an in-memory model)
    try:
        prior.spec = recorded
    except AttributeError:  # a user's prior that takes no attributes
        pass
    return prior


def lammps_pair_style_of(spec) -> Optional[List[str]]:
    """The pair_style words of a prior LAMMPS evaluates (``tersoff`` -> ``["tersoff/mod"]``,
    ``lammps:pair_style=morse 6.0,...`` -> ``["morse", "6.0"]``), else None: what a deck's
    prior line is compared with. The constructors build their commands without starting
    LAMMPS."""
    spec = parse_prior_spec(spec)
    cls = REGISTRY.get(spec.name)
    if not hasattr(cls, "deck_lines"):
        return None
    try:
        return cls(**spec.params).pair_style_words()
    except (TypeError, ValueError):
        return None
