"""Damaged model files: seeded random mutations of a shipped model (bytes changed, cut, zeroed
or inserted) each end in an exception with a message from the C++ runner and the Python
reader, never a crash and never different numbers (tests/support/fuzz_model_file.py, in a subprocess
so that a crash fails the test instead of the test run); then edited files that are valid
archives."""

import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import ROOT, SUPPORT


def test_mutated_model_files_are_refused_or_unchanged():
    proc = subprocess.run([sys.executable, str(SUPPORT / "fuzz_model_file.py"), "7", "300"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = dict(item.split("=") for item in proc.stdout.split())
    assert int(counts["refused"]) + int(counts["loaded"]) == 300
    assert int(counts["changed_results"]) == 0


# Structure-aware cases: a valid archive whose typed attributes or metadata were edited. Without
# a new checksum the edit is refused as damage; with one (a file made to look valid), values
# out of range are refused by name, and a damaged metadata JSON by the Python reader.
EDITS = {
    "cutoff": 4.6, "num_layers": 3, "elements": ["Si", "C"], "units": "real",
    "dtype": "float32", "force_norm_std": 0.5, "rr_radii": [2.7] * 9,
    "metadata_json": "{}",
}
OUT_OF_RANGE = {
    "cutoff": (1e6, "cutoff 1e+06 A is outside (0, 30]"),
    "num_layers": (10 ** 9, "num_layers 1000000000 is outside [1, 64]"),
    "elements": (["Si"] * 5000, "the element list holds 5000 entries, not 1 to 118"),
    "rr_radii": ([2.7] * 8 + [50.0], "an RR radius lies outside (0, cutoff]"),
    "force_norm_std": (float("nan"), "non-finite reference statistics"),
    "units": ("x" * 100000, "are not metal or real"),
}
BAD_METADATA = ['{"cutoff": 4.5', "[1, 2, 3]", "", "{" * 100000, '{"a": "' + "x" * 10**7 + '"}',
                json.dumps({**json.loads(__import__("torch").jit.load(
                    str(ROOT / "examples" / "models" / "si_schnet.pt")).metadata_json),
                    "ttt_parameters": ["no.such.parameter"]})]


def edited_file(tmp_path, name, value, stamp):
    import torch

    from mlff_ttt.model_file import stamp_checksum

    module = torch.jit.load(str(ROOT / "examples" / "models" / "si_schnet.pt"))
    setattr(module, name, value)
    if stamp:
        stamp_checksum(module)
    path = tmp_path / f"{name}.pt"
    module.save(str(path))
    return path


@pytest.mark.parametrize("name", sorted(EDITS))
def test_an_edited_attribute_is_refused_as_damage(tmp_path, name):
    from mlff_ttt import _core
    from mlff_ttt.model_file import load_model_file

    path = edited_file(tmp_path, name, EDITS[name], stamp=False)
    with pytest.raises(RuntimeError, match="its attributes .* do not match the checksum"):
        _core.ModelRunner(str(path))
    with pytest.raises(ValueError, match="do not match the checksum"):
        load_model_file(path)


@pytest.mark.parametrize("name", sorted(OUT_OF_RANGE))
def test_an_out_of_range_attribute_is_refused_by_name(tmp_path, name):
    from mlff_ttt import _core

    value, message = OUT_OF_RANGE[name]
    path = edited_file(tmp_path, name, value, stamp=True)
    with pytest.raises(RuntimeError) as error:
        _core.ModelRunner(str(path))
    assert message in str(error.value) and len(str(error.value)) < 500


@pytest.mark.parametrize("text", BAD_METADATA, ids=["truncated", "a list", "empty", "deep",
                                                    "10 MB string", "unknown TTT parameter"])
def test_damaged_metadata_json_is_a_clean_error(tmp_path, text):
    from mlff_ttt.model_file import load_model_file, metadata_of

    path = edited_file(tmp_path, "metadata_json", text, stamp=True)
    with pytest.raises(ValueError, match="damaged metadata") as error:
        metadata_of(load_model_file(path), path)
    assert len(str(error.value)) < 1000


# Property-based (hypothesis): any JSON in place of the metadata record, or of one of its
# fields, gives a working model (the ASE calculator with and without RR, TTT in LAMMPS and
# offline) or a short ValueError (the CLI's one-line error), never another exception escaping
# as a traceback.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63 - 1) | st.floats() |
    st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)


@functools.lru_cache(maxsize=1)
def shipped_module():
    import torch

    return torch.jit.load(str(ROOT / "examples" / "models" / "si_schnet.pt"))


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_metadata_gives_a_model_or_a_clean_error(tmp_path, data):
    import ase.build

    from mlff_ttt.plugin import entry_points
    from mlff_ttt.calculator import MLFFCalculator
    from mlff_ttt.model_file import stamp_checksum
    from mlff_ttt.refine.ttt import TTTEngine, TTTSettings, load_module

    module = shipped_module()
    original = module.metadata_json
    record = json.loads(original)
    field = data.draw(st.sampled_from(sorted(record) + ["(the whole record)"]))
    value = data.draw(JSON_VALUES)
    if field == "(the whole record)":
        record = value
    else:
        record[field] = value
    path = tmp_path / "model.pt"
    try:
        module.metadata_json = json.dumps(record)
        stamp_checksum(module)
        module.save(str(path))
    finally:
        module.metadata_json = original
    atoms = ase.build.bulk("Si", "diamond", a=5.43)
    try:
        for rr in (False, True):
            atoms.calc = MLFFCalculator(str(path), rr=rr)
            assert np.isfinite(atoms.get_potential_energy())
        entry_points.create(str(path), {"steps": 1, "lr": 1e-3})          # TTT in LAMMPS
        TTTEngine(load_module(str(path)), TTTSettings())              # offline TTT
    except ValueError as error:
        assert 0 < len(str(error)) < 1000
