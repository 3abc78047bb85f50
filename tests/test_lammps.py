"""pair_style mlff_ttt in LAMMPS (driven from Python) against the Python model."""

import numpy as np
import pytest

from mlff_ttt import _core
from mlff_ttt.calculator import MLFFCalculator
from mlff_ttt.graph import radius_graph
from mlff_ttt.plugin.lammps_import import import_lammps
from mlff_ttt.plugin import plugin_path

from helpers import EXAMPLE_MODEL, silicon, write_data

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin

# LAMMPS's conversion factors (src/update.cpp) for the unit styles the pair style supports.
NKTV2P = {"metal": 1.6021765e6, "real": 68568.415}
EV_IN_KCAL_MOL = 0.0019872067 / 8.617343e-5


def lammps_results(model_path, atoms, tmp_path, units="metal"):
    lammps = import_lammps()
    data = write_data(atoms, tmp_path / f"si_{units}.data", units=units)
    lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    try:
        lmp.commands_string(f"""
            plugin load {plugin_path()}
            units {units}
            atom_style atomic
            atom_modify map array
            read_data {data}
            pair_style mlff_ttt
            pair_coeff * * {model_path} Si
            compute pe_atom all pe/atom
            compute stress_atom all stress/atom NULL
            compute virial all pressure NULL virial
            thermo_style custom step pe c_virial[*]
            run 0
        """)
        order = np.argsort(lmp.numpy.extract_atom("id")[: len(atoms)])
        natoms = len(atoms)
        result = {
            "energy": lmp.get_thermo("pe"),
            "forces": np.array(lmp.numpy.extract_atom("f")[:natoms])[order],
            "node_energy": np.array(lmp.numpy.extract_compute("pe_atom", 1, 1)[:natoms])[order],
            "node_stress": np.array(lmp.numpy.extract_compute("stress_atom", 1, 2)[:natoms])[order],
            "pressure_virial": np.array(lmp.numpy.extract_compute("virial", 0, 1)),
            "volume": lmp.get_thermo("vol"),
        }
    finally:
        lmp.close()
    return result


@pytest.fixture(scope="module")
def structure():
    return silicon()


def test_lammps_matches_python(model_file, structure, tmp_path):
    lmp = lammps_results(model_file, structure, tmp_path)
    atoms = structure.copy()
    atoms.calc = MLFFCalculator(str(model_file))
    rel = 1e-10
    assert lmp["energy"] == pytest.approx(atoms.get_potential_energy(), rel=rel)
    forces = atoms.get_forces()
    np.testing.assert_allclose(lmp["forces"], forces, atol=rel * np.abs(forces).max())
    np.testing.assert_allclose(lmp["node_energy"], atoms.get_potential_energies(), rtol=rel)
    # global virial (pressure compute, virial part) = -stress * V
    virial = -atoms.get_stress(voigt=False) * atoms.get_volume()
    expected = np.array([virial[0, 0], virial[1, 1], virial[2, 2], virial[0, 1], virial[0, 2],
                         virial[1, 2]])
    got = lmp["pressure_virial"] * lmp["volume"] / NKTV2P["metal"]
    np.testing.assert_allclose(got, expected, atol=rel * np.abs(expected).max())


@pytest.mark.parametrize("name", ["si_schnet.pt", "si_painn.pt", "si_schnet_pretrain.pt",
                                  "si_schnet64_pretrain.pt", "si_painn_replay.pt"])
def test_shipped_models_in_lammps(name, structure, tmp_path):
    """Both architectures (PaiNN carries vector features through the ghost shell too), and
    the pretrained models (docs/pretraining.md)."""
    path = EXAMPLE_MODEL.parent / name
    lmp = lammps_results(path, structure, tmp_path)
    atoms = structure.copy()
    atoms.calc = MLFFCalculator(str(path))
    energy = atoms.get_potential_energy()
    assert lmp["energy"] == pytest.approx(energy, rel=1e-10)
    assert lmp["energy"] == pytest.approx(energy, abs=1e-8)
    forces = atoms.get_forces()
    np.testing.assert_allclose(lmp["forces"], forces, atol=1e-9 * np.abs(forces).max())


def test_lammps_per_atom_virial(model_file, structure, tmp_path):
    lmp = lammps_results(model_file, structure, tmp_path)
    runner = _core.ModelRunner(str(model_file))
    graph = radius_graph(structure, runner.cutoff, runner.elements)
    core = runner.compute(graph.species, graph.edge_index, graph.edge_vec)
    # compute stress/atom reports -(per-atom virial) in pressure*volume units
    node_virial = -lmp["node_stress"] / NKTV2P["metal"]
    np.testing.assert_allclose(node_virial, core["node_virial"],
                               atol=1e-6 * np.abs(core["node_virial"]).max())


def test_float32_model(model_file_f32, structure, tmp_path):
    lmp = lammps_results(model_file_f32, structure, tmp_path)
    atoms = structure.copy()
    atoms.calc = MLFFCalculator(str(model_file_f32))
    assert lmp["energy"] == pytest.approx(atoms.get_potential_energy(), rel=1e-5)
    np.testing.assert_allclose(lmp["forces"], atoms.get_forces(), atol=1e-4)


def test_units_real_same_physics(model_file, structure, tmp_path):
    metal = lammps_results(model_file, structure, tmp_path, units="metal")
    real = lammps_results(model_file, structure, tmp_path, units="real")
    assert real["energy"] == pytest.approx(metal["energy"] * EV_IN_KCAL_MOL, rel=1e-10)
    np.testing.assert_allclose(real["forces"], metal["forces"] * EV_IN_KCAL_MOL, rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(real["pressure_virial"] / NKTV2P["real"],
                               metal["pressure_virial"] / NKTV2P["metal"] * EV_IN_KCAL_MOL,
                               rtol=1e-9, atol=1e-12)




def stretched_crystal(tmp_path, more_commands: str):
    """A LAMMPS instance holding 64-atom diamond Si stretched by 2% (about -5 GPa with the
    shipped model), with the shipped model as the pair style and more_commands run."""
    lmp = import_lammps().lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    data = write_data(silicon(rattle=0.0), tmp_path / "si.data")
    lmp.commands_string(f"""
        plugin load {plugin_path()}
        units metal
        atom_style atomic
        atom_modify map array
        read_data {data}
        change_box all x scale 1.02 y scale 1.02 z scale 1.02 remap
        pair_style mlff_ttt
        pair_coeff * * {EXAMPLE_MODEL} Si
        {more_commands}
    """)
    return lmp


def test_box_relax_reaches_zero_stress(tmp_path):
    """fix box/relax minimizes with the pair style's global virial; at the relaxed box the
    Python model's stress must vanish, which checks the virial's sign and size in use."""
    lmp = stretched_crystal(tmp_path, """
        fix relax all box/relax iso 0.0 vmax 0.001
        minimize 0 1e-10 2000 20000""")
    try:
        order = np.argsort(lmp.numpy.extract_atom("id")[:64])
        positions = np.array(lmp.numpy.extract_atom("x")[:64])[order]
        boxlo, boxhi, *_ = lmp.extract_box()
        pressure = lmp.get_thermo("press")
    finally:
        lmp.close()
    relaxed = silicon(rattle=0.0)
    relaxed.set_cell(np.diag(np.array(boxhi) - np.array(boxlo)))
    relaxed.positions = positions - np.array(boxlo)
    relaxed.calc = MLFFCalculator(str(EXAMPLE_MODEL))
    stress = relaxed.get_stress()
    assert abs(relaxed.cell[0, 0] / 2 - 5.431 * 1.02) > 0.005  # the box really moved
    assert abs(pressure) < 1.0  # bar, as LAMMPS reports it
    assert np.abs(stress[:3]).max() < 1e-5  # eV/A^3 (about 16 bar), Python model


def test_npt_contracts_a_stretched_crystal(tmp_path):
    """NPT at 0 bar must shrink the stretched crystal (a wrong virial sign would expand it)
    and stay finite."""
    lmp = stretched_crystal(tmp_path, """
        velocity all create 300 1234 mom yes rot yes
        run 0""")
    try:
        volume0, pressure0 = lmp.get_thermo("vol"), lmp.get_thermo("press")
        lmp.commands_string("""
            fix npt all npt temp 300 300 0.1 iso 0.0 0.0 0.5
            run 300
        """)
        volume1, pe = lmp.get_thermo("vol"), lmp.get_thermo("pe")
    finally:
        lmp.close()
    assert pressure0 < -30000.0
    assert np.isfinite(pe)
    assert volume1 < 0.97 * volume0, (volume0, volume1)
