"""`pair_coeff * * mlff_ttt model.pt Si NULL`: atoms of a NULL type are not in the model's
graph, and another style of pair_style hybrid handles their pairs. The hybrid run must equal
the model on the other atoms alone plus the other style, in energy, per-atom energy, forces
and the `compute pair` vector (RR and the monitor count only the model's atoms)."""

import numpy as np
import pytest

from helpers import POTENTIALS, ROOT, ranks, run_lmp, thermo_rows

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin

MODEL = ROOT / "examples" / "models" / "si_schnet.pt"
ARCHITECTURES = [ROOT / "examples" / "models" / name for name in ("si_schnet.pt", "si_painn.pt")]
HEAD = """units metal
atom_style atomic
lattice diamond 5.431
region box block 0 2 0 2 0 2
create_box 2 box
create_atoms 1 box
mass * 28.0855
set type 1 type/subset 2 16 1234
displace_atoms all random 0.1 0.1 0.1 4321 units box
"""
TAIL = """compute pa all pe/atom
{compute}
thermo_style custom step pe {columns}
thermo_modify format float %.17g
run 0
write_dump all custom atoms.dump id type fx fy fz c_pa modify sort id format float %.17g
"""
MLFF_KEYWORDS = "rr every 1 monitor every 1"
LJ_COEFFS = "pair_coeff 1 2 lj/cut 0.05 2.5\npair_coeff 2 2 lj/cut 0.05 2.5\n"
VECTOR = "compute v all pair mlff_ttt", "c_v[1] c_v[2] c_v[3]"


def runs(model):
    return {
        "hybrid": (f"pair_style hybrid mlff_ttt {MLFF_KEYWORDS} lj/cut 5.0\n"
                   f"pair_coeff * * mlff_ttt {model} Si NULL\n" + LJ_COEFFS, VECTOR),
        "model_alone": (f"group other type 2\ndelete_atoms group other compress no\n"
                        f"pair_style mlff_ttt {MLFF_KEYWORDS}\npair_coeff * * {model} Si Si\n",
                        VECTOR),
        "lj_alone": ("pair_style lj/cut 5.0\npair_coeff 1 1 0.0 2.5\n" +
                     LJ_COEFFS.replace(" lj/cut", ""), ("", "")),
    }


def read_atoms(path):
    """{atom ID: (type, fx, fy, fz, pe)} of a write_dump file."""
    lines = path.read_text().splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("ITEM: ATOMS")) + 1
    rows = [[float(v) for v in line.split()] for line in lines[start:]]
    return {int(r[0]): np.array(r[1:]) for r in rows}


def run(name, folder, nprocs, model=MODEL):
    coeffs, (compute, columns) = runs(model)[name]
    folder.mkdir()
    proc = run_lmp(HEAD + coeffs + TAIL.format(compute=compute, columns=columns), folder,
                   nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-2000:]
    return thermo_rows((folder / "log.lammps").read_text())[-1, 1:], \
        read_atoms(folder / "atoms.dump")


@pytest.mark.parametrize("nprocs", ranks(1, 2))
@pytest.mark.parametrize("model_path", ARCHITECTURES, ids=lambda p: p.stem)
def test_hybrid_with_null_types_is_the_model_on_its_atoms_plus_the_other_style(tmp_path, nprocs,
                                                                              model_path):
    hybrid, model, lj = (run(name, tmp_path / name, nprocs, model_path)
                         for name in ("hybrid", "model_alone", "lj_alone"))
    assert len(hybrid[1]) == 64 and len(model[1]) == 48
    # energy, then the vector: RR radius, spectral distance, force z-score
    np.testing.assert_allclose(hybrid[0][0], model[0][0] + lj[0][0], rtol=1e-12)
    np.testing.assert_allclose(hybrid[0][1:], model[0][1:], rtol=1e-9, atol=1e-12)
    for atom_id, (atom_type, *values) in hybrid[1].items():
        expected = np.array(lj[1][atom_id][1:])
        if atom_type == 1:
            expected += model[1][atom_id][1:]
        np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-10)


def test_null_types_without_another_style_is_an_error(tmp_path):
    deck = HEAD + f"pair_style mlff_ttt\npair_coeff * * {MODEL} Si NULL\nrun 0\n"
    proc = run_lmp(deck, tmp_path)
    assert proc.returncode != 0
    # LAMMPS's own check, as for any manybody style with NULL types (pair_sw and others)
    assert "ERROR: All pair coeffs are not set" in proc.stdout
    assert "1      2: is not set" in proc.stdout


def test_every_type_null_is_an_error(tmp_path):
    deck = HEAD + f"pair_style mlff_ttt\npair_coeff * * {MODEL} NULL NULL\n"
    proc = run_lmp(deck, tmp_path)
    assert proc.returncode != 0
    assert "every atom type is NULL" in proc.stdout


@pytest.mark.mpi
def test_ttt_with_null_types_adapts_on_the_model_atoms_only(tmp_path):
    """TTT in the hybrid run (its prior a LAMMPS style with the same NULL type) makes the same
    updates as TTT on the model's atoms alone: same prior losses, same adapted energy."""
    ttt = "ttt every 1 steps 2 lr 1e-3 gate_std 0"
    prior = f"prior tersoff/mod {POTENTIALS / 'Si.tersoff.mod'} Si"
    runs = {
        "hybrid": (f"pair_style hybrid mlff_ttt {ttt} lj/cut 5.0\n"
                   f"pair_coeff * * mlff_ttt {MODEL} Si NULL\n"
                   f"pair_coeff * * mlff_ttt {prior} NULL\n" + LJ_COEFFS),
        "model_alone": (f"group other type 2\ndelete_atoms group other compress no\n"
                        f"pair_style mlff_ttt {ttt}\npair_coeff * * {MODEL} Si Si\n"
                        f"pair_coeff * * {prior} Si\n"),
    }
    rows = {}
    for name, coeffs in runs.items():
        (tmp_path / name).mkdir()
        deck = HEAD + coeffs + ("compute v all pair mlff_ttt\n"
                                "thermo_style custom step pe c_v[6] c_v[7] c_v[8]\n"
                                "thermo_modify format float %.17g\nrun 1\n")
        proc = run_lmp(deck, tmp_path / name, nprocs=2)
        assert proc.returncode == 0, proc.stdout[-2000:]
        rows[name] = thermo_rows((tmp_path / name / "log.lammps").read_text())[-1]
    lj_energy = run("lj_alone", tmp_path / "lj_alone", 2)[0][0]
    assert rows["hybrid"][2] == 2    # the updates of steps 0 and 1
    np.testing.assert_allclose(rows["hybrid"][3:], rows["model_alone"][3:], rtol=1e-9)
    np.testing.assert_allclose(rows["hybrid"][1], rows["model_alone"][1] + lj_energy, rtol=1e-12)
