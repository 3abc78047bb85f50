"""Offline test-time training: what changes and what does not, saving the adapted model, the
command line, and the roll-back of a non-finite update."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import ROOT
from mlff_ttt.calculator import MLFFCalculator
from mlff_ttt.cli import main
from mlff_ttt.data import PRIOR_FORCES, read_frames
from mlff_ttt.refine.ttt import TTTEngine, TTTSettings, adapt_model, label_with_prior, load_module

DATA = ROOT / "examples" / "data"
MODEL = ROOT / "examples" / "models" / "si_schnet.pt"


@pytest.fixture(scope="module")
def liquid():
    return read_frames(DATA / "si_ood_liquid.xyz")[:6]


def forces(model, frames):
    calc = MLFFCalculator(model)
    return np.concatenate([calc.get_forces(atoms) for atoms in frames])


def test_zero_learning_rate_changes_nothing(liquid):
    module, record = adapt_model(MODEL, liquid, TTTSettings(steps=5, lr=0.0), "labels")
    assert np.array_equal(forces(module, liquid), forces(str(MODEL), liquid))
    assert record["prior_loss_after"] == record["prior_loss_before"]


def test_only_representation_parameters_change(liquid):
    before = dict(load_module(MODEL).named_parameters())
    module, record = adapt_model(MODEL, liquid, TTTSettings(steps=5, lr=1e-3), "labels")
    representation = {f"model.{n}" for n in json.loads(module.metadata_json)["ttt_parameters"]}
    assert representation
    for name, p in module.named_parameters():
        changed = not torch.equal(p, before[name])
        assert changed == (name in representation), name
    assert record["prior_loss_after"] < record["prior_loss_before"]


def test_ttt_lowers_the_prior_loss_and_out_of_distribution_error(liquid):
    reference = np.concatenate([a.arrays["REF_forces"] for a in liquid])
    module, _ = adapt_model(MODEL, liquid, TTTSettings(), "labels")
    base = np.abs(forces(str(MODEL), liquid) - reference).mean()
    adapted = np.abs(forces(module, liquid) - reference).mean()
    assert adapted < 0.9 * base


def test_ttt_on_in_distribution_structures_barely_changes_predictions():
    frames = read_frames(DATA / "si_test.xyz")[:8]
    reference = np.concatenate([a.arrays["REF_forces"] for a in frames])
    base = np.abs(forces(str(MODEL), frames) - reference).mean()
    # the gate: the prior head already fits these as well as its training structures
    module, record = adapt_model(MODEL, frames, TTTSettings(), "labels")
    assert record["skipped"] and record["prior_loss_before"] <= record["gate_threshold"]
    assert np.array_equal(forces(module, frames), forces(str(MODEL), frames))
    # and adapting anyway changes the error by little
    module, record = adapt_model(MODEL, frames, TTTSettings(gate_std=0.0), "labels")
    assert record["steps"] == 50
    adapted = np.abs(forces(module, frames) - reference).mean()
    assert abs(adapted / base - 1) < 0.05


def test_adapted_file_reproduces_the_adapted_forces_bit_for_bit(tmp_path, liquid):
    out = tmp_path / "adapted.pt"
    assert main(["ttt", str(MODEL), str(DATA / "si_ood_liquid.xyz"), "-o", str(out),
                 "--prior", "labels", "--ttt-steps", "3"]) == 0
    module, _ = adapt_model(MODEL, read_frames(DATA / "si_ood_liquid.xyz"),
                            TTTSettings(steps=3), "labels")
    assert np.array_equal(forces(str(out), liquid), forces(module, liquid))
    assert json.loads(torch.jit.load(str(out)).metadata_json)["ttt"]["steps"] == 3


def test_registry_prior_equals_the_stored_labels(liquid):
    """The Tersoff/mod registry prior gives the labels the dataset carries."""
    computed = label_with_prior(liquid[:2], "tersoff")
    for atoms, stored in zip(computed, liquid[:2]):
        assert atoms.arrays[PRIOR_FORCES] == pytest.approx(stored.arrays[PRIOR_FORCES], abs=1e-6)


def test_non_finite_prior_is_rolled_back(liquid):
    frames = label_with_prior(liquid, "labels")
    for atoms in frames:
        atoms.arrays[PRIOR_FORCES][0, 0] = np.nan
    module = load_module(MODEL)
    before = {n: p.clone() for n, p in module.named_parameters()}
    with pytest.warns(UserWarning, match="rolled back"):
        TTTEngine(module, TTTSettings(steps=3)).adapt(frames)
    for name, p in module.named_parameters():
        assert torch.equal(p, before[name])


def test_per_structure_ttt_in_the_calculator(liquid):
    calc = MLFFCalculator(str(MODEL), ttt=dict(steps=3), prior="labels")
    f = calc.get_forces(liquid[0])
    assert calc.ttt_record["steps"] == 3 and np.isfinite(f).all()
    # the next structure starts again from the file's parameters
    first = calc.ttt_record["prior_loss_before"]
    calc.get_forces(liquid[0].copy())
    assert calc.ttt_record["prior_loss_before"] == pytest.approx(first, rel=1e-12)


@pytest.mark.parametrize("argv, message", [
    (["--ttt-lr", "-1"], "learning rate must be finite and >= 0"),
    (["--ttt-steps", "-2"], "steps >= 0"),
    (["--prior", "nonsense"], "unknown prior 'nonsense'"),
])
def test_bad_ttt_input_is_one_line(tmp_path, capsys, argv, message):
    assert main(["ttt", str(MODEL), str(DATA / "si_ood_liquid.xyz"), "-o",
                 str(tmp_path / "x.pt")] + argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "x.pt").exists()
