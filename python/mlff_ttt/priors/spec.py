"""A prior spec: a prior's name and its parameters, read by one function everywhere a prior is
named (the CLI's ``--prior``, the training config, ``MLFFCalculator(prior=...)``, LAMMPS's
``prior python NAME k=v``) and written back as one canonical text (the model file's
``prior_name``).

Text form: ``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE``, for example
``morse:D=0.3429,a=1.3588,r0=2.77,cutoff=5.0``. NAME is a registry name or ``module:Class``
(a prior of the user's own; ``mymod:MyPrior:sigma=2.1`` gives it parameters). A value is an
int where it reads as one, else a float where it reads as one, else text. Mapping form (as
from YAML): ``{"name": "morse", "D": 0.3429, ...}``; text values in it are read the same way.
See docs/priors.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Union

KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# NAME, then optionally ":KEY=..." (the shortest NAME after which the rest reads as parameters,
# so a module:Class name keeps its colon)
TEXT = re.compile(r"(?P<name>[^=,]+?)(?:\s*:\s*(?P<params>[A-Za-z_][A-Za-z0-9_]*\s*=.*))?\Z",
                  re.DOTALL)


def read_value(text: str) -> Union[int, float, str]:
    """A parameter's text as an int, else a float, else the text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _format_value(value) -> str:
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return str(value)


@dataclass(frozen=True)
class PriorSpec:
    """A prior's name and parameters. ``str(spec)`` is the canonical text (keys sorted),
    which :func:`parse_prior_spec` reads back to an equal spec."""

    name: str
    params: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip() or any(
                c in self.name for c in ",= \t\n"):
            raise ValueError(f"prior spec: bad prior name {self.name!r}")
        for key, value in self.params.items():
            if not isinstance(key, str) or not KEY.match(key):
                raise ValueError(f"prior spec {self.name}: bad parameter name {key!r} "
                                 "(letters, digits and _, not starting with a digit)")
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError(f"prior spec {self.name}: parameter {key} must be a number or "
                                 f"text, not {value!r}")
            if isinstance(value, str) and (not value or any(c in value for c in ",=\n")):
                raise ValueError(f"prior spec {self.name}: parameter {key}={value!r} cannot be "
                                 "written in a spec (empty, or holds ',', '=' or a newline)")
        object.__setattr__(self, "params", dict(self.params))

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={_format_value(self.params[k])}"
                                          for k in sorted(self.params))

    def __hash__(self):
        return hash(str(self))


def _parse_text(text: str) -> PriorSpec:
    match = TEXT.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"prior spec {text!r} is not NAME or NAME:KEY=VALUE,KEY=VALUE "
                         "(for example morse:D=0.3429,a=1.3588,r0=2.77,cutoff=5.0)")
    name, params = match["name"].strip(), {}
    for item in (match["params"] or "").split(",") if match["params"] else []:
        key, equals, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key or not value:
            raise ValueError(f"prior spec {text!r}: {item!r} is not KEY=VALUE")
        if key in params:
            raise ValueError(f"prior spec {text!r}: parameter {key} given twice")
        params[key] = read_value(value)
    return PriorSpec(name, params)


def parse_prior_spec(value) -> PriorSpec:
    """A :class:`PriorSpec` from its text (``"morse:D=0.3429,a=1.3588,r0=2.77,cutoff=5.0"``), a
    mapping with a ``name`` key and the parameters beside it, or a PriorSpec (returned as it
    is). ValueError, naming the problem, for anything else."""
    if isinstance(value, PriorSpec):
        return value
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, Mapping):
        if "name" not in value:
            raise ValueError(f"prior spec {dict(value)!r} has no 'name'")
        params = {k: read_value(v) if isinstance(v, str) else v
                  for k, v in value.items() if k != "name"}
        return PriorSpec(value["name"], params)
    raise ValueError(f"a prior spec is a text (NAME or NAME:KEY=VALUE,...) or a mapping with a "
                     f"'name', not {type(value).__name__}")


__all__ = ["PriorSpec", "parse_prior_spec", "read_value"]
