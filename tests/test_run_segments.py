"""The same atoms give the same energy however LAMMPS got there: a run split into segments
equals one run, for every shipped model on 1 and 2 ranks, with RR, the monitor and TTT on.

A run's set-up rebuilds the neighbor lists, re-sorts and renumbers the atoms; anything the
pair style keeps from one force call to the next must survive that (a cached ghost-to-owner
map keyed on LAMMPS's neighbor-build counter, which restarts at every set-up, did not)."""

import numpy as np
import pytest

from helpers import (REPRODUCIBLE_ENTRIES, SAME_STEPS, read_dump_forces, refinements,
                     run_lmp, shipped_models_and_ranks, shipped_system, thermo_rows)

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin

DUMP = "write_dump all custom {name} id fx fy fz modify sort id format float %.17g\n"
MD = f"""
velocity all create {{temperature}} 5 mom yes rot yes
compute shift all pair mlff_ttt
thermo_style custom step pe etotal {REPRODUCIBLE_ENTRIES}
thermo_modify format float %.17g
thermo 5
fix integrate all nve
"""


def md_deck(system: dict, style: str, prior: str, segments: list, neighboring: str = "") -> str:
    runs = "".join(f"run {n}\n" for n in segments)
    return (system["setup"] + neighboring + f"pair_style mlff_ttt {style}\n"
            f"pair_coeff * * {system['model']} {system['elements']}\n{prior}\n" +
            MD.format(temperature=system["temperature"]) + runs + DUMP.format(name="f.dump"))


def rows_by_step(rows: np.ndarray) -> dict:
    """Thermo rows keyed by step: each step's rows, two where a segment ends and the next one's
    set-up repeats that step."""
    by_step = {}
    for row in rows:
        by_step.setdefault(int(row[0]), []).append(row)
    return by_step


def run_both(tmp_path, system, style, prior, nprocs, segments, neighboring):
    results = []
    for name, parts in (("whole", [sum(segments)]), ("split", segments)):
        folder = tmp_path / name
        folder.mkdir()
        system = shipped_system(system["model"].name, folder)
        proc = run_lmp(md_deck(system, style, prior, parts, neighboring), folder, nprocs=nprocs)
        assert proc.returncode == 0, proc.stdout[-3000:]
        results.append((rows_by_step(thermo_rows((folder / "log.lammps").read_text())),
                        read_dump_forces(folder / "f.dump")))
    return results


@pytest.mark.parametrize("name, nprocs", shipped_models_and_ranks())
def test_two_runs_equal_one_bit_for_bit(tmp_path, name, nprocs):
    """`run 10` + `run 10` equals `run 20` bit for bit (thermo, every compute pair entry, final
    forces) with RR, the monitor and TTT on, where LAMMPS repeats its own steps exactly."""
    system = shipped_system(name, tmp_path)
    style, prior = refinements(system, nprocs)
    (whole, whole_forces), (split, split_forces) = run_both(
        tmp_path, system, style, prior, nprocs, [10, 10], SAME_STEPS)
    assert sorted(whole) == sorted(split) == [0, 5, 10, 15, 20]
    assert len(split[10]) == 2    # the end of the first run and the set-up of the second
    for step, rows in split.items():
        for row in rows:
            assert np.array_equal(row, whole[step][0], equal_nan=True), (step, row, whole[step][0])
    assert np.array_equal(whole_forces, split_forces)
    if prior:
        assert whole[20][0][8] == 5    # c_shift[6]: updates at 0, 5, 10, 15 and 20


@pytest.mark.parametrize("name, nprocs", shipped_models_and_ranks())
def test_four_runs_equal_one_with_default_neighboring(tmp_path, name, nprocs):
    """4 x `run 10` against `run 40` with LAMMPS's default neighbor and sort settings, the
    monitor on by default: equal to the rounding of LAMMPS's own re-sorting (1e-10 relative in
    energy, 1e-10 eV/A; float32 models at their own rounding, 1e-7 and 1e-5 eV/A: the stale
    ghost map this guards against was off by 2e-5 and 1.3 eV/A)."""
    energy_tolerance, force_tolerance = (1e-7, 1e-5) if "f32" in name else (1e-10, 1e-10)
    system = shipped_system(name, tmp_path)
    (whole, whole_forces), (split, split_forces) = run_both(
        tmp_path, system, "", "", nprocs, [10, 10, 10, 10], "")
    assert sorted(whole) == sorted(split)
    for step, rows in split.items():
        for row in rows:    # pe, etotal
            np.testing.assert_allclose(row[1:3], whole[step][0][1:3], rtol=energy_tolerance,
                                       atol=0)
    np.testing.assert_allclose(split_forces, whole_forces, rtol=0, atol=force_tolerance)
