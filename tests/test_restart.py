"""Restart files carry the pair style: read_restart continues a run without pair_coeff lines,
and the continued run equals one uninterrupted run (the restart written inside it by the
`restart` command) bit for bit: every shipped model, 1 and 2 ranks, RR, the monitor and TTT on.

LAMMPS repeats its own steps exactly only when it builds its lists at every step and never
re-sorts (SAME_STEPS): a continued run's set-up does both."""

import numpy as np
import pytest

from helpers import (REPRODUCIBLE_ENTRIES, SAME_STEPS, TERSOFF, read_dump_forces, refinements,
                     run_lmp, shipped_models_and_ranks, shipped_system, thermo_rows)

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin

DUMP = "write_dump all custom {name} id x y z fx fy fz modify sort id format float %.17g\n"
MD = SAME_STEPS + f"""compute shift all pair mlff_ttt
thermo_style custom step pe etotal {REPRODUCIBLE_ENTRIES}
thermo_modify format float %.17g
thermo 5
fix integrate all nve
"""


def whole_deck(system, style, prior):
    return (system["setup"] + f"pair_style mlff_ttt {style}\n"
            f"pair_coeff * * {system['model']} {system['elements']}\n{prior}\n"
            f"velocity all create {system['temperature']} 777 mom yes rot yes\n" + MD +
            "restart 10 state.*.restart\nrun 20\n" + DUMP.format(name="whole.dump"))


@pytest.mark.parametrize("name, nprocs", shipped_models_and_ranks())
def test_read_restart_continues_one_run_bit_for_bit(tmp_path, name, nprocs):
    system = shipped_system(name, tmp_path, cells=2)
    style, prior = refinements(system, nprocs)
    proc = run_lmp(whole_deck(system, style, prior), tmp_path, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-2000:]
    uninterrupted = thermo_rows((tmp_path / "log.lammps").read_text())
    if prior:    # the update of step 10 was made when the restart was written
        assert (tmp_path / "mlff_ttt_adapted_step10.optimizer.pt").is_file()

    continued = "read_restart state.10.restart\n" + MD + "run 10\n" + DUMP.format(name="cont.dump")
    proc = run_lmp(continued, tmp_path, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "pair_coeff" not in continued
    rows = thermo_rows((tmp_path / "log.lammps").read_text())
    assert list(rows[:, 0]) == [10, 15, 20]
    assert np.array_equal(rows, uninterrupted[-3:], equal_nan=True)
    assert np.array_equal(read_dump_forces(tmp_path / "cont.dump"),
                          read_dump_forces(tmp_path / "whole.dump"))
    if prior:
        assert rows[-1, 8] == 5    # c_shift[6]: updates at steps 0, 5, 10, 15 and 20


def test_restart_after_ttt_names_the_adapted_model(tmp_path):
    """With TTT updates made, the restart names the adapted model (written beside it), so the
    continued run starts from the adapted parameters: its first energy equals the energy the
    uninterrupted run computes at that step."""
    system = shipped_system("si_schnet.pt", tmp_path, cells=2)
    prior = f"pair_coeff * * prior tersoff/mod {TERSOFF} Si"
    deck = whole_deck(system, "ttt every 5 steps 2 lr 1e-3 gate_std 0 monitor off", prior)
    proc = run_lmp(deck.replace("restart 10 state.*.restart\nrun 20",
                                "run 10\nwrite_restart state.restart\nrun 0"), tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    adapted = tmp_path / "mlff_ttt_adapted_step10.pt"
    assert adapted.is_file()
    at_restart = thermo_rows((tmp_path / "log.lammps").read_text())[-1]

    proc = run_lmp("read_restart state.restart\n" + MD + "run 0\n", tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert f"mlff_ttt: model {adapted}" in proc.stdout
    continued = thermo_rows((tmp_path / "log.lammps").read_text())[-1]
    assert continued[1] == at_restart[1]  # potential energy
