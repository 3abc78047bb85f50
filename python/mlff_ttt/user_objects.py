"""Objects of the user's own code named as ``module:attribute`` (a prior class, a reference
calculator): imported from the Python path, with one error for a name that is not there."""

from __future__ import annotations

import importlib


def find_object(target: str, what: str):
    """The attribute ``target`` (``module:attribute``) names; ``what`` says what it is for the
    error (for example "prior" or "reference calculator")."""
    module_name, _, attribute = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot find the {what} {target} (module:Class on the Python path): "
                         f"{error}") from None
