"""TTT's calibration at export (mlff_ttt.refine.calibration, docs/ttt.md): the pseudo-OOD
carve, the choice rule, what export records and keeps, and its use offline and in LAMMPS
(`ttt every N calibrated`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.io import write

from helpers import DATA, EXAMPLE_MODEL, SUPPORT, make_model_file, run_ttt_deck, silicon
from mlff_ttt.data import read_frames
from mlff_ttt.export import export_checkpoint
from mlff_ttt.model_file import load_model_file, read_metadata, write_model_file
from mlff_ttt.refine.calibration import (MARGIN, calibrate, calibrated_settings, choose,
                                         pseudo_ood, reference_force_mae)
from mlff_ttt.refine.ttt import TTTEngine, TTTSettings, label_with_prior


def _candidate(steps, ratios, rolled_back=False):
    return {"steps": steps, "lr": 1e-3, "force_mae_ratio": dict(enumerate(ratios)),
            "mean_ratio": float(np.mean(ratios)), "rolled_back": rolled_back}


def test_choice_rule():
    assert choose([_candidate(10, [0.9, 0.95]), _candidate(50, [0.7, 0.8])]) == \
        {"steps": 50, "lr": 1e-3}
    # the best mean makes one group worse by more than the margin: the safe one wins
    assert choose([_candidate(10, [0.9, 0.95]), _candidate(50, [0.3, 1.0 + 2 * MARGIN])]) == \
        {"steps": 10, "lr": 1e-3}
    assert choose([_candidate(10, [0.99, 0.995])]) == "off"       # not worth it
    assert choose([_candidate(10, [0.5, 0.5], rolled_back=True)]) == "off"
    assert choose([_candidate(10, [1.1, 0.5])]) == "off"


def test_pseudo_ood_is_where_the_prior_head_fits_worst():
    module = load_model_file(EXAMPLE_MODEL)
    frames = read_frames(DATA / "si_val.xyz")[:16]
    chosen = pseudo_ood(module, frames)
    assert len(chosen) == 4 and len(set(chosen)) == 4
    engine = TTTEngine(module, TTTSettings(gate_std=0.0))
    losses = [engine.loss_on(engine._frames(label_with_prior([a], "labels"))) for a in frames]
    assert sorted(chosen) == sorted(np.argsort(losses)[::-1][:4].tolist())


def test_calibration_scores_against_the_plain_model():
    """Each candidate's ratio is its adapted force MAE over the plain one, and the module
    comes back with its exported parameters."""
    module = load_model_file(EXAMPLE_MODEL)
    frames = label_with_prior(read_frames(DATA / "si_ood_liquid.xyz")[:4], "labels")
    before = {k: v.clone() for k, v in module.state_dict().items()}
    record = calibrate(module, {"liquid": frames}, "test")
    assert all(bool((module.state_dict()[k] == v).all()) for k, v in before.items())
    plain = reference_force_mae(module, frames)
    assert record["plain_force_mae"]["liquid"] == pytest.approx(plain)
    steps, lr = record["candidates"][0]["steps"], record["candidates"][0]["lr"]
    engine = TTTEngine(module, TTTSettings(steps=steps, lr=lr, gate_std=0.0))
    engine.adapt(frames)
    adapted = reference_force_mae(module, frames)
    assert record["candidates"][0]["force_mae_ratio"]["liquid"] == pytest.approx(adapted / plain)
    assert record["choice"] == choose(record["candidates"])


def _with_calibration(source, target, choice):
    module = load_model_file(source)
    metadata = json.loads(module.metadata_json)
    metadata["ttt_calibration"] = {"choice": choice, "rule": "test"}
    module.metadata_json = json.dumps(metadata, sort_keys=True)
    write_model_file(module, target)
    return target


def test_export_calibrates_a_checkpoint_and_keeps_a_files_own(tmp_path):
    source = _with_calibration(EXAMPLE_MODEL, tmp_path / "cal.pt", {"steps": 7, "lr": 2e-4})
    again = export_checkpoint(source, tmp_path / "again.pt")    # a model file: kept
    assert again["ttt_calibration"]["choice"] == {"steps": 7, "lr": 2e-4}
    assert calibrated_settings(again).steps == 7
    calibration = tmp_path / "liquid.xyz"
    write(calibration, read_frames(DATA / "si_ood_liquid.xyz")[:4], format="extxyz")
    fresh = export_checkpoint(source, tmp_path / "fresh.pt", calibration=[calibration])
    assert set(fresh["ttt_calibration"]["plain_force_mae"]) == {"liquid"}
    none = export_checkpoint(source, tmp_path / "none.pt", calibrate=False)
    assert none["ttt_calibration"] is None
    with pytest.raises(ValueError, match="no TTT calibration"):
        calibrated_settings(none)
    assert calibrated_settings({"ttt_calibration": {"choice": "off"}}).steps == 0


@pytest.mark.lammps
def test_lammps_uses_the_calibrated_settings(tmp_path, monkeypatch):
    chosen = _with_calibration(EXAMPLE_MODEL, tmp_path / "chosen.pt", {"steps": 3, "lr": 1e-4})
    off = _with_calibration(EXAMPLE_MODEL, tmp_path / "off.pt", "off")
    atoms = silicon(rattle=0.3)
    style = "ttt every 2 calibrated gate_std 0 log ttt.log save adapted.pt"
    result = run_ttt_deck(tmp_path / "chosen", atoms, style, model=chosen,
                          extra="velocity all create 300 1\nfix f all nve\nrun 2")
    assert result.returncode == 0, result.stdout[-3000:]
    settings = read_metadata(tmp_path / "chosen" / "adapted.pt")["ttt"]["settings"]
    assert (settings["steps"], settings["lr"]) == (3, 1e-4)
    result = run_ttt_deck(tmp_path / "off", atoms, style, model=off,
                          extra="velocity all create 300 1\nfix f all nve\nrun 2")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "calibration in the model file chose off" in result.stdout
    rows = [line.split() for line in (tmp_path / "off" / "ttt.log").read_text().splitlines()
            if not line.startswith("#")]
    assert rows and all(row[-1] == "1" for row in rows)    # every update a skip
    assert not (tmp_path / "off" / "adapted.pt").exists()
    # "off": the prior, whose forces every update would discard, is never asked (a prior
    # that raises on its first call would show as a skipped update's warning)
    monkeypatch.setenv("PYTHONPATH", str(SUPPORT))
    result = run_ttt_deck(tmp_path / "off_raises", atoms, style, model=off,
                          prior="pair_coeff * * prior python fault_priors:Raises epsilon=0.1 "
                                "sigma=2.1 cutoff=5.0",
                          extra="velocity all create 300 1\nfix f all nve\nrun 2")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "chose off" in result.stdout and "the prior failed" not in result.stdout
    plain = make_model_file(tmp_path / "plain.pt")    # exported without calibration data
    result = run_ttt_deck(tmp_path / "none", atoms, style, model=plain)
    assert result.returncode != 0 and "has no TTT calibration" in result.stdout


def test_stop_rule_stops_at_the_validation_level():
    """stop_std: no step is taken once a step's prior loss is at or below the validation
    mean + stop_std std (a level every structure is below: none; 0: all steps)."""
    frames = label_with_prior(read_frames(DATA / "si_ood_liquid.xyz")[:2], "labels")
    module = load_model_file(EXAMPLE_MODEL)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    record = TTTEngine(module, TTTSettings(steps=3, gate_std=0.0, stop_std=1e9)).adapt(frames)
    assert record["steps"] == 0
    assert all(bool((module.state_dict()[k] == v).all()) for k, v in before.items())
    record = TTTEngine(module, TTTSettings(steps=3, gate_std=0.0)).adapt(frames)
    assert record["steps"] == 3 and record["prior_loss_after"] < record["prior_loss_before"]


@pytest.mark.parametrize("name", ["si_schnet.pt", "mol_painn.pt", "si_schnet64_pretrain.pt"])
def test_shipped_calibration_is_the_files_own(name):
    """The calibration a shipped file carries is a stored result: recomputed here for one
    candidate and group (the cheapest), it must equal the record, so that new weights
    without a new calibration fail."""
    from helpers import ROOT

    path = ROOT / "examples" / "models" / name
    module = load_model_file(path)
    record = read_metadata(path)["ttt_calibration"]
    candidate = min(record["candidates"], key=lambda c: (c["steps"], c["lr"]))
    group = sorted(candidate["force_mae_ratio"])[0]
    if group == "pseudo_ood":
        frames = read_frames(DATA / "mol_val.xyz" if name.startswith("mol") else
                             DATA / "si_val.xyz")
        frames = [frames[k] for k in pseudo_ood(module, frames)]
    else:
        frames = read_frames(DATA / "val_ood" / f"{group}.xyz")
    frames = label_with_prior(frames, "labels")
    plain = reference_force_mae(module, frames)
    assert plain == pytest.approx(record["plain_force_mae"][group], rel=1e-9)
    engine = TTTEngine(module, TTTSettings(steps=candidate["steps"], lr=candidate["lr"],
                                           gate_std=0.0))
    engine.adapt(frames)
    ratio = reference_force_mae(module, frames) / plain
    assert ratio == pytest.approx(candidate["force_mae_ratio"][group], rel=1e-6)
