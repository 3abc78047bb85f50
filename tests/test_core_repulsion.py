"""The core repulsion (models/core_repulsion.py): LAMMPS's own ZBL as the reference for the
unswitched wall, nothing on the training data's pairs, forces the energy's gradient through the
switch, and the same energies from a model file rebuilt from its hparams."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import DATA, central_difference_force, make_model_file, run_lmp, silicon
from mlff_ttt.calculator import MLFFCalculator
from mlff_ttt.data import load_frames
from mlff_ttt.export import ExportedModel, model_from_checkpoint
from mlff_ttt.models import build_model
from mlff_ttt.models.core_repulsion import CoreRepulsion, closest_pair_distances

ZBL_DECK = """
units metal
atom_style atomic
atom_modify map array
region box block -10 10 -10 10 -10 10
create_box 1 box
create_atoms 1 single 0 0 0
create_atoms 1 single {r} 0 0
mass 1 28.0855
pair_style zbl {inner} {outer}
pair_coeff * * 14 14
thermo_style custom step pe fmax
thermo_modify format float %.15g
variable fx equal fx[2]
run 0
print "FX ${{fx}}"
"""


def lammps_zbl(tmp_path, r: float, inner: float, outer: float):
    proc = run_lmp(ZBL_DECK.format(r=r, inner=inner, outer=outer), tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    lines = proc.stdout.splitlines()
    row = lines[next(i for i, line in enumerate(lines) if line.split()[:2] == ["Step", "PotEng"])
                + 1].split()
    force = float(next(line.split()[1] for line in lines if line.startswith("FX ")))
    return float(row[1]), force


def core_dimer(core: CoreRepulsion, r: float):
    """Energy and the force on the second atom of two Si atoms r apart."""
    positions = torch.tensor([[0.0, 0.0, 0.0], [r, 0.0, 0.0]], dtype=torch.float64,
                             requires_grad=True)
    edge_index = torch.tensor([[0, 1], [1, 0]])
    vectors = positions[edge_index[1]] - positions[edge_index[0]]
    energy = core(torch.tensor([0, 0]), edge_index, vectors, 2).sum()
    (gradient,) = torch.autograd.grad(energy, positions)
    return float(energy.detach()), float(-gradient[1, 0])


def test_unswitched_wall_is_lammps_zbl(tmp_path):
    """Below onset - switch_width the term is ZBL itself: LAMMPS `pair_style zbl` gives the
    same forces, and energy differences (its energies carry a constant shift below its inner
    cutoff)."""
    core = CoreRepulsion(["Si"], switch_width=0.4, onset=[[3.0]])
    ours = {r: core_dimer(core, r) for r in (0.8, 1.5, 2.4)}
    theirs = {r: lammps_zbl(tmp_path, r, inner=2.6, outer=2.9) for r in ours}
    for r in ours:
        assert ours[r][1] == pytest.approx(theirs[r][1], rel=1e-9), r
        assert ours[r][1] > 1.0    # repulsive: the second atom is pushed along +x
    for r in (0.8, 1.5):
        assert ours[r][0] - ours[2.4][0] == pytest.approx(theirs[r][0] - theirs[2.4][0],
                                                          rel=1e-9)


def test_switch_is_smooth_and_ends_at_the_onset():
    """Zero at and above the onset, the energy's derivative is the force throughout the switch,
    and an element pair with onset 0 has no wall."""
    core = CoreRepulsion(["Si"], switch_width=0.4, onset=[[2.5]])
    assert core_dimer(core, 2.5) == (0.0, 0.0)
    assert core_dimer(core, 2.7) == (0.0, 0.0)
    for r in (2.15, 2.3, 2.45, 2.499):
        h = 1e-6
        slope = (core_dimer(core, r + h)[0] - core_dimer(core, r - h)[0]) / (2 * h)
        assert core_dimer(core, r)[1] == pytest.approx(-slope, rel=1e-6, abs=1e-8), r
    assert 0 < core_dimer(core, 2.49999)[1] < 1e-3    # continuous into zero
    none = CoreRepulsion(["Si", "H"], switch_width=0.3, onset=[[2.0, 0.0], [0.0, 1.0]])
    positions = torch.tensor([[0.0, 0, 0], [0.5, 0, 0]], dtype=torch.float64)
    edge_index = torch.tensor([[0, 1], [1, 0]])
    vectors = positions[edge_index[1]] - positions[edge_index[0]]
    assert float(none(torch.tensor([0, 1]), edge_index, vectors, 2).sum()) == 0.0
    assert float(none(torch.tensor([1, 1]), edge_index, vectors, 2).sum()) > 1.0    # H-H: 5.9 eV


@pytest.mark.parametrize("bad", [dict(switch_width=0.3, onset=[[2.0, 1.0]]),
                                 dict(switch_width=0.3, onset=[[-1.0]]),
                                 dict(switch_width=2.5, onset=[[2.0]])])
def test_bad_tables_are_errors(bad):
    with pytest.raises(ValueError, match="core repulsion"):
        CoreRepulsion(["Si"], **bad)


def test_training_pairs_feel_nothing_and_files_rebuild_it(tmp_path):
    """With the onset at the training set's closest pair, every training structure's energies
    are the model's without the term, bit for bit; a compressed crystal's are higher; a model
    file rebuilt from its hparams (how export and TTT reload one) has the same term."""
    train = load_frames(DATA / "si_train.xyz", ["Si"], 4.0, need_prior=False)[:20]
    onset = closest_pair_distances(train, 1)
    assert 2.0 < onset[0][0] < 2.35
    torch.manual_seed(0)
    plain = build_model("painn", elements=["Si"], cutoff=4.0, hidden=8, num_basis=8).double()
    cored = build_model("painn", elements=["Si"], cutoff=4.0, hidden=8, num_basis=8,
                        core_repulsion={"switch_width": 0.3, "onset": onset}).double()
    cored.load_state_dict(plain.state_dict())
    for frame in train:
        args = (frame.species, frame.edge_index, frame.edge_vec.double())
        assert torch.equal(cored(*args), plain(*args))
    path = make_model_file(tmp_path / "cored.pt", architecture="painn",
                           core_repulsion={"switch_width": 0.3, "onset": onset})
    rebuilt, _ = model_from_checkpoint(path)
    assert rebuilt.hparams["core_repulsion"] == {"switch_width": 0.3, "onset": onset}
    dense = silicon((2, 2, 2), rattle=0.0)
    dense.set_cell(dense.cell * 0.85, scale_atoms=True)    # bonds 2.0 A, below the onset
    energies = {}
    for name, model in [("file", path), ("rebuilt", None)]:
        if model is None:
            metadata = json.loads(torch.jit.load(str(path)).metadata_json)
            model = torch.jit.script(ExportedModel(rebuilt, metadata))
        dense.calc = MLFFCalculator(model)
        energies[name] = dense.get_potential_energy()
    plain_path = make_model_file(tmp_path / "plain.pt", architecture="painn")
    dense.calc = MLFFCalculator(plain_path)
    assert energies["file"] == pytest.approx(energies["rebuilt"], rel=1e-12)
    assert energies["file"] > dense.get_potential_energy() + 10.0


def test_calculator_forces_are_the_gradient_in_the_switch(tmp_path):
    """Through the exported model and the calculator: an atom pushed towards a neighbour into
    the switch, central differences of the energy equal the forces."""
    path = make_model_file(tmp_path / "cored.pt", architecture="painn",
                           core_repulsion={"switch_width": 0.5, "onset": [[2.6]]})
    atoms = silicon((1, 1, 1), rattle=0.05)    # every bond (2.35 A) inside the switch
    calc = MLFFCalculator(path)
    forces = calc.get_forces(atoms)
    for axis in range(3):
        numeric = central_difference_force(calc.get_potential_energy, atoms, 3, axis, 1e-5)
        assert forces[3, axis] == pytest.approx(numeric, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("name", ["si_painn12_bounded.pt", "si_painn12_bounded_f32.pt"])
def test_default_models_wall_starts_at_its_training_sets_closest_pair(name):
    """The shipped default model's recorded onset is the closest pair of the training set it
    was trained on (recomputed here: a retrained model or new data without a new export fails
    this), with the switch width its config names."""
    from helpers import ROOT

    config = (ROOT / "examples" / "configs" / "si_painn12_bounded.yaml").read_text()
    hparams = json.loads(torch.jit.load(str(ROOT / "examples" / "models" / name)
                                        ).metadata_json)["hparams"]
    train = load_frames(DATA / "si_train.xyz", ["Si"], hparams["cutoff"], need_prior=False)
    assert hparams["core_repulsion"]["onset"] == closest_pair_distances(train, 1)
    width = hparams["core_repulsion"]["switch_width"]
    assert f"core_repulsion_width: {width}\n" in config
