"""The same atoms give the same energy and forces whichever way LAMMPS reached them: a rigid
translation, a shift by a lattice vector, a random displacement against reading the moved
positions fresh, sorting mid-run, `rerun` of the run's own dump and `read_dump`. For every
shipped model on 1 and 2 ranks, with RR and the monitor evaluated at every step."""

import numpy as np
import pytest

from helpers import (SHIPPED_SILICON, printed_value, read_dump_forces, run_lmp,
                     shipped_models_and_ranks, shipped_system, thermo_blocks)

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin

STYLE = "rr every 1 monitor every 1 min_distance 0.3"
DUMP = "write_dump all custom {name} id fx fy fz modify sort id format float %.17g\n"
THERMO = """compute shift all pair mlff_ttt
thermo_style custom step pe c_shift[1] c_shift[2] c_shift[3]
thermo_modify format float %.17g
"""


def energy_and_forces(stage: str) -> str:
    return f'run 0\nprint "{stage} $(pe:%.17g)"\n' + DUMP.format(name=f"{stage}.dump")


def deck(system: dict, nprocs_note: str = "") -> str:
    """Each state as LAMMPS reaches it in one session; `clear` between the parts."""
    pair = (f"pair_style mlff_ttt {STYLE}\npair_coeff * * {system['model']} "
            f"{system['elements']}\n" + THERMO)
    periodic = system["model"].name in SHIPPED_SILICON
    lines = system["setup"] + pair + energy_and_forces("start")
    lines += "displace_atoms all move 0.37 -1.21 0.83 units box\n" + energy_and_forces("moved")
    if periodic:    # half the atoms by a lattice vector of the box
        lines += ("group half id <= $(count(all)/2)\n"
                  "displace_atoms half move $(lx) $(-ly) 0.0 units box\n" +
                  energy_and_forces("imaged"))
    lines += ("displace_atoms all random 0.1 0.1 0.1 9876 units box\n" +
              energy_and_forces("random") + "write_data random.data\nclear\n")
    # the randomly displaced positions read fresh
    lines += (system["setup"].split("read_data")[0].split("lattice")[0] +
              "read_data random.data\n" + pair + energy_and_forces("fresh") + "clear\n")
    # MD without sorting, its dump at full precision; the same MD sorted every 2 steps
    md = (f"velocity all create {system['temperature']} 5 mom yes rot yes\nfix nve all nve\n"
          "neigh_modify every 1 delay 0 check no\nthermo 2\n")
    dump = ("dump traj all custom 2 md.dump id type x y z\n"
            "dump_modify traj sort id format float %.17g\n")
    lines += (system["setup"] + pair + md + "atom_modify sort 0 0.0\n" + dump + "run 10\n" +
              DUMP.format(name="unsorted.dump") + "clear\n")
    lines += (system["setup"] + pair + md + "atom_modify sort 2 1.0\nrun 10\n" +
              DUMP.format(name="sorted.dump") + "clear\n")
    # rerun of the dump, then read_dump of its last frame
    lines += (system["setup"] + pair + "thermo 2\nrerun md.dump dump x y z box yes\n" +
              "read_dump md.dump 10 x y z box yes\n" + energy_and_forces("read_dump"))
    return lines


@pytest.mark.parametrize("name, nprocs", shipped_models_and_ranks())
def test_same_atoms_same_energy(tmp_path, name, nprocs):
    system = shipped_system(name, tmp_path)
    proc = run_lmp(deck(system), tmp_path, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-3000:]
    float32 = "f32" in name
    energy_tolerance, force_tolerance = (1e-7, 1e-5) if float32 else (1e-10, 1e-10)
    entry_tolerance = 1e-6 if float32 else 1e-12    # z-scores and distances near 0 and 1

    def same(stage, reference, what):
        np.testing.assert_allclose(printed_value(proc.stdout, stage),
                                   printed_value(proc.stdout, reference),
                                   rtol=energy_tolerance, atol=0, err_msg=what)
        np.testing.assert_allclose(read_dump_forces(tmp_path / f"{stage}.dump"),
                                   read_dump_forces(tmp_path / f"{reference}.dump"),
                                   rtol=0, atol=force_tolerance, err_msg=what)

    same("moved", "start", "rigid translation")
    if name in SHIPPED_SILICON:
        same("imaged", "start", "half the atoms shifted by a lattice vector")
    same("fresh", "random", "displace_atoms random against read_data of its positions")

    # the log's last runs: the unsorted MD, the sorted MD, the rerun, read_dump's run 0
    unsorted, sorted_md, rerun = thermo_blocks((tmp_path / "log.lammps").read_text())[-4:-1]
    assert len(unsorted) == len(sorted_md) == 6
    # sorting changes the order of sums, nothing else
    np.testing.assert_allclose(sorted_md, unsorted, rtol=energy_tolerance,
                               atol=entry_tolerance)
    np.testing.assert_allclose(read_dump_forces(tmp_path / "sorted.dump"),
                               read_dump_forces(tmp_path / "unsorted.dump"), rtol=0,
                               atol=force_tolerance)
    # rerun reproduces the MD's energies and the compute pair entries at every dumped step
    assert np.array_equal(rerun[:, 0], unsorted[:, 0])
    np.testing.assert_allclose(rerun[:, 1:], unsorted[:, 1:], rtol=energy_tolerance,
                               atol=entry_tolerance)
    np.testing.assert_allclose(printed_value(proc.stdout, "read_dump"), unsorted[-1, 1],
                               rtol=energy_tolerance)
    np.testing.assert_allclose(read_dump_forces(tmp_path / "read_dump.dump"),
                               read_dump_forces(tmp_path / "unsorted.dump"), rtol=0,
                               atol=force_tolerance)
