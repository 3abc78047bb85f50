"""Radius refinement and the shift monitor: the model at a refined radius, the reference
statistics, the dense reference vs the kernel, and the pair style's keywords, vector and
rank independence."""

from __future__ import annotations

import re
import subprocess

import json

import ase.io
import numpy as np
import pytest
import torch

from helpers import (ROOT, central_difference_force, make_model_file, read_dump_forces,
                     run_lmp, silicon, thermo_rows, write_data)
from mlff_ttt import _core
from mlff_ttt.calculator import MLFFCalculator
from mlff_ttt.data import read_frames
from mlff_ttt.export import export_checkpoint
from mlff_ttt.model_file import read_metadata, reference_statistics_of, stamp_checksum
from mlff_ttt.graph import radius_graph
from mlff_ttt.refine.rr import default_grid, reference_statistics, select_radius
from mlff_ttt.refine.spectral import dense_moments, kernel_moments, laplacian_spectrum

DATA = ROOT / "examples" / "data"
CUTOFF = 4.0  # the test model's; the diamond 2nd shell (3.84 A) is in, the 3rd (4.50) out
GRID = [3.0, 3.5, 4.0]


@pytest.fixture(scope="module")
def rr_model(tmp_path_factory):
    """The seeded test model with reference statistics from a slice of si_train."""
    folder = tmp_path_factory.mktemp("rr")
    plain = make_model_file(folder / "plain.pt", cutoff=CUTOFF)
    train = folder / "train.xyz"
    ase.io.write(train, read_frames(DATA / "si_train.xyz")[::10], format="extxyz")
    export_checkpoint(plain, folder / "rr.pt", train=train, rr_grid=GRID)
    return folder / "rr.pt"


def test_export_writes_statistics_and_plain_export_has_none(rr_model, model_file):
    stats = reference_statistics_of(read_metadata(rr_model))
    assert stats.radii == GRID and len(stats.moments) == 3 and stats.n_structures == 20
    assert 1.0 < stats.force_norm_mean < 1.5 and stats.force_norm_std > 0
    assert read_metadata(model_file)["reference_statistics"] is None
    with pytest.raises(ValueError, match="no reference statistics"):
        MLFFCalculator(str(model_file), rr=True)


def test_cutoff_radius_is_the_plain_model_bit_for_bit(rr_model):
    atoms = silicon()
    plain = MLFFCalculator(str(rr_model))
    at_cutoff = MLFFCalculator(str(rr_model), radius=CUTOFF)
    assert at_cutoff.get_potential_energy(atoms) == plain.get_potential_energy(atoms)
    assert np.array_equal(at_cutoff.get_forces(atoms), plain.get_forces(atoms))
    # the core: radius = cutoff and no radius give identical numbers
    runner = _core.ModelRunner(str(rr_model))
    graph = radius_graph(atoms, CUTOFF, ["Si"])
    a = runner.compute(graph.species, graph.edge_index, graph.edge_vec)
    b = runner.compute(graph.species, graph.edge_index, graph.edge_vec, radius=CUTOFF)
    assert a["energy"] == b["energy"] and np.array_equal(a["forces"], b["forces"])


def test_refined_radius_is_smooth_and_conservative(rr_model):
    atoms = silicon(rattle=0.15)
    calc = MLFFCalculator(str(rr_model), radius=3.5)
    forces = calc.get_forces(atoms)
    energy = lambda a: calc.get_potential_energy(a)  # noqa: E731
    for atom, axis in ((0, 0), (5, 1), (17, 2)):
        assert central_difference_force(energy, atoms, atom, axis, 1e-4) == pytest.approx(
            forces[atom, axis], abs=1e-7)
    # an edge crossing the radius does not make the energy jump: move an atom pair through r
    pair = atoms[:2].copy()
    pair.pbc = False
    pair.positions = [[0, 0, 0], [3.5 - 1e-7, 0, 0]]
    inside = calc.get_potential_energy(pair)
    pair.positions = [[0, 0, 0], [3.5 + 1e-7, 0, 0]]
    assert calc.get_potential_energy(pair) == pytest.approx(inside, abs=1e-10)
    # and the python model and the core agree at the refined radius
    runner = _core.ModelRunner(str(rr_model))
    graph = radius_graph(atoms, 3.5, ["Si"])
    core = runner.compute(graph.species, graph.edge_index, graph.edge_vec, radius=3.5)
    assert core["energy"] == pytest.approx(calc.get_potential_energy(atoms), rel=1e-10)


def test_kernel_moments_equal_dense_moments():
    for atoms in read_frames(DATA / "mol_ood_connectivity.xyz")[:3] + [silicon()]:
        kernel = kernel_moments(atoms, GRID)
        dense = np.array([dense_moments(laplacian_spectrum(atoms, r)) for r in GRID])
        assert kernel == pytest.approx(dense, abs=1e-10)


def test_kernel_choice_equals_dense_reference_choice():
    """On molecules and small periodic cells, the kernel's radius is the dense reference's."""
    train = read_frames(DATA / "mol_train.xyz")[::4]
    stats = reference_statistics(train, default_grid(5.0), "mol_train")
    structures = (read_frames(DATA / "mol_test.xyz")[::4] +
                  read_frames(DATA / "mol_ood_size.xyz")[::4] +
                  read_frames(DATA / "mol_ood_connectivity.xyz")[::2])
    agree = [select_radius(a, stats, "dense").radius == select_radius(a, stats, "kernel").radius
             for a in structures]
    si_stats = reference_statistics(read_frames(DATA / "si_train.xyz")[::10], GRID, "si")
    cells = (read_frames(DATA / "si_test.xyz")[::8] + read_frames(DATA / "si_ood_liquid.xyz")[::8]
             + read_frames(DATA / "si_ood_pressure.xyz")[::8])
    agree += [select_radius(a, si_stats, "dense").radius ==
              select_radius(a, si_stats, "kernel").radius for a in cells]
    assert all(agree), [k for k, same in enumerate(agree) if not same]


def test_rr_changes_radius_of_a_flagged_structure_only(rr_model):
    stats = reference_statistics_of(read_metadata(rr_model))
    crystal = read_frames(DATA / "si_test.xyz")[0]
    liquid = read_frames(DATA / "si_ood_liquid.xyz")[0]
    assert select_radius(crystal, stats).radius == CUTOFF
    choice = select_radius(liquid, stats)
    assert choice.flagged and choice.distances[-1] > stats.threshold


def test_bad_grids(rr_model):
    with pytest.raises(ValueError, match="empty"):
        select_radius(silicon(), reference_statistics_of(read_metadata(rr_model)), radii=[])
    with pytest.raises(ValueError, match=r"\(0, 4\]"):
        MLFFCalculator(str(rr_model), radius=4.5)
    with pytest.raises(ValueError, match="no reference statistics for radii"):
        select_radius(silicon(), reference_statistics_of(read_metadata(rr_model)), radii=[3.2])


# ----------------------------------------------------------------------------- LAMMPS

DECK = """
units metal
boundary p p p
read_data data.lmp
pair_style mlff_ttt {style}
pair_coeff * * {model} Si
compute shift all pair mlff_ttt
thermo_style custom step pe c_shift[1] c_shift[2] c_shift[3] c_shift[4] c_shift[5]
thermo_modify format float %.15g
thermo {thermo}
{extra}
"""


def _lammps(tmp_path, atoms, style, model, extra="run 0", nprocs=1, thermo=1):
    write_data(atoms, tmp_path / "data.lmp")
    result = run_lmp(DECK.format(style=style, model=model, extra=extra, thermo=thermo),
                     tmp_path, nprocs=nprocs)
    return result, (tmp_path / "log.lammps").read_text() if (tmp_path / "log.lammps").exists() else ""


@pytest.mark.lammps
def test_monitor_flags_liquid_not_crystal_and_matches_python(tmp_path, rr_model):
    stats = reference_statistics_of(read_metadata(rr_model))
    crystal = silicon(rattle=0.0)   # the zero-temperature limit of the training crystals
    liquid = read_frames(DATA / "si_ood_liquid.xyz")[0]
    for name, atoms, flagged in (("crystal", crystal, 0.0), ("liquid", liquid, 1.0)):
        folder = tmp_path / name
        folder.mkdir()
        result, log = _lammps(folder, atoms, "monitor every 1", rr_model)
        assert result.returncode == 0, result.stdout[-2000:]
        vector = thermo_rows(log)[0]
        distance = select_radius(atoms, stats, "kernel").distances[-1]
        assert vector[2] == CUTOFF and vector[3] == pytest.approx(distance, rel=1e-9)
        assert vector[5] == flagged
        assert ("connectivity shift at step 0" in log) == bool(flagged)


@pytest.mark.lammps
def test_grid_of_cutoff_alone_is_the_plain_model_in_lammps(tmp_path, rr_model):
    atoms = silicon(rattle=0.2)
    dump = "run 0\nwrite_dump all custom f.dump id fx fy fz modify sort id format float %.17g"
    outputs = []
    for style in ("monitor off", f"rr every 1 rr_grid {CUTOFF} monitor off"):
        folder = tmp_path / style.replace(" ", "_")
        folder.mkdir()
        result, log = _lammps(folder, atoms, style, rr_model, extra=dump)
        assert result.returncode == 0, result.stdout[-2000:]
        outputs.append((thermo_rows(log)[0][1], read_dump_forces(folder / "f.dump")))
    assert outputs[0][0] == outputs[1][0]
    assert np.array_equal(outputs[0][1], outputs[1][1])


@pytest.mark.lammps
@pytest.mark.mpi
def test_rr_radius_and_energy_match_python_and_ranks(tmp_path, rr_model):
    """rr every 5 on a liquid frame: the chosen radius is the kernel's, the energy is the
    calculator's at that radius, and 1, 2 and 4 ranks give the same vector."""
    atoms = read_frames(DATA / "si_ood_liquid.xyz")[0]
    stats = reference_statistics_of(read_metadata(rr_model))
    choice = select_radius(atoms, stats, "kernel")
    vectors = []
    for nprocs in (1, 2, 4):
        folder = tmp_path / f"np{nprocs}"
        folder.mkdir()
        result, log = _lammps(folder, atoms, "rr every 5 monitor every 5", rr_model,
                              extra="velocity all create 600 3\nfix 1 all nve\nrun 10",
                              nprocs=nprocs, thermo=5)
        assert result.returncode == 0, result.stdout[-2000:]
        vectors.append(thermo_rows(log))
    assert vectors[0][0, 2] == choice.radius
    energy = MLFFCalculator(str(rr_model), radius=choice.radius).get_potential_energy(atoms)
    assert vectors[0][0, 1] == pytest.approx(energy, rel=1e-10)
    for other in vectors[1:]:
        assert other == pytest.approx(vectors[0], rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("style, message", [
    ("rr every 0", "rr every N needs N >= 1"),
    ("rr once rr_grid", "rr_grid needs at least one radius"),
    ("rr once rr_grid 0 3.0", "is not positive"),
    ("rr once rr_grid 3.0 9.0", "outside"),
    ("rr once rr_grid 3.2", "no reference statistics for radius"),
    ("rr_grid 3.0", "rr_grid needs rr once or rr every N"),
    ("rr sometimes", "expected off, once or every N"),
    ("monitor every 0", "monitor every N needs N >= 1"),
])
@pytest.mark.lammps
def test_bad_rr_keywords_are_lammps_errors(tmp_path, rr_model, style, message):
    result, log = _lammps(tmp_path, silicon(), style, rr_model)
    assert result.returncode != 0
    assert "ERROR" in result.stdout and message in result.stdout, result.stdout[-1500:]


@pytest.mark.lammps
def test_rr_with_a_model_without_statistics_is_an_error(tmp_path, model_file):
    result, _ = _lammps(tmp_path, silicon(), "rr once", model_file)
    assert result.returncode != 0 and "ERROR" in result.stdout
    assert "no reference statistics" in result.stdout
    # without rr the monitor stays off quietly for such a file, and the run works
    folder = tmp_path / "plain"
    folder.mkdir()
    result, _ = _lammps(folder, silicon(), "", model_file)
    assert result.returncode == 0, result.stdout[-1500:]


def test_eval_rr_cli(tmp_path, rr_model):
    out = tmp_path / "rr.json"
    result = subprocess.run(["mlff-ttt", "eval", str(rr_model), str(DATA / "si_ood_liquid.xyz"),
                             "--rr", "--json", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    assert all("rr_radius" in s for s in record["structures"])
    assert 0.0 <= record["rr_fraction_changed"] <= 1.0


def test_cli_bad_rr_input_is_one_line(tmp_path, rr_model, model_file, capsys):
    from mlff_ttt.cli import main

    cases = [
        (["export", str(rr_model), "-o", str(tmp_path / "x.pt"), "--rr-grid", "3.0", "9.0"],
         r"RR radii must lie in \(0, 4\]"),
        (["export", str(rr_model), "-o", str(tmp_path / "x.pt"), "--rr-grid", "-1"],
         r"RR radii must lie in \(0, 4\]"),
        (["eval", str(model_file), str(DATA / "si_test.xyz"), "--rr"],
         "has no reference statistics"),
    ]
    for argv, message in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and re.search(message, err), err
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(SystemExit):  # argparse: --rr-grid needs at least one radius
        main(["export", str(rr_model), "-o", str(tmp_path / "x.pt"), "--rr-grid"])


def test_reexport_keeps_the_model_and_refreshes_statistics(tmp_path, rr_model):
    again = tmp_path / "again.pt"
    export_checkpoint(rr_model, again, rr_grid=[3.5])
    stats = reference_statistics_of(read_metadata(again))
    assert stats.radii == [3.5, CUTOFF]  # the training set recorded in the file was reused
    atoms = silicon()
    assert (MLFFCalculator(str(again)).get_forces(atoms) ==
            MLFFCalculator(str(rr_model)).get_forces(atoms)).all()


@pytest.mark.lammps
def test_version_1_files_still_run_but_refuse_rr(tmp_path, rr_model):
    module = torch.jit.load(str(rr_model))
    module.format_version = 1  # what files of the previous format carry
    stamp_checksum(module)
    old = tmp_path / "v1.pt"
    module.save(str(old))
    runner = _core.ModelRunner(str(old))
    graph = radius_graph(silicon(), CUTOFF, ["Si"])
    runner.compute(graph.species, graph.edge_index, graph.edge_vec)
    with pytest.raises(RuntimeError, match="format version 1"):
        runner.compute(graph.species, graph.edge_index, graph.edge_vec, radius=3.5)
    result, _ = _lammps(tmp_path, silicon(), "", old)
    assert result.returncode == 0, result.stdout[-1500:]
    folder = tmp_path / "rr"
    folder.mkdir()
    result, _ = _lammps(folder, silicon(), "rr once", old)
    assert result.returncode != 0 and "ERROR" in result.stdout
    assert "no reference statistics (format version 1)" in result.stdout, result.stdout[-1500:]


@pytest.mark.lammps
def test_version_3_statistics_are_refused_with_a_re_export_hint(tmp_path, rr_model):
    """Files before format 4 hold statistics of 0/1 radius graphs, which the weighted kernel
    would compare against silently wrong: the model runs, RR and the monitor refuse them, and
    the monitor left at its default says it is off."""
    module = torch.jit.load(str(rr_model))
    module.format_version = 3
    metadata = json.loads(module.metadata_json)
    metadata["format_version"] = 3
    module.metadata_json = json.dumps(metadata, sort_keys=True)
    stamp_checksum(module)
    old = tmp_path / "v3.pt"
    module.save(str(old))
    with pytest.raises(ValueError, match="unweighted radius graphs.*mlff-ttt export"):
        reference_statistics_of(read_metadata(old))
    result, _ = _lammps(tmp_path, silicon(), "", old)
    assert result.returncode == 0, result.stdout[-1500:]
    assert "WARNING: pair_style mlff_ttt: the monitor is off" in result.stdout
    for style in ("rr once", "monitor every 10"):
        folder = tmp_path / style.replace(" ", "_")
        folder.mkdir()
        result, _ = _lammps(folder, silicon(), style, old)
        assert result.returncode != 0 and "ERROR" in result.stdout
        assert "(format version 3) are of unweighted radius graphs" in result.stdout, \
            result.stdout[-1500:]
    # re-exporting gives the current format and statistics again
    again = tmp_path / "again.pt"
    export_checkpoint(old, again)
    assert read_metadata(again)["format_version"] == _core.MODEL_FORMAT_VERSION
    assert reference_statistics_of(read_metadata(again)) == reference_statistics_of(
        read_metadata(rr_model))
