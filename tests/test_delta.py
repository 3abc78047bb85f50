"""Delta learning on the prior (docs/delta.md): a model of reference minus prior, to which the
calculator and pair_style mlff_ttt add the prior back. Checked against the prior and the same
weights without delta, LAMMPS against Python on 1 and 2 ranks (energy, forces, virial,
per-atom energies), finite differences of the stress, the training-side label check and the
deck errors."""

from __future__ import annotations

import numpy as np
import pytest
from ase.io import write

from helpers import (DATA, ROOT, TERSOFF, make_model_file, ranks, read_dump_forces, run_lmp,
                     silicon, thermo_rows, write_data)
from mlff_ttt.calculator import MLFFCalculator
from mlff_ttt.config import load_config
from mlff_ttt.data import PRIOR_ENERGY, PRIOR_FORCES, read_frames
from mlff_ttt.delta import check_prior_labels
from mlff_ttt.model_file import load_model_file, metadata_of
from mlff_ttt.priors import get_prior

PRIOR = "tersoff:variant=mod"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("delta")
    return {"delta": make_model_file(folder / "delta.pt", delta_prior=PRIOR),
            "plain": make_model_file(folder / "plain.pt")}


def test_model_file_records_the_prior(models):
    metadata = metadata_of(load_model_file(models["delta"]), models["delta"])
    assert metadata["delta_prior"] == PRIOR and metadata["prior_name"] == PRIOR
    from mlff_ttt import _core
    runner = _core.ModelRunner(str(models["delta"]))
    assert (runner.delta_prior, runner.delta_prior_style) == (PRIOR, "tersoff/mod")
    assert _core.ModelRunner(str(models["plain"])).delta_prior == ""


def test_calculator_adds_the_prior(models):
    atoms = silicon()
    prior = get_prior(PRIOR)
    energies, forces = prior.compute([atoms])
    virial = prior.virials([atoms])[0]
    plain = atoms.copy()
    plain.calc = MLFFCalculator(str(models["plain"]))
    atoms.calc = MLFFCalculator(str(models["delta"]))
    assert atoms.get_potential_energy() == pytest.approx(
        plain.get_potential_energy() + energies[0], abs=1e-9)
    np.testing.assert_allclose(atoms.get_forces(), plain.get_forces() + forces[0], atol=1e-9)
    prior_stress = -virial / atoms.get_volume()
    expected = plain.get_stress() + prior_stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    np.testing.assert_allclose(atoms.get_stress(), expected, atol=1e-9)
    assert abs(prior_stress).max() > 1e-3    # the prior's part is not nothing
    with pytest.raises(Exception, match="energies"):    # no per-atom split of the prior
        atoms.get_potential_energies()


def test_stress_is_the_strain_derivative(models):
    """The stress (the prior's virial from LAMMPS's pressure included) against central
    differences of the energy under strain."""
    atoms = silicon(rattle=0.05, seed=3)
    atoms.calc = MLFFCalculator(str(models["delta"]))
    stress = atoms.get_stress(voigt=False)
    h = 1e-5
    for a, b in ((0, 0), (1, 1), (0, 1), (1, 2)):
        values = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * h
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ strain.T, scale_atoms=True)
            strained.calc = MLFFCalculator(str(models["delta"]))
            values.append(strained.get_potential_energy())
        derivative = (values[0] - values[1]) / (2 * h) / atoms.get_volume()
        assert stress[a, b] == pytest.approx(derivative, abs=2e-6), (a, b)


DECK = """
units metal
boundary p p p
atom_modify map array
read_data data.lmp
pair_style mlff_ttt{style}
pair_coeff * * {model} Si
{prior}
compute pe_atom all pe/atom
compute pe_sum all reduce sum c_pe_atom
thermo_style custom step pe press pxx pyy pzz pxy pxz pyz vol c_pe_sum
thermo_modify format float %.15g
run 0
write_dump all custom forces.dump id fx fy fz modify sort id format float %.15g
"""
PRIOR_LINES = {"prior_style": f"pair_coeff * * prior_style tersoff/mod\n"
                              f"pair_coeff * * prior {TERSOFF} Si",
               "old": f"pair_coeff * * prior tersoff/mod {TERSOFF} Si"}
NKTV2P = 1.6021765e6    # metal units: eV/A^3 -> bar


@pytest.mark.lammps
@pytest.mark.parametrize("nprocs", ranks(1, 2))
@pytest.mark.parametrize("syntax", ["prior_style", "old"])
def test_lammps_matches_python(models, tmp_path, nprocs, syntax):
    atoms = silicon(repeat=(3, 3, 3))
    write_data(atoms, tmp_path / "data.lmp")
    result = run_lmp(DECK.format(style="", model=models["delta"], prior=PRIOR_LINES[syntax]),
                     tmp_path, nprocs=nprocs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    row = thermo_rows((tmp_path / "log.lammps").read_text())[-1]
    pe, pxx, pyy, pzz, pxy, pxz, pyz, volume, pe_sum = row[[1, 3, 4, 5, 6, 7, 8, 9, 10]]
    atoms.calc = MLFFCalculator(str(models["delta"]))
    assert pe == pytest.approx(atoms.get_potential_energy(), abs=1e-8)
    assert pe_sum == pytest.approx(pe, abs=1e-8)    # per-atom energies, the prior's included
    np.testing.assert_allclose(read_dump_forces(tmp_path / "forces.dump"), atoms.get_forces(),
                               atol=1e-8)
    stress = atoms.get_stress()    # ASE: xx yy zz yz xz xy, eV/A^3, the negative pressure
    np.testing.assert_allclose([pxx, pyy, pzz, pyz, pxz, pxy], -stress * NKTV2P, atol=1e-3)


@pytest.mark.lammps
def test_lammps_delta_with_ttt_runs(models, tmp_path):
    """TTT on a delta model: the prior is the TTT target and the added potential at once."""
    atoms = silicon(repeat=(2, 2, 2), rattle=0.2)
    write_data(atoms, tmp_path / "data.lmp")
    deck = DECK.format(style=" ttt every 2 steps 3 lr 1e-3 gate_std 0", model=models["delta"],
                       prior=PRIOR_LINES["prior_style"]).replace(
        "run 0", "velocity all create 600 1 loop geom\nfix nve all nve\nthermo 1\nrun 4")
    result = run_lmp(deck, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    rows = thermo_rows((tmp_path / "log.lammps").read_text())
    assert len(rows) == 5 and np.all(np.isfinite(rows))
    np.testing.assert_allclose(rows[:, 10], rows[:, 1], atol=1e-8)


@pytest.mark.lammps
@pytest.mark.parametrize("prior, message", [
    ("", "is delta-learned: its energies are relative to the prior tersoff:variant=mod"),
    ("pair_coeff * * prior_style sw\npair_coeff * * prior {potentials}/Si.sw Si",
     "deck's prior is pair_style sw"),
    ("pair_coeff * * prior python morse D=0.3 a=1.3 r0=2.4 cutoff=5.0",
     "not by pair_coeff \\* \\* prior python morse"),
])
def test_lammps_refuses_a_deck_without_the_models_prior(models, tmp_path, prior, message):
    write_data(silicon(), tmp_path / "data.lmp")
    prior = prior.format(potentials=TERSOFF.parent)
    result = run_lmp(DECK.format(style="", model=models["delta"], prior=prior), tmp_path)
    assert result.returncode != 0
    assert "ERROR" in result.stdout and __import__("re").search(message, result.stdout), \
        result.stdout[-2000:]


@pytest.mark.lammps
def test_lammps_refuses_a_prior_it_cannot_evaluate(tmp_path):
    model = make_model_file(tmp_path / "morse_delta.pt",
                            delta_prior="morse:D=0.3,a=1.3,r0=2.4,cutoff=5.0")
    write_data(silicon(), tmp_path / "data.lmp")
    result = run_lmp(DECK.format(style="", model=model, prior=""), tmp_path)
    assert result.returncode != 0 and "which LAMMPS has no pair style for" in result.stdout
    assert "prior python morse D=0.3 a=1.3 cutoff=5.0 r0=2.4" in result.stdout


# A model delta-learned on a prior LAMMPS has no pair style for (GFN-FF): the deck names it as
# a Python registry prior, added at every step in a non-periodic box.
GFNFF_DECK = """
units metal
boundary {boundary}
atom_modify map array
read_data data.lmp
pair_style mlff_ttt
pair_coeff * * {model} {elements}
{prior}
compute virial all pressure NULL virial
{extra}
thermo_style custom step pe c_virial[1] c_virial[2] c_virial[3] c_virial[4] c_virial[5] c_virial[6] vol
thermo_modify format float %.15g
run 0
write_dump all custom forces.dump id fx fy fz x y z modify sort id format float %.15g
"""


@pytest.fixture(scope="module")
def molecule_delta(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gfnff_delta")
    molecule = read_frames(DATA / "md17_val.xyz")[0]    # aspirin
    molecule = molecule[np.argsort(molecule.numbers, kind="stable")]  # C H O: LAMMPS's types
    molecule.cell = [30.0, 30.0, 30.0]
    molecule.center()
    return {"model": make_model_file(folder / "gfnff_delta.pt", elements=("H", "C", "N", "O"),
                                     cutoff=5.0, delta_prior="gfnff"),
            "molecule": molecule}


def _gfnff_deck(model, boundary="s s s", prior="pair_coeff * * prior python gfnff", extra=""):
    return GFNFF_DECK.format(boundary=boundary, model=model, elements="C H O", prior=prior,
                             extra=extra)


@pytest.mark.lammps
@pytest.mark.parametrize("nprocs", ranks(1, 2))
def test_lammps_adds_a_python_prior(molecule_delta, tmp_path, nprocs):
    """Energy and forces those of the calculator (the model plus GFN-FF) on 1 and 2 ranks, and
    the virial that of an isolated molecule, the sum of r x F over its atoms."""
    atoms = molecule_delta["molecule"]
    write_data(atoms, tmp_path / "data.lmp")
    result = run_lmp(_gfnff_deck(molecule_delta["model"]), tmp_path, nprocs=nprocs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    row = thermo_rows((tmp_path / "log.lammps").read_text())[-1]
    calc = MLFFCalculator(str(molecule_delta["model"]))
    plain = atoms.copy()
    plain.pbc = False
    assert row[1] == pytest.approx(calc.get_potential_energy(plain), abs=1e-8)
    dump = np.loadtxt(tmp_path / "forces.dump", skiprows=9)
    dump = dump[np.argsort(dump[:, 0])]
    forces, positions = dump[:, 1:4], dump[:, 4:7]
    np.testing.assert_allclose(forces, calc.get_forces(plain), atol=1e-8)
    prior_forces = get_prior("gfnff").compute([plain])[1][0]
    assert np.abs(prior_forces).max() > 0.1    # the prior's part is not nothing
    virial = row[2:8] * row[8] / NKTV2P    # xx yy zz xy xz yz, eV
    expected = [np.dot(positions[:, a], forces[:, b])
                for a, b in ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))]
    np.testing.assert_allclose(virial, expected, atol=1e-6)


@pytest.mark.lammps
@pytest.mark.parametrize("changes, message", [
    (dict(prior=""), "which LAMMPS has no pair style for: the deck gives it as pair_coeff "
                     "\\* \\* prior python gfnff"),
    (dict(prior="pair_coeff * * prior python morse D=0.3 a=1.3 r0=2.4 cutoff=5.0"),
     "but this deck's prior is prior python morse"),
    (dict(boundary="p p p"), "runs in non-periodic boxes"),
    (dict(extra="compute pe_atom all pe/atom\ncompute pe_sum all reduce sum c_pe_atom\n"
                "variable s equal c_pe_sum\nthermo_style custom step pe v_s"),
     "per-atom energies and virials of a model delta-learned on the Python prior gfnff"),
])
def test_lammps_refuses_what_a_python_prior_cannot_give(molecule_delta, tmp_path, changes,
                                                         message):
    write_data(molecule_delta["molecule"], tmp_path / "data.lmp")
    result = run_lmp(_gfnff_deck(molecule_delta["model"], **changes), tmp_path)
    assert result.returncode != 0
    assert "ERROR" in result.stdout and __import__("re").search(message, result.stdout), \
        result.stdout[-2000:]


def _config(tmp_path, extra: str, train="si_train.xyz"):
    path = tmp_path / "config.yaml"
    path.write_text(f"data:\n  train: {DATA / train}\n  val: {DATA / 'si_val.xyz'}\n"
                    f"model:\n  elements: [Si]\n  cutoff: 4.0\n  hidden: 8\n  num_basis: 8\n"
                    f"training:\n  mode: joint\n  target: delta\n  epochs: 1\n"
                    f"output: {tmp_path / 'run'}\n{extra}")
    return path


def test_config_needs_the_prior(tmp_path):
    with pytest.raises(ValueError, match="training.target delta needs the top-level prior"):
        load_config(_config(tmp_path, ""))


def test_labels_of_another_prior_are_refused(tmp_path):
    frames = read_frames(DATA / "si_train.xyz")[:3]
    check_prior_labels(PRIOR, frames, "si_train.xyz")    # the datasets' own PRIOR labels
    with pytest.raises(ValueError, match="frame 0's PRIOR_energy/PRIOR_forces are not the "
                                         "prior tersoff:variant=original"):
        check_prior_labels("tersoff:variant=original", frames, "si_train.xyz")
    frames[1].arrays[PRIOR_FORCES] = frames[1].arrays[PRIOR_FORCES] + 1e-3
    with pytest.raises(ValueError, match="frame 1's"):
        check_prior_labels(PRIOR, frames, "si_train.xyz")
    assert PRIOR_ENERGY in frames[0].info


def test_training_learns_reference_minus_prior(tmp_path):
    """One epoch on a few structures: the reference head's energy shift is fitted to the
    reference minus the prior, and the exported file adds the prior back."""
    from mlff_ttt.export import export_checkpoint
    from mlff_ttt.train import train

    frames = read_frames(DATA / "si_train.xyz")[:6]
    write(tmp_path / "small.xyz", frames, format="extxyz")
    config = load_config(_config(tmp_path, f"prior: {PRIOR}\n", train=tmp_path / "small.xyz"))
    best = train(config)
    model_path = tmp_path / "model.pt"
    metadata = export_checkpoint(best, model_path, calibrate=False)
    assert metadata["delta_prior"] == PRIOR
    module = load_model_file(model_path)
    delta_per_atom = np.mean([(a.info["REF_energy"] - a.info[PRIOR_ENERGY]) / len(a)
                              for a in frames])
    shift = float(module.model.reference_head.shift[0])
    assert shift == pytest.approx(delta_per_atom, abs=0.05)
    reference_per_atom = np.mean([a.info["REF_energy"] / len(a) for a in frames])
    assert abs(reference_per_atom - delta_per_atom) > 1.0    # the two targets differ


@pytest.mark.lammps
def test_shipped_delta_example_deck(tmp_path):
    """examples/lammps/in.si_delta_npt with the shipped delta model: its first energy is the
    calculator's (model plus Tersoff/mod), and NPT runs."""
    import ase.build
    import shutil

    from helpers import ROOT

    deck = (ROOT / "examples" / "lammps" / "in.si_delta_npt").read_text()
    (tmp_path / "models").mkdir()
    shutil.copy(ROOT / "examples" / "models" / "si_painn_delta.pt", tmp_path / "models")
    (tmp_path / "run").mkdir()
    deck = deck.replace("variable steps index 1000", "variable steps index 20").replace(
        "thermo       50", "thermo       10\nthermo_modify format float %.12g")
    result = run_lmp(deck, tmp_path / "run",
                     env_extra={"LAMMPS_POTENTIALS": str(TERSOFF.parent)})
    assert result.returncode == 0, result.stdout[-3000:]
    rows = thermo_rows((tmp_path / "run" / "log.lammps").read_text())
    assert len(rows) == 3 and np.all(np.isfinite(rows))
    atoms = ase.build.bulk("Si", "diamond", a=5.431, cubic=True).repeat((3, 3, 3))
    atoms.calc = MLFFCalculator(str(ROOT / "examples" / "models" / "si_painn_delta.pt"))
    assert rows[0, 2] == pytest.approx(atoms.get_potential_energy(), abs=1e-6)


SHIPPED_DELTA = ROOT / "examples" / "models" / "md17_schnet_delta.pt"
SEGMENTS_DECK = """
units metal
atom_style atomic
boundary f f f
read_data molecule.data
neigh_modify every 1 delay 0 check no
atom_modify sort 0 0.0
pair_style mlff_ttt {style}
pair_coeff * * {model} C H O
pair_coeff * * prior python gfnff
velocity all create 500 5 mom yes rot yes
thermo_style custom step pe etotal press
thermo_modify format float %.17g
thermo 5
fix integrate all nve
timestep 0.0005
{runs}
write_dump all custom f.dump id fx fy fz modify sort id format float %.17g
"""


@pytest.mark.lammps
@pytest.mark.parametrize("style", ["", "ttt every 5 steps 2 lr 1e-3 gate_std 0"])
def test_shipped_delta_model_in_md(molecule_delta, tmp_path, style):
    """md17_schnet_delta in NVE on aspirin, GFN-FF added at every step (and TTT's target where
    TTT runs): `run 10` + `run 10` equals `run 20` bit for bit, and 2 ranks give 1 rank's
    energies and forces."""
    results = {}
    for name, runs, nprocs in (("whole", "run 20", 1), ("split", "run 10\nrun 10", 1),
                               ("ranks", "run 20", 2)):
        folder = tmp_path / name
        folder.mkdir()
        write_data(molecule_delta["molecule"], folder / "molecule.data")
        deck = SEGMENTS_DECK.format(style=style, model=SHIPPED_DELTA, runs=runs)
        result = run_lmp(deck, folder, nprocs=nprocs)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        rows = thermo_rows((folder / "log.lammps").read_text())
        results[name] = ({int(r[0]): r for r in rows}, read_dump_forces(folder / "f.dump"))
    (whole, whole_forces), (split, split_forces) = results["whole"], results["split"]
    assert sorted(whole) == sorted(split) == [0, 5, 10, 15, 20]
    for step in whole:
        assert np.array_equal(whole[step], split[step]), step
    assert np.array_equal(whole_forces, split_forces)
    ranks_rows, ranks_forces = results["ranks"]
    for step in whole:
        np.testing.assert_allclose(ranks_rows[step][1:3], whole[step][1:3], rtol=0, atol=1e-8)
    np.testing.assert_allclose(ranks_forces, whole_forces, rtol=0, atol=1e-8)
    if not style:    # a fixed potential conserves its energy (TTT's updates move it by design)
        assert abs(whole[20][2] - whole[0][2]) < 1e-3 * len(molecule_delta["molecule"])


@pytest.mark.lammps
def test_lammps_reads_a_python_priors_values_as_numbers(tmp_path):
    """A Morse-delta model on a shrink-wrapped silicon cluster: the deck's `cutoff=5` is the
    file's cutoff=5.0 (their texts differ), and the energy is the calculator's; D=0.31 is
    another potential, an ERROR."""
    from mlff_ttt.plugin.prior_loading import same_prior_spec

    spec = "morse:D=0.3,a=1.3,r0=2.4,cutoff=5.0"
    deck_words = {"D": "0.3", "a": "1.3", "r0": "2.4", "cutoff": "5"}
    assert same_prior_spec(spec, "morse", deck_words)
    assert not same_prior_spec(spec, "morse", {**deck_words, "D": "0.31"})
    model = make_model_file(tmp_path / "morse_delta.pt", delta_prior=spec)
    cluster = silicon(repeat=(1, 1, 1))
    cluster.pbc = False
    cluster.cell = [30.0, 30.0, 30.0]
    cluster.center()
    write_data(cluster, tmp_path / "data.lmp")
    deck = (DECK.replace("boundary p p p", "boundary s s s")
            .replace("compute pe_atom all pe/atom\ncompute pe_sum all reduce sum c_pe_atom\n", "")
            .replace(" c_pe_sum", ""))
    result = run_lmp(deck.format(style="", model=model,
                                 prior="pair_coeff * * prior python morse D=0.3 a=1.3 r0=2.4 "
                                       "cutoff=5"), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    pe = thermo_rows((tmp_path / "log.lammps").read_text())[-1][1]
    assert pe == pytest.approx(MLFFCalculator(str(model)).get_potential_energy(cluster), abs=1e-8)
