"""Fixtures (shared helpers are in helpers.py): small exported models with seeded random
weights. The support scripts' folder goes on sys.path here, so tests import them by name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpers import SUPPORT, make_model_file

sys.path.insert(0, str(SUPPORT))


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    return make_model_file(tmp_path_factory.mktemp("model") / "si_f64.pt")


@pytest.fixture(scope="session")
def model_file_f32(tmp_path_factory) -> Path:
    return make_model_file(tmp_path_factory.mktemp("model") / "si_f32.pt", dtype="float32")
