"""Bad input ends in a LAMMPS ERROR line naming the problem and a non-zero exit."""

import numpy as np
import pytest

from helpers import ranks, run_lmp
from mlff_ttt import _core

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin

DECK = """
units {units}
newton {newton}
atom_style atomic
lattice diamond 5.43
region box block 0 2 0 2 0 2
create_box {ntypes} box
create_atoms 1 box
mass * 28.0855
pair_style mlff_ttt {style_args}
pair_coeff * * {model} {elements}
run 0
"""


def deck(model, units="metal", newton="on", ntypes=1, elements="Si", style_args=""):
    return DECK.format(units=units, newton=newton, ntypes=ntypes, elements=elements,
                       model=model, style_args=style_args)


CASES = {
    "missing_file": (dict(model="no_such_model.pt"), "cannot open model file 'no_such_model.pt'"),
    "not_a_model": (dict(model="junk.pt"), "'junk.pt' is not a TorchScript model file"),
    "unknown_element": (dict(elements="C"), "Element C (atom type 1) is not in model"),
    "too_few_elements": (dict(ntypes=2, elements="Si"),
                         "needs one element symbol per atom type: 2 types, 1 symbols given"),
    "newton_off": (dict(newton="off"), "Pair style mlff_ttt requires newton pair on"),
    "units_lj": (dict(units="lj"), "supports units metal or real, not units lj"),
    "unknown_keyword": (dict(style_args="radius 3.0"), "Unknown pair_style mlff_ttt keyword: radius"),
    "bad_hook": (dict(style_args="hook every 5 no_such_module_xyz:fn"),
                 "cannot load hook 'no_such_module_xyz:fn'"),
    "bad_hook_interval": (dict(style_args="hook every 0 os:getcwd"), "hook every N needs N >= 1"),
    "negative_min_distance": (dict(style_args="min_distance -1"),
                              "min_distance D needs D >= 0 (0: no check)"),
    "unknown_device": (dict(style_args="device gpu"), "device: expected cpu or cuda, not gpu"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_a_lammps_error(case, model_file, tmp_path):
    kwargs, message = CASES[case]
    kwargs.setdefault("model", model_file)
    (tmp_path / "junk.pt").write_text("definitely not a TorchScript archive\n")
    proc = run_lmp(deck(**kwargs), tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-2000:]
    assert proc.returncode > 0, f"killed by signal {-proc.returncode}"
    error_lines = [line for line in output.splitlines() if line.startswith("ERROR")]
    assert error_lines, output[-2000:]
    assert message in error_lines[0], error_lines[0]


def test_good_deck_runs_without_plugin_load(model_file, tmp_path):
    # the lammps.plugins entry point puts the plugin on LAMMPS_PLUGIN_PATH for `lmp`
    proc = run_lmp(deck(model=model_file), tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "Loaded 1 plugins from" in proc.stdout and "plugin load" not in deck(model=model_file)


OVERLAP = """
units metal
atom_style atomic
region box block 0 10 0 10 0 10
create_box 1 box
create_atoms 1 single 5.0 5.0 5.0
create_atoms 1 single 5.01 5.0 5.0
create_atoms 1 single 2.0 2.0 2.0
mass * 28.0855
pair_style mlff_ttt {style_args}
pair_coeff * * {model} Si
thermo_style custom step pe
thermo_modify format float %.10g
run 0
"""


@pytest.mark.parametrize("nprocs", ranks(1, 2))
def test_overlapping_atoms_are_a_lammps_error_naming_them(model_file, tmp_path, nprocs):
    """Two atoms 0.01 A apart: an ERROR naming both IDs and the distance (never a number)."""
    proc = run_lmp(OVERLAP.format(model=model_file, style_args=""), tmp_path, nprocs=nprocs)
    output = proc.stdout + proc.stderr
    assert proc.returncode > 0, output[-2000:]
    assert "atoms 1 and 2 are 0.01 A apart, closer than min_distance 0.5 A" in output, \
        output[-2000:]


def test_min_distance_floor_is_a_keyword_and_zero_switches_it_off(model_file, tmp_path):
    proc = run_lmp(OVERLAP.format(model=model_file, style_args="min_distance 0.005"), tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    proc = run_lmp(OVERLAP.format(model=model_file, style_args="min_distance 0"), tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    proc = run_lmp(OVERLAP.format(model=model_file, style_args="min_distance 0.02"), tmp_path)
    assert proc.returncode > 0 and "closer than min_distance 0.02 A" in proc.stdout


MOLECULE = """
units metal
atom_style atomic
boundary f f f
region box block 0 12 0 12 0 12
create_box 4 box
create_atoms 2 single 5.0 5.0 5.0
create_atoms 1 single 6.09 5.0 5.0
create_atoms 4 single 5.0 6.2 5.0
create_atoms 3 single 5.0 5.0 6.4
mass * 12.0
pair_style mlff_ttt monitor off
pair_coeff * * {model} H C N O
run 0
"""


@pytest.mark.parametrize("element, atom_id, nprocs",
                         [(3, 3, 1), pytest.param(2, 4, 2, marks=pytest.mark.mpi)])
def test_non_finite_model_output_is_a_lammps_error_naming_step_and_atom(tmp_path, element,
                                                                        atom_id, nprocs):
    """A model whose energy is NaN for one element only (O, atom 3; or N, atom 4, which rank 1
    owns on 2 ranks): the ERROR names the step and that atom, from whichever rank saw it."""
    import torch

    from helpers import ROOT

    module = torch.jit.load(str(ROOT / "examples" / "models" / "mol_schnet.pt"))
    from mlff_ttt.model_file import stamp_checksum

    with torch.no_grad():
        module.model.reference_head.shift[element] = float("nan")  # elements H C N O
    stamp_checksum(module)  # a model that is what it claims to be, only broken
    torch.jit.save(module, str(tmp_path / "nan_for_one_element.pt"))
    proc = run_lmp(MOLECULE.format(model=tmp_path / "nan_for_one_element.pt"), tmp_path,
                   nprocs=nprocs)
    assert proc.returncode > 0, proc.stdout[-2000:]
    assert "at step 0: model" in proc.stdout and \
        f"returned a non-finite energy for atom {atom_id}" in proc.stdout, proc.stdout[-2000:]


def _shipped(name):
    from helpers import ROOT
    return ROOT / "examples" / "models" / name


def test_truncated_model_file_is_a_lammps_error(tmp_path):
    data = _shipped("si_schnet.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    proc = run_lmp(deck(model=tmp_path / "truncated.pt"), tmp_path)
    assert proc.returncode > 0
    assert "is not a TorchScript model file" in proc.stdout, proc.stdout[-2000:]


def test_newer_model_format_is_a_lammps_error(tmp_path):
    import torch

    module = torch.jit.load(str(_shipped("si_schnet.pt")))
    module.format_version = 99    # unchecked: a newer release may checksum otherwise
    torch.jit.save(module, str(tmp_path / "future.pt"))
    proc = run_lmp(deck(model=tmp_path / "future.pt"), tmp_path)
    assert proc.returncode > 0
    expected = f"format version 99, this build reads versions 1 to {_core.MODEL_FORMAT_VERSION}"
    assert expected in proc.stdout, proc.stdout[-2000:]


SPARSE = """
units metal
atom_style atomic
region box block 0 30 0 30 0 30
create_box 2 box
create_atoms 1 single 2.0 2.0 2.0
create_atoms 1 single 4.3 2.0 2.0
create_atoms 1 single 20.0 20.0 20.0
mass * 28.0855
pair_style mlff_ttt
pair_coeff * * {model} Si Si
compute peatom all pe/atom
compute pe all reduce sum c_peatom
thermo_style custom step pe c_pe
thermo_modify format float %.12g
run 0
write_dump all custom forces.dump id fx fy fz modify sort id format float %.17g
"""


@pytest.mark.parametrize("nprocs", ranks(1, 2, 4))
def test_isolated_atoms_empty_types_and_empty_ranks_run(model_file, tmp_path, nprocs):
    """An atom without neighbours (its energy is its element's shift, no force), a type with
    no atoms, and ranks without atoms (4 ranks, 3 atoms) give the same numbers everywhere."""
    from helpers import read_dump_forces, thermo_rows

    proc = run_lmp(SPARSE.format(model=model_file), tmp_path, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-2000:]
    step, pe, pe_atoms = thermo_rows((tmp_path / "log.lammps").read_text())[-1]
    assert pe == pytest.approx(pe_atoms, rel=1e-10)
    forces = read_dump_forces(tmp_path / "forces.dump")
    assert np.all(forces[2] == 0.0) and np.abs(forces[0]).max() > 1e-3
    np.testing.assert_allclose(forces[0], -forces[1], atol=1e-10)  # a pair: equal and opposite
    if nprocs == 1:
        pytest.sparse_reference = (pe, forces)
    else:
        ref_pe, ref_forces = pytest.sparse_reference
        assert pe == pytest.approx(ref_pe, rel=1e-10)
        np.testing.assert_allclose(forces, ref_forces, atol=1e-10)


def test_non_finite_positions_are_a_lammps_error(model_file):
    """A NaN coordinate (set from Python: input scripts refuse NaN) ends the run with an error,
    never a number."""
    from mlff_ttt.plugin.lammps_import import import_lammps
    from mlff_ttt.plugin import plugin_path

    lmp = import_lammps().lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    try:
        lmp.command(f"plugin load {plugin_path()}")
        lmp.commands_string(deck(model=model_file).replace("run 0", "run 0"))
        x = lmp.numpy.extract_atom("x")
        x[0, 0] = float("nan")
        with pytest.raises(Exception, match="Non-numeric atom coords|non-finite"):
            lmp.command("run 0")
    finally:
        lmp.close()


def test_device_cuda_without_cuda_is_a_lammps_error(model_file, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this torch has CUDA and sees a GPU")
    proc = run_lmp(deck(model=model_file, style_args="device cuda"), tmp_path)
    assert proc.returncode > 0
    assert "device cuda: this build's torch has no CUDA support or sees no GPU" in proc.stdout, \
        proc.stdout[-2000:]


def test_device_cpu_is_the_default(model_file, tmp_path):
    from helpers import thermo_rows

    energies = []
    for args in ("", "device cpu"):
        proc = run_lmp(deck(model=model_file, style_args=args), tmp_path)
        assert proc.returncode == 0, proc.stdout[-2000:]
        energies.append(thermo_rows((tmp_path / "log.lammps").read_text())[-1])
    assert np.array_equal(energies[0], energies[1])
