"""The mlff-ttt command line: train (with resume), export, info, plugin-path, bad input."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import ase.io
import pytest
import torch

from mlff_ttt.cli import main
from mlff_ttt.plugin import plugin_path

from helpers import ROOT

CONFIG = """
data:
  train: train.xyz
  val: val.xyz
model:
  architecture: schnet
  elements: [Si]
  cutoff: 4.0
  hidden: 16
  num_basis: 8
training:
  mode: joint
  epochs: {epochs}
  batch_size: 4
  lr: 1.0e-2
  seed: 3
  threads: 1
output: run
"""


@pytest.fixture
def tiny_run(tmp_path):
    frames = ase.io.read(ROOT / "examples" / "data" / "si_train.xyz", index=":12")
    ase.io.write(tmp_path / "train.xyz", frames[:8], format="extxyz")
    ase.io.write(tmp_path / "val.xyz", frames[8:], format="extxyz")
    (tmp_path / "config.yaml").write_text(CONFIG.format(epochs=10))
    return tmp_path


def read_log(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_train_resume_export_info(tiny_run, capsys):
    config = tiny_run / "config.yaml"
    assert main(["train", str(config)]) == 0
    log = read_log(tiny_run / "run" / "log.csv")
    assert len(log) == 10
    assert float(log[-1]["train_loss"]) < 0.7 * float(log[0]["train_loss"])

    # resume: extend to 12 epochs; the log continues from epoch 11
    before = torch.load(tiny_run / "run" / "last.pt", weights_only=True)["train_state"]["epoch"]
    config.write_text(CONFIG.format(epochs=12))
    assert main(["train", str(config), "--resume"]) == 0
    log = read_log(tiny_run / "run" / "log.csv")
    assert before == 10 and [int(row["epoch"]) for row in log] == list(range(1, 13))

    # a fresh run into the same folder would replace those checkpoints: refused
    kept = {name: (tiny_run / "run" / name).read_bytes() for name in ("best.pt", "last.pt", "log.csv")}
    capsys.readouterr()
    assert main(["train", str(config)]) == 1
    assert "holds the checkpoints of an earlier run" in capsys.readouterr().err
    assert all((tiny_run / "run" / name).read_bytes() == data for name, data in kept.items())
    assert main(["train", str(config), "--overwrite"]) == 0  # starts again: 12 fresh epochs
    assert len(read_log(tiny_run / "run" / "log.csv")) == 12

    model = tiny_run / "model.pt"
    assert main(["export", str(tiny_run / "run" / "best.pt"), "-o", str(model)]) == 0
    capsys.readouterr()
    assert main(["info", str(model)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["elements"] == ["Si"] and info["cutoff"] == 4.0 and info["dtype"] == "float64"
    assert info["training_mode"] == "joint" and info["num_layers"] == 2

    report = tiny_run / "eval.json"
    assert main(["eval", str(model), str(tiny_run / "val.xyz"), "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert result["n_structures"] == 4
    best = min(read_log(tiny_run / "run" / "log.csv"), key=lambda row: float(row["val_loss"]))
    # eval of the exported best checkpoint reproduces the validation error seen in training
    assert result["force_mae"] == pytest.approx(float(best["val_force_mae"]), rel=1e-6)


def test_bad_config_is_reported(tiny_run, capsys):
    config = tiny_run / "config.yaml"
    config.write_text(CONFIG.format(epochs=1).replace("lr: 1.0e-2", "learning_rate: 1.0e-2"))
    assert main(["train", str(config)]) == 1
    assert "unknown key(s) ['learning_rate']" in capsys.readouterr().err
    config.write_text(CONFIG.format(epochs=1).replace("train.xyz", "missing.xyz"))
    assert main(["train", str(config)]) == 1
    assert "missing.xyz does not exist" in capsys.readouterr().err
    config.write_text(CONFIG.format(epochs=1).replace("num_basis: 8", "num_basis: 8\n  bounded_invariants: true"))
    assert main(["train", str(config)]) == 1
    assert ("model: architecture 'schnet' has no option(s) ['bounded_invariants']; its options: "
            "none" in capsys.readouterr().err)
    config.write_text(CONFIG.format(epochs=1).replace(
        "architecture: schnet", "architecture: painn").replace(
        "num_basis: 8", "num_basis: 8\n  bounded_invariants: 1"))
    assert main(["train", str(config)]) == 1
    assert "model.bounded_invariants must be true or false, not 1" in capsys.readouterr().err
    config.write_text(CONFIG.format(epochs=1).replace(
        "num_basis: 8", "num_basis: 8\n  core_repulsion_width: -0.2"))
    assert main(["train", str(config)]) == 1
    assert "model.core_repulsion_width must be >= 0" in capsys.readouterr().err
    config.write_text(CONFIG.format(epochs=1).replace("elements: [Si]", "elements: [C]"))
    assert main(["train", str(config)]) == 1
    assert "element(s) ['Si'] in frame 0 not in the model's elements ['C']" in capsys.readouterr().err


def test_info_rejects_non_model(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_text("nope")
    assert main(["info", str(junk)]) == 1
    assert "is not a TorchScript model file" in capsys.readouterr().err


@pytest.mark.lammps
def test_plugin_path_console_script():
    out = subprocess.run([str(Path(sys.prefix) / "bin" / "mlff-ttt"), "plugin-path"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == plugin_path() and Path(out).is_file() and out.endswith("mlff_ttt_plugin.so")


def test_pretrain_finetune_freezes_the_representation(tiny_run):
    config = tiny_run / "config.yaml"
    config.write_text(CONFIG.format(epochs=3).replace("mode: joint", "mode: pretrain-finetune\n"
                                                      "  pretrain_epochs: 3"))
    assert main(["train", str(config)]) == 0
    run = tiny_run / "run"
    pretrained = torch.load(run / "pretrained.pt", weights_only=True)
    final = torch.load(run / "last.pt", weights_only=True)
    groups = final["parameter_groups"]
    before, after = pretrained["model_state"], final["model_state"]
    # fine-tuning starts from the pre-trained prior head's weights
    for name in groups["reference_head"]:
        assert torch.equal(before[name], before[name.replace("reference_head", "prior_head")])
    # the representation (and the prior head) are exactly the pre-trained ones ...
    for name in groups["representation"] + groups["prior_head"]:
        assert torch.equal(before[name], after[name]), name
    # ... while fine-tuning moved the reference head
    moved = [n for n in groups["reference_head"] if not torch.equal(before[n], after[n])]
    assert len(moved) == len(groups["reference_head"])
    assert (run / "log.png").stat().st_size > 10_000  # the loss plot
    phases = [row["phase"] for row in read_log(run / "log.csv")]
    assert phases == ["prior"] * 3 + ["reference"] * 3
    # pre-training fitted the prior head: its validation error fell
    prior_rows = read_log(run / "log.csv")[:3]
    assert float(prior_rows[-1]["val_loss"]) < float(prior_rows[0]["val_loss"])


@pytest.mark.parametrize("bounded", [False, True])
def test_painn_trains_on_a_tiny_set(tiny_run, bounded):
    config = tiny_run / "config.yaml"
    text = CONFIG.format(epochs=6).replace("architecture: schnet", "architecture: painn")
    if bounded:
        text = text.replace("num_basis: 8", "num_basis: 8\n  bounded_invariants: true")
    config.write_text(text)
    assert main(["train", str(config)]) == 0
    log = read_log(tiny_run / "run" / "log.csv")
    assert float(log[-1]["train_loss"]) < 0.7 * float(log[0]["train_loss"])
    ckpt = torch.load(tiny_run / "run" / "best.pt", weights_only=True)
    assert ckpt["architecture"] == "painn"
    # the option is recorded only when set, and the exported file is built with it
    assert ckpt["hparams"].get("bounded_invariants", False) is bounded
    assert main(["export", str(tiny_run / "run" / "best.pt"), "-o", str(tiny_run / "m.pt")]) == 0
    exported = torch.jit.load(str(tiny_run / "m.pt"))
    assert getattr(exported.model.shared, "0").update.bounded_invariants is bounded


def test_nan_loss_stops_training_and_keeps_checkpoints(tiny_run, capsys):
    config = tiny_run / "config.yaml"
    config.write_text(CONFIG.format(epochs=2))
    assert main(["train", str(config)]) == 0
    last = (tiny_run / "run" / "last.pt").read_bytes()
    best = (tiny_run / "run" / "best.pt").read_bytes()
    frames = ase.io.read(tiny_run / "train.xyz", index=":")
    for atoms in frames:
        atoms.arrays["REF_forces"][0, 0] = float("nan")
    ase.io.write(tiny_run / "train.xyz", frames, format="extxyz")
    config.write_text(CONFIG.format(epochs=4))
    assert main(["train", str(config), "--resume"]) == 1
    assert "non-finite training loss at epoch 3" in capsys.readouterr().err
    assert (tiny_run / "run" / "last.pt").read_bytes() == last
    assert (tiny_run / "run" / "best.pt").read_bytes() == best


def test_checkpoints_are_read_without_running_code(tmp_path, capsys):
    """A checkpoint that pickles an object whose unpickling would run code is refused with a
    message; the code never runs."""
    marker = tmp_path / "payload_ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"model_state": {}, "payload": Payload()}, tmp_path / "evil.pt")
    assert main(["export", str(tmp_path / "evil.pt"), "-o", str(tmp_path / "out.pt")]) != 0
    assert "is not a readable mlff-ttt training checkpoint" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "out.pt").exists()


def test_newer_checkpoint_version_is_refused(tiny_run, capsys):
    assert main(["train", str(tiny_run / "config.yaml")]) == 0
    ckpt = torch.load(tiny_run / "run" / "best.pt", weights_only=True)
    ckpt["checkpoint_version"] = 99
    torch.save(ckpt, tiny_run / "future.pt")
    assert main(["export", str(tiny_run / "future.pt"), "-o", str(tiny_run / "o.pt")]) != 0
    assert "has checkpoint version 99" in capsys.readouterr().err


def test_core_repulsion_starts_at_the_training_sets_closest_pair(tiny_run, capsys):
    """`model.core_repulsion_width` records the training set's closest pair as the onset (in the
    checkpoint's and the exported file's hparams) and says so."""
    from mlff_ttt.data import load_frames
    from mlff_ttt.models.core_repulsion import closest_pair_distances

    config = tiny_run / "config.yaml"
    config.write_text(CONFIG.format(epochs=1).replace(
        "num_basis: 8", "num_basis: 8\n  core_repulsion_width: 0.3"))
    assert main(["train", str(config)]) == 0
    onset = closest_pair_distances(load_frames(tiny_run / "train.xyz", ["Si"], 4.0,
                                               need_prior=False), 1)
    assert "core repulsion: ZBL switched on over 0.3 A" in capsys.readouterr().out
    ckpt = torch.load(tiny_run / "run" / "best.pt", weights_only=True)
    assert ckpt["hparams"]["core_repulsion"] == {"switch_width": 0.3, "onset": onset}
    assert main(["export", str(tiny_run / "run" / "best.pt"), "-o", str(tiny_run / "m.pt")]) == 0
    assert torch.jit.load(str(tiny_run / "m.pt")).core_reach() == pytest.approx(onset[0][0])


def test_eval_refuses_ttt_settings_without_ttt(capsys):
    """--ttt-calibrated (or --ttt-steps ...) without --ttt would evaluate the plain model and
    print its numbers as if adapted: an error instead."""
    model = ROOT / "examples" / "models" / "md17_schnet.pt"
    data = ROOT / "examples" / "data" / "md17_val.xyz"
    assert main(["eval", str(model), str(data), "--ttt-calibrated", "--ttt-lr", "1e-4"]) == 1
    assert capsys.readouterr().err.strip() == (
        "mlff-ttt eval: error: --ttt-lr --ttt-calibrated set TTT's settings: give --ttt or "
        "--ttt-per-structure with them (a plain eval runs no TTT)")


@pytest.mark.parametrize("config", sorted((ROOT / "examples" / "configs").glob("*.yaml")),
                         ids=lambda path: path.name)
def test_shipped_configs_load_and_find_their_shipped_data(config):
    """Every config in examples/configs reads, and the data files it names inside the
    repository exist (those under runs/ are made by the command its header gives)."""
    from mlff_ttt.config import load_config

    data = load_config(config).data
    for path in filter(None, (data.train, data.val, data.pretrain)):
        if Path(path).is_relative_to(ROOT / "examples"):
            assert Path(path).is_file(), f"{config.name}: {path}"
