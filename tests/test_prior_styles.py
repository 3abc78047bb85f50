"""Any LAMMPS pair style as the TTT prior (pair_coeff * * prior_style STYLE args + pair_coeff
I J prior coeff-args lines, forwarded to the style as pair hybrid forwards them), a prior whose
cutoff exceeds the model's (its own neighbor list and ghost cutoff), registry priors on several
ranks, and the bad input of each: LAMMPS against the offline engine, 1 against 2 ranks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import (EXAMPLE_MODEL, POTENTIALS, SUPPORT, TTT_DECK, printed_value,
                     read_dump_forces, run_lmp, silicon, write_data)
from mlff_ttt.data import PRIOR_ENERGY, PRIOR_FORCES, collate
from mlff_ttt.refine.ttt import TTTEngine, TTTSettings, label_with_prior, load_module

pytestmark = [pytest.mark.lammps]

MODEL = EXAMPLE_MODEL    # silicon SchNet, cutoff 4.5 A

# The priors, each as (the pair_style line of a standalone LAMMPS run, its pair_coeff lines,
# the TTT prior lines of pair_style mlff_ttt). The silicon model is the only shipped model for
# a periodic solid, so the eam/alloy prior maps the Al of AlCu.eam.alloy (cutoff 6.68 A, beyond
# the model's 4.5 A) onto the Si atom type: the physics is irrelevant to these checks, which
# are that the plugin evaluates exactly the pair style LAMMPS evaluates on its own.
ALCU = POTENTIALS / "AlCu.eam.alloy"
CU_EAM = POTENTIALS / "Cu_u3.eam"    # funcfl, per-pair coeff lines; cutoff 4.95 A
TERSOFF = POTENTIALS / "Si.tersoff.mod"
GE_SNAP = POTENTIALS / "Ge_Zuo_JPCA2020"
STYLE_PRIORS = {
    "morse": ("pair_style morse 4.0", ["pair_coeff * * 1.0 1.4 2.35"],
              "pair_coeff * * prior_style morse 4.0\npair_coeff * * prior 1.0 1.4 2.35"),
    "eam/alloy": ("pair_style eam/alloy", [f"pair_coeff * * {ALCU} Al"],
                  f"pair_coeff * * prior_style eam/alloy\npair_coeff * * prior {ALCU} Al"),
}
OTHER_STYLE_PRIORS = {
    "lj/cut": ("pair_style lj/cut 4.0", ["pair_coeff * * 0.1 2.1"],
               "pair_coeff * * prior_style lj/cut 4.0\npair_coeff * * prior 0.1 2.1"),
    "eam": ("pair_style eam", [f"pair_coeff 1 1 {CU_EAM}"],
            f"pair_coeff * * prior_style eam\npair_coeff 1 1 prior {CU_EAM}"),
    # the element of eam/fs and snap files mapped onto the Si type, as for eam/alloy above
    "eam/fs": ("pair_style eam/fs", [f"pair_coeff * * {POTENTIALS / 'Al_mm.eam.fs'} Al"],
               f"pair_coeff * * prior_style eam/fs\n"
               f"pair_coeff * * prior {POTENTIALS / 'Al_mm.eam.fs'} Al"),
    "tersoff/mod": ("pair_style tersoff/mod", [f"pair_coeff * * {TERSOFF} Si"],
                    f"pair_coeff * * prior_style tersoff/mod\npair_coeff * * prior {TERSOFF} Si"),
    "sw": ("pair_style sw", [f"pair_coeff * * {POTENTIALS / 'Si.sw'} Si"],
           f"pair_coeff * * prior_style sw\npair_coeff * * prior {POTENTIALS / 'Si.sw'} Si"),
    "snap": ("pair_style snap", [f"pair_coeff * * {GE_SNAP}.snapcoeff {GE_SNAP}.snapparam Ge"],
             f"pair_coeff * * prior_style snap\n"
             f"pair_coeff * * prior {GE_SNAP}.snapcoeff {GE_SNAP}.snapparam Ge"),
    # summed over its sub-styles by the plugin, as hybrid/overlay sums them
    "hybrid/overlay": ("pair_style hybrid/overlay tersoff/mod zbl 3.0 4.0",
                       [f"pair_coeff * * tersoff/mod {TERSOFF} Si", "pair_coeff * * zbl 14.0 14.0"],
                       "pair_coeff * * prior_style hybrid/overlay tersoff/mod zbl 3.0 4.0\n"
                       f"pair_coeff * * prior tersoff/mod {TERSOFF} Si\n"
                       "pair_coeff * * prior zbl 14.0 14.0"),
}


def parameters(path: Path):
    module = torch.jit.load(str(path))
    names = [f"model.{n}" for n in json.loads(module.metadata_json)["ttt_parameters"]]
    params = dict(module.named_parameters())
    return torch.cat([params[n].detach().reshape(-1) for n in names]).numpy()


def standalone_labels(folder: Path, atoms, pair_style: str, coeffs) -> tuple:
    """Energy and forces (sorted by atom ID) of a plain LAMMPS run of the pair style alone."""
    folder.mkdir(parents=True, exist_ok=True)
    write_data(atoms, folder / "data.lmp")
    deck = "\n".join(["units metal", "boundary p p p", "read_data data.lmp", pair_style,
                      *coeffs, "run 0", 'print "prior_energy $(pe:%.17g)"',
                      "write_dump all custom forces.dump id fx fy fz modify sort id "
                      "format float %.17g"])
    result = run_lmp(deck, folder)
    assert result.returncode == 0, result.stdout[-2000:]
    return printed_value(result.stdout, "prior_energy"), read_dump_forces(folder / "forces.dump")


def offline_gradient(atoms, energy, forces):
    """The offline engine's gradient of the prior loss of one structure with these labels."""
    atoms = atoms.copy()
    atoms.info[PRIOR_ENERGY] = energy
    atoms.arrays[PRIOR_FORCES] = forces
    frame = label_with_prior([atoms], "labels")
    engine = TTTEngine(load_module(MODEL), TTTSettings(batch_size=1))
    engine.prior_loss(collate(engine._frames(frame), torch.float64), create_graph=True).backward()
    return torch.cat([p.grad.reshape(-1) for p in engine.trainable]).numpy()


def ttt_run(folder: Path, atoms, style: str, prior: str, extra: str = "run 0", nprocs: int = 1,
            env_extra=None):
    folder.mkdir(parents=True, exist_ok=True)
    write_data(atoms, folder / "data.lmp")
    deck = TTT_DECK.format(style=style, model=MODEL, prior=prior, extra=extra, thermo=10)
    return run_lmp(deck, folder, nprocs=nprocs, env_extra=env_extra)


@pytest.fixture(scope="module")
def structure():
    return silicon(rattle=0.1, seed=3)    # 64 atoms


# every style on 1 rank; on 2 ranks those whose evaluation differs in kind (a pair style, a
# many-body style beyond the model's cutoff, the plugin's sum over sub-styles); the 2-rank
# fifty-step runs below repeat morse and eam/alloy over many updates
TWO_RANK_STYLES = ("morse", "eam/alloy", "hybrid/overlay")


@pytest.mark.parametrize("name, nprocs", [
    *[(name, 1) for name in [*STYLE_PRIORS, *OTHER_STYLE_PRIORS]],
    *[pytest.param(name, 2, marks=pytest.mark.mpi) for name in TWO_RANK_STYLES]])
def test_update_uses_the_standalone_pair_style(tmp_path, structure, name, nprocs):
    """One plain SGD step: (theta_0 - theta_1) / lr equals the offline gradient of the prior
    loss whose labels are a plain LAMMPS run of the pair style alone (so the update's prior
    energy and forces are that run's)."""
    pair_style, coeffs, prior = {**STYLE_PRIORS, **OTHER_STYLE_PRIORS}[name]
    energy, forces = standalone_labels(tmp_path / "alone", structure, pair_style, coeffs)
    expected = offline_gradient(structure, energy, forces)
    lr = 1e-3
    result = ttt_run(tmp_path / "ttt", structure, f"ttt every 1 steps 1 lr {lr} gate_std 0 optimizer sgd "
                     "save adapted.pt monitor off", prior, nprocs=nprocs)
    assert result.returncode == 0, result.stdout[-2000:]
    gradient = (parameters(MODEL) - parameters(tmp_path / "ttt" / "adapted.pt")) / lr
    assert np.abs(gradient - expected).max() <= 1e-10 * np.abs(expected).max()


MD = """velocity all create 600 4928 loop geom
fix nve all nve
run 50"""


@pytest.mark.mpi
@pytest.mark.parametrize("name", list(STYLE_PRIORS))
def test_fifty_steps_give_the_same_parameters_on_one_and_two_ranks(tmp_path, structure, name):
    prior = STYLE_PRIORS[name][2]
    theta = []
    for nprocs in (1, 2):
        folder = tmp_path / f"np{nprocs}"
        result = ttt_run(folder, structure, "ttt every 10 steps 1 lr 1e-4 gate_std 0 save adapted.pt "
                         "monitor off", prior, extra=MD, nprocs=nprocs)
        assert result.returncode == 0, result.stdout[-2000:]
        theta.append(parameters(folder / "adapted.pt"))
    assert not np.array_equal(theta[0], parameters(MODEL))    # it adapted
    assert np.abs(theta[1] - theta[0]).max() <= 1e-10 * np.abs(theta[0]).max()


LONG_RANGE = {
    # its own list (6.68 A + skin), within the model's ghost shell (receptive field + skin)
    "eam/alloy": (STYLE_PRIORS["eam/alloy"][2], "cut 8.68"),
    # beyond the model's ghost shell: the ghost cutoff grows from 11 to 12 A
    "lj/cut 10": ("pair_coeff * * prior_style lj/cut 10.0\npair_coeff * * prior 0.1 2.1",
                  "ghost cutoff set to 12 A"),
}


@pytest.mark.parametrize("name", list(LONG_RANGE))
def test_long_range_prior_leaves_the_model_bit_identical(tmp_path, structure, name):
    """A prior beyond the model's cutoff has its own neighbor list (and, where it needs one, a
    larger ghost shell): at a step with no TTT update the model's energy and forces are bit for
    bit those of a run without TTT."""
    prior, logged = LONG_RANGE[name]
    runs = {}
    for label, style, prior_lines in (("plain", "monitor off", ""),
                                      ("prior", "ttt every 1000 steps 1 lr 1e-3 gate_std 0 monitor off",
                                       prior)):
        folder = tmp_path / label
        result = ttt_run(folder, structure, style, prior_lines,
                         extra="reset_timestep 1\nrun 0\n"
                         'print "model_energy $(pe:%.17g)"\n'
                         "write_dump all custom forces.dump id fx fy fz modify sort id "
                         "format float %.17g")
        assert result.returncode == 0, result.stdout[-2000:]
        runs[label] = (printed_value(result.stdout, "model_energy"),
                       read_dump_forces(folder / "forces.dump"))
    assert logged in (tmp_path / "prior" / "log.lammps").read_text()
    assert runs["plain"][0] == runs["prior"][0]
    assert np.array_equal(runs["plain"][1], runs["prior"][1])


@pytest.mark.parametrize("prior, message", [
    ("pair_coeff * * prior_style no/such/style", "Unrecognized pair style 'no/such/style'"),
    ("pair_coeff * * prior_style mlff_ttt", "not a usable prior pair style"),
    ("pair_coeff * * prior_style hybrid zbl 3.0 4.0", "hybrid/overlay of the styles is"),
    ("pair_coeff * * prior_style hybrid/overlay zbl 3.0 4.0 morse 4.0\n"
     "pair_coeff * * prior zbl 14.0 14.0", "pair style morse has no coefficients for atom type 1"),
    ("pair_coeff * * prior_style hybrid/overlay zbl 3.0 4.0\npair_coeff * * prior lj/cut 1 1",
     "prior lj/cut: not a sub-style of the hybrid/overlay prior"),
    ("pair_coeff * * prior_style python", "pair_coeff * * prior python NAME"),
    ("pair_coeff * * prior_style morse 4.0", "has no coefficients for atom type 1"),
    ("pair_coeff 1 1 prior 1.0 1.4 2.35", "need a pair_coeff * * prior_style STYLE"),
    ("pair_coeff * * prior_style morse 4.0\npair_coeff * * prior 1.0 1.4",
     "Incorrect args for pair coefficients"),
])
def test_bad_prior_style_lines_are_lammps_errors(tmp_path, structure, prior, message):
    result = ttt_run(tmp_path, structure, "ttt every 10 steps 1 lr 1e-3 gate_std 0", prior)
    assert result.returncode != 0
    assert "ERROR" in result.stdout and message in result.stdout, result.stdout[-2000:]


TWO_TYPES = """units metal
lattice diamond 5.431
region box block 0 2 0 2 0 2
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.5 77
mass * 28.0855
pair_style mlff_ttt ttt every 1 steps 1 lr 1e-3 gate_std 0 optimizer sgd save adapted.pt monitor off
pair_coeff * * {model} Si Si
{prior}
run 0
"""


def test_per_pair_coeff_lines_must_cover_every_type(tmp_path):
    """eam's per-type lines: with both types given the run adapts; with type 2 missing it is
    an ERROR naming the type."""
    both = f"pair_coeff * * prior_style eam\npair_coeff 1 1 prior {CU_EAM}\n" \
           f"pair_coeff 2 2 prior {CU_EAM}"
    result = run_lmp(TWO_TYPES.format(model=MODEL, prior=both), tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "adapted.pt").exists()
    one = f"pair_coeff * * prior_style eam\npair_coeff 1 1 prior {CU_EAM}"
    result = run_lmp(TWO_TYPES.format(model=MODEL, prior=one), tmp_path)
    assert result.returncode != 0
    assert "ERROR: The TTT prior pair style eam has no coefficients for atom type 2" in \
        result.stdout, result.stdout[-2000:]


# ---- registry priors (`pair_coeff * * prior python ...`) on any number of ranks: gathered to
# rank 0 in atom-ID order, evaluated there, forces scattered back to their owners

MORSE = dict(D=1.0, a=1.4, r0=2.35, cutoff=4.0)
MORSE_ARGS = " ".join(f"{k}={v}" for k, v in MORSE.items())
REGISTRY_PRIORS = {
    "morse": f"pair_coeff * * prior python morse {MORSE_ARGS}",
    "user": f"pair_coeff * * prior python user_priors:MorsePlusConstant per_atom=-0.5 {MORSE_ARGS}",
}


def registry_labels(name, atoms):
    if name == "morse":
        return label_with_prior([atoms], "morse", **MORSE)[0]
    from user_priors import MorsePlusConstant
    return label_with_prior([atoms], MorsePlusConstant(per_atom=-0.5, **MORSE))[0]


@pytest.mark.parametrize("nprocs", [1, pytest.param(2, marks=pytest.mark.mpi),
                                    pytest.param(4, marks=pytest.mark.mpi)])
@pytest.mark.parametrize("name", list(REGISTRY_PRIORS))
def test_registry_prior_update_is_the_offline_gradient_on_any_ranks(tmp_path, structure, name,
                                                                    nprocs):
    frame = registry_labels(name, structure)
    expected = offline_gradient(structure, frame.info[PRIOR_ENERGY], frame.arrays[PRIOR_FORCES])
    lr = 1e-3
    result = ttt_run(tmp_path, structure, f"ttt every 1 steps 1 lr {lr} gate_std 0 optimizer sgd save "
                     "adapted.pt monitor off", REGISTRY_PRIORS[name], nprocs=nprocs,
                     env_extra={"PYTHONPATH": str(SUPPORT)})
    assert result.returncode == 0, result.stdout[-2000:]
    gradient = (parameters(MODEL) - parameters(tmp_path / "adapted.pt")) / lr
    assert np.abs(gradient - expected).max() <= 1e-10 * np.abs(expected).max()


@pytest.mark.mpi
def test_registry_prior_fifty_steps_same_parameters_on_one_and_two_ranks(tmp_path, structure):
    theta = []
    for nprocs in (1, 2):
        folder = tmp_path / f"np{nprocs}"
        result = ttt_run(folder, structure, "ttt every 10 steps 1 lr 1e-4 gate_std 0 save adapted.pt "
                         "monitor off", REGISTRY_PRIORS["morse"], extra=MD, nprocs=nprocs)
        assert result.returncode == 0, result.stdout[-2000:]
        theta.append(parameters(folder / "adapted.pt"))
    assert not np.array_equal(theta[0], parameters(MODEL))
    assert np.abs(theta[1] - theta[0]).max() <= 1e-10 * np.abs(theta[0]).max()


MOLECULE = """units metal
boundary f f f
read_data data.lmp
pair_style mlff_ttt ttt every 1 steps 1 lr {lr} gate_std 0 optimizer sgd save adapted.pt monitor off
pair_coeff * * {model} {elements}
pair_coeff * * prior python gfnff
run 0
"""


@pytest.mark.mpi
def test_gfnff_prior_on_one_two_and_four_ranks(tmp_path):
    """GFN-FF (whose result changes at 1e-8 with the atom order) on aspirin: the update on 1,
    2 and 4 ranks is the offline gradient, and the same on every rank count."""
    import ase.io
    from helpers import DATA, ROOT
    from mlff_ttt.data import read_frames
    model = ROOT / "examples" / "models" / "md17_schnet.pt"
    atoms = read_frames(DATA / "md17_val.xyz")[0]
    atoms.cell = [30.0, 30.0, 30.0]
    atoms.center()
    present = [e for e in ("H", "C", "N", "O") if e in set(atoms.get_chemical_symbols())]
    lr = 1e-3
    atoms.pbc = False
    frame = label_with_prior([atoms], "gfnff")[0]
    engine = TTTEngine(load_module(model), TTTSettings(batch_size=1))
    engine.prior_loss(collate(engine._frames([frame]), torch.float64), create_graph=True).backward()
    expected = torch.cat([p.grad.reshape(-1) for p in engine.trainable]).numpy()
    gradients = []
    for nprocs in (1, 2, 4):
        folder = tmp_path / f"np{nprocs}"
        folder.mkdir()
        ase.io.write(folder / "data.lmp", atoms, format="lammps-data", masses=True,
                     specorder=present)
        result = run_lmp(MOLECULE.format(lr=lr, model=model, elements=" ".join(present)),
                         folder, nprocs=nprocs)
        assert result.returncode == 0, result.stdout[-2000:]
        gradients.append((parameters(model) - parameters(folder / "adapted.pt")) / lr)
        assert np.abs(gradients[-1] - expected).max() <= 1e-9 * np.abs(expected).max()
    for gradient in gradients[1:]:
        assert np.abs(gradient - gradients[0]).max() <= 1e-10 * np.abs(gradients[0]).max()


@pytest.mark.mpi
@pytest.mark.parametrize("prior, message", [
    ("pair_coeff * * prior python no_such_module:Thing", "no_such_module"),
    ("pair_coeff * * prior python morse D=1.0 a=1.4 r0=2.35", "cutoff"),
    ("pair_coeff * * prior python tersoff", "runs LAMMPS: give the same pair style"),
])
def test_bad_registry_prior_on_two_ranks_is_a_lammps_error(tmp_path, structure, prior, message):
    result = ttt_run(tmp_path, structure, "ttt every 1 steps 1 lr 1e-3 gate_std 0", prior, nprocs=2)
    assert result.returncode != 0
    assert "ERROR" in result.stdout and message in result.stdout, result.stdout[-2000:]
    assert "Segmentation" not in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["eam/alloy", "hybrid/overlay"])
def test_restart_replays_the_prior_style_lines(tmp_path, structure, name):
    """write_restart keeps the prior_style line and its coeff lines (a hybrid/overlay prior's
    sub-style lines too): read_restart, with no pair_coeff lines, continues the run as the
    uninterrupted one (parameters to 1e-10)."""
    from helpers import SAME_STEPS
    prior = {**STYLE_PRIORS, **OTHER_STYLE_PRIORS}[name][2]
    style = "ttt every 10 steps 1 lr 1e-4 gate_std 0 save adapted.pt monitor off"
    md = f"{SAME_STEPS}velocity all create 600 4928 loop geom\nfix nve all nve\n"
    whole = ttt_run(tmp_path / "whole", structure, style, prior, extra=md + "run 20\nrun 20")
    assert whole.returncode == 0, whole.stdout[-2000:]
    first = ttt_run(tmp_path / "first", structure, style, prior,
                    extra=md + "run 20\nwrite_restart state.restart")
    assert first.returncode == 0, first.stdout[-2000:]
    second = tmp_path / "second"
    second.mkdir()
    result = run_lmp(f"read_restart {tmp_path / 'first' / 'state.restart'}\n{SAME_STEPS}"
                     "fix nve all nve\nrun 20\n", second)
    assert result.returncode == 0, result.stdout[-2000:]
    assert f"TTT prior pair style {name}" in result.stdout
    a, b = parameters(tmp_path / "whole" / "adapted.pt"), parameters(second / "adapted.pt")
    assert np.abs(a - b).max() <= 1e-10 * np.abs(a).max()


def test_prior_style_without_ttt_is_a_warning(tmp_path, structure):
    result = ttt_run(tmp_path, structure, "monitor off", STYLE_PRIORS["morse"][2])
    assert result.returncode == 0, result.stdout[-2000:]
    assert "WARNING: pair_coeff * * prior morse: pair_style mlff_ttt has no ttt keyword" in \
        result.stdout, result.stdout[-2000:]
