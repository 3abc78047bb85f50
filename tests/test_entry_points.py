"""The C++ calls Python functions by name (cpp/python_entry_points.h); a missing or renamed one
would fail only when a deck reaches it, so each name is checked here."""

import importlib
import inspect

from mlff_ttt import _core


def test_every_function_the_cpp_calls_exists():
    module = importlib.import_module(_core.PYTHON_ENTRY_MODULE)
    assert len(_core.PYTHON_ENTRY_POINTS) == 10
    for name in _core.PYTHON_ENTRY_POINTS:
        assert inspect.isfunction(getattr(module, name, None)), f"{module.__name__}.{name}"
        assert getattr(module, name).__module__ == module.__name__
