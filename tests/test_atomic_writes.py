"""A write that fails half-way (the disk full, simulated by a writer that puts part of the file
down and then raises ENOSPC) leaves the previous file intact and no temporary file behind:
checkpoints, exported and adapted model files, the optimizer state, records, datasets and plots
all go through mlff_ttt.files.write_atomically."""

import errno
import hashlib
from pathlib import Path

import pytest
import torch

from helpers import EXAMPLE_MODEL, ROOT
from mlff_ttt import files
from mlff_ttt.export import export_checkpoint
from mlff_ttt.train import save_atomic


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def disk_full_after(n_bytes: int):
    """A stand-in for a writer: puts n_bytes down, then fails as a full disk does."""
    def write(path):
        Path(path).write_bytes(b"x" * n_bytes)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    return write


def leftovers(folder: Path, keep: Path):
    return sorted(p.name for p in folder.iterdir() if p != keep)


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "record.json"
    target.write_text('{"previous": true}\n')
    with pytest.raises(OSError, match="No space left"):
        files.write_atomically(target, disk_full_after(4096))
    assert target.read_text() == '{"previous": true}\n'
    assert leftovers(tmp_path, target) == []
    files.write_text_atomically(target, "new\n")
    assert target.read_text() == "new\n" and leftovers(tmp_path, target) == []


def test_a_failed_checkpoint_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    checkpoint = tmp_path / "last.pt"
    save_atomic({"weights": torch.ones(3)}, checkpoint)
    before = digest(checkpoint)
    monkeypatch.setattr(torch, "save", lambda obj, path: disk_full_after(1000)(path))
    with pytest.raises(OSError):
        save_atomic({"weights": torch.zeros(3)}, checkpoint)
    assert digest(checkpoint) == before and leftovers(tmp_path, checkpoint) == []


def test_a_failed_export_keeps_the_previous_model_file(tmp_path, monkeypatch):
    output = tmp_path / "model.pt"
    output.write_bytes(EXAMPLE_MODEL.read_bytes())
    before = digest(output)
    monkeypatch.setattr(torch.jit.RecursiveScriptModule, "save",
                        lambda self, path: disk_full_after(50000)(path))
    with pytest.raises(ValueError, match="an existing file is left as it was"):
        export_checkpoint(EXAMPLE_MODEL, output)
    assert digest(output) == before and leftovers(tmp_path, output) == []


def test_a_failed_ttt_save_keeps_the_previous_adapted_model_and_optimizer(tmp_path, monkeypatch):
    from mlff_ttt.plugin import entry_points

    adapter = entry_points.create(str(EXAMPLE_MODEL), {"steps": 1, "lr": 1e-3})
    model, state = tmp_path / "adapted.pt", tmp_path / "adapted.optimizer.pt"
    entry_points.save(adapter, str(model), 10)
    entry_points.save_optimizer(adapter, str(state))
    before = digest(model), digest(state)
    monkeypatch.setattr(torch.jit.RecursiveScriptModule, "save",
                        lambda self, path: disk_full_after(50000)(path))
    monkeypatch.setattr(torch, "save", lambda obj, path: disk_full_after(100)(path))
    for save in (lambda: entry_points.save(adapter, str(model), 20),
                 lambda: entry_points.save_optimizer(adapter, str(state))):
        with pytest.raises(OSError):
            save()
    assert (digest(model), digest(state)) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapted.optimizer.pt", "adapted.pt"]


def test_a_failed_dataset_write_keeps_the_previous_dataset(tmp_path, monkeypatch):
    """`mlff-ttt data silicon-ood` (one frame of the vacancy split: real MD and labels, 7 s):
    the extended-XYZ write fails; the earlier split and its provenance sidecar are unchanged."""
    import ase.io

    from mlff_ttt.datasets import silicon_ood

    dataset, sidecar = tmp_path / "si_ood_vacancy.xyz", tmp_path / "si_ood_vacancy.json"
    dataset.write_bytes(ROOT.joinpath("examples", "data", "si_test.xyz").read_bytes())
    sidecar.write_text('{"seed": 99}\n')   # another seed's: the split is made again
    before = digest(dataset), digest(sidecar)
    write = ase.io.write

    def disk_full_for_datasets(path, images, format=None, **kwargs):
        if format != "extxyz":   # the generator's own LAMMPS input files are not the dataset
            return write(path, images, format=format, **kwargs)
        disk_full_after(20000)(path)

    monkeypatch.setattr(ase.io, "write", disk_full_for_datasets)
    with pytest.raises(OSError, match="No space left"):
        silicon_ood.generate(tmp_path, n_frames=1, splits=["ood_vacancy"], progress=False)
    assert (digest(dataset), digest(sidecar)) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [sidecar.name, dataset.name]


@pytest.mark.parametrize("writer", ["eval parity plot", "diagnose histograms"])
def test_a_failed_plot_keeps_the_previous_plot(writer, tmp_path, monkeypatch):
    import matplotlib.figure

    from mlff_ttt.data import read_frames

    data = ROOT / "examples" / "data" / "si_test.xyz"
    plot = tmp_path / "plot.png"
    plot.write_bytes(b"\x89PNG previous plot")
    before = digest(plot)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda self, path, **kwargs: disk_full_after(3000)(path))
    with pytest.raises(OSError, match="No space left"):
        if writer == "eval parity plot":
            from mlff_ttt.evaluate import evaluate_model

            evaluate_model(EXAMPLE_MODEL, data, plot=plot)
        else:
            from mlff_ttt.diagnose import diagnose, plot as histograms

            frames = read_frames(data)[:4]
            histograms(diagnose(frames[:2], frames[2:]), frames[:2], frames[2:], plot)
    assert digest(plot) == before and leftovers(tmp_path, plot) == []
