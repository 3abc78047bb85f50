"""Files from others cannot run code when opened. A TTT optimizer state (read by
entry_points.load_optimizer, which LAMMPS's read_restart calls through the TTT bridge) and a
training checkpoint (read by `mlff-ttt export` and `mlff-ttt train --resume`) that pickle an
object whose unpickling would create a file are refused with a one-line message naming the
file and what it tried to build; the file is never created. Each payload is shown to be live:
an unsafe torch.load of the same file does create it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import ROOT, run_lmp, silicon_box
from mlff_ttt.plugin import entry_points
from mlff_ttt.plugin.adapter import SerialCommunicator
from mlff_ttt.cli import main
from mlff_ttt.data import read_frames
from mlff_ttt.graph import radius_graph

POTENTIALS = Path(__import__("lammps").__file__).parent / "share" / "lammps" / "potentials"


class Payload:
    """Unpickling this calls open(marker, "w"): code run by merely reading the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def assert_refused(message: str, path: Path, kind: str) -> None:
    assert message.startswith(f"{path} is not a readable {kind}: "), message
    assert "GLOBAL io.open was not an allowed global" in message   # names what it met
    assert "\n" not in message and "\x1b" not in message and len(message) < 500, message


def assert_payload_is_live(path: Path, marker: Path) -> None:
    assert not marker.exists()
    torch.load(path, weights_only=False)   # what a careless reader would do
    assert marker.exists()


def test_an_optimizer_state_that_would_run_code_is_refused(model_file, tmp_path):
    adapter = entry_points.create(str(model_file), {"steps": 2, "lr": 1e-3, "optimizer": "sgd"})
    atoms = read_frames(ROOT / "examples" / "data" / "si_ood_liquid.xyz")[0]
    graph = radius_graph(atoms, 4.0, ["Si"])
    entry_points.update(adapter, graph.species, graph.edge_index, graph.edge_vec, len(atoms),
                  np.asarray(atoms.arrays["PRIOR_forces"]), atoms.info["PRIOR_energy"],
                  len(atoms), 4.0, SerialCommunicator())
    honest = tmp_path / "honest.optimizer.pt"
    entry_points.save_optimizer(adapter, str(honest))
    before = [p.clone() for p in (adapter.optimizer.state[q]["momentum_buffer"]
                                  for q in adapter.trainable)]

    # the honest file with one more entry: format, names and optimizer all as expected
    marker, evil = tmp_path / "payload_ran", tmp_path / "evil.optimizer.pt"
    torch.save(dict(torch.load(honest, weights_only=True), payload=Payload(marker)), evil)
    with pytest.raises(ValueError) as refused:
        entry_points.load_optimizer(adapter, str(evil))
    assert_refused(str(refused.value), evil, "TTT optimizer state file")
    assert not marker.exists()
    for q, buffer in zip(adapter.trainable, before):   # the optimizer is left as it was
        assert torch.equal(adapter.optimizer.state[q]["momentum_buffer"], buffer)
    entry_points.load_optimizer(adapter, str(honest))   # the refusal is the payload's alone
    assert_payload_is_live(evil, marker)


@pytest.mark.lammps
def test_read_restart_refuses_an_optimizer_state_that_would_run_code(model_file, tmp_path):
    """The restart of a TTT run names the optimizer state written beside it; replaced by a
    file with a payload, read_restart ends in an ERROR and the payload never runs."""
    prior = f"pair_coeff * * prior tersoff/mod {POTENTIALS / 'Si.tersoff.mod'} Si"
    deck = silicon_box(2) + f"""
pair_style mlff_ttt ttt every 5 steps 1 lr 1e-3 gate_std 0 optimizer sgd monitor off
pair_coeff * * {model_file} Si
{prior}
velocity all create 900 777
fix integrate all nve
run 5
write_restart state.restart
"""
    proc = run_lmp(deck, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    state = tmp_path / "mlff_ttt_adapted_step5.optimizer.pt"
    marker = tmp_path / "payload_ran"
    torch.save(dict(torch.load(state, weights_only=True), payload=Payload(marker)), state)

    proc = run_lmp("read_restart state.restart\nfix integrate all nve\nrun 0\n", tmp_path)
    assert proc.returncode != 0
    error = next((line for line in proc.stdout.splitlines() if line.startswith("ERROR")), "")
    assert "cannot restore the TTT optimizer state" in error, proc.stdout[-2000:]
    assert f"{state} is not a readable TTT optimizer state file" in error, error
    assert "GLOBAL io.open was not an allowed global" in error, error
    assert_payload_is_live(state, marker)


CONFIG = """
data: {{train: {data}, val: {data}}}
model: {{architecture: schnet, elements: [Si], cutoff: 4.0, hidden: 16, num_basis: 8}}
training: {{mode: joint, epochs: 2, batch_size: 4, threads: 1}}
output: run
"""


@pytest.mark.parametrize("command", ["export", "train --resume"])
def test_a_checkpoint_that_would_run_code_is_refused(command, tmp_path, capsys):
    marker = tmp_path / "payload_ran"
    (tmp_path / "run").mkdir()
    evil = tmp_path / "run" / "last.pt"
    torch.save({"model_state": {}, "checkpoint_version": 1, "payload": Payload(marker)}, evil)
    written = evil.read_bytes()
    if command == "export":
        argv = ["export", str(evil), "-o", str(tmp_path / "out.pt")]
    else:
        data = tmp_path / "train.xyz"
        data.write_text("".join((ROOT / "examples" / "data" / "si_train.xyz").read_text()
                                .splitlines(keepends=True)[:4 * 66]))   # four frames
        (tmp_path / "config.yaml").write_text(CONFIG.format(data=data))
        argv = ["train", str(tmp_path / "config.yaml"), "--resume"]
    assert main(argv) == 1
    error = capsys.readouterr().err.strip()
    prefix = f"mlff-ttt {argv[0]}: error: "
    assert error.startswith(prefix), error
    assert_refused(error[len(prefix):], evil, "mlff-ttt training checkpoint")
    assert not marker.exists()
    assert evil.read_bytes() == written   # neither replaced nor touched
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["last.pt"]
    assert not (tmp_path / "out.pt").exists()
    assert_payload_is_live(evil, marker)
