"""What the refinements change in the energy is accounted for: every TTT update and every RR
change of radius makes the potential energy jump at the step it is made, and the `compute
pair` entries (9) and (12) hold that jump, (10) TTT's running sum and (13) the sum of both, so
E_total minus (13) is what NVE conserves. The `ttt ... log FILE` rows repeat entries 6-11."""

import numpy as np
import pytest

from helpers import (COMPUTE_PAIR_ENTRIES, ROOT, SAME_STEPS, run_lmp, shipped_system,
                     thermo_rows, write_data)
from mlff_ttt.data import read_frames

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin

DECK = """{setup}pair_style mlff_ttt {style}
pair_coeff * * {model} Si
{prior}
velocity all create {temperature} 5 mom yes rot yes
compute shift all pair mlff_ttt
thermo_style custom step pe etotal {entries}
thermo_modify format float %.17g
thermo 1
timestep 0.0005
fix integrate all nve
run 30
"""


def nve(tmp_path, style, setup=None, temperature=900):
    system = shipped_system("si_schnet.pt", tmp_path, cells=2)
    deck = DECK.format(setup=(setup or system["setup"]) + SAME_STEPS, style=style,
                       model=system["model"], prior=system["prior"] if "ttt" in style else "",
                       entries=COMPUTE_PAIR_ENTRIES,
                       temperature=temperature)
    proc = run_lmp(deck, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    rows = thermo_rows((tmp_path / "log.lammps").read_text())
    # columns: step pe etotal, then entries 1..13 at columns 3..15
    return {"step": rows[:, 0], "pe": rows[:, 1], "etotal": rows[:, 2],
            **{k: rows[:, 2 + k] for k in range(1, 14)}}


def integration_noise(etotal, jumps):
    """The largest step-to-step change of E_total at the steps without a refinement."""
    steps = np.diff(etotal)
    return np.abs(steps[~jumps[1:]]).max()


def check_jumps(etotal, changes, at):
    """E_total jumps by the recorded change at each step `at` (after the first step). Not
    exactly: the step's kinetic energy holds a half kick of the changed forces, a part of the
    integration error that grows with the change (measured: 0.5% of a 3 eV RR change)."""
    noise = integration_noise(etotal, at)
    jumps = np.diff(etotal)[at[1:]]
    expected = changes[1:][at[1:]]
    assert noise < 0.05 * np.abs(expected).min()
    np.testing.assert_allclose(jumps, expected, rtol=0.02, atol=2 * noise)
    # E_total minus the summed changes moves by less than one change
    conserved = etotal - np.cumsum(changes)
    assert np.ptp(conserved) < 0.1 * np.abs(expected).min()


def test_ttt_energy_changes_and_log(tmp_path):
    r = nve(tmp_path, "ttt every 5 steps 2 lr 1e-3 gate_std 0 log ttt.log monitor off")
    updates = r["step"] % 5 == 0
    change = np.diff(r[13], prepend=0.0)
    assert np.all(change[~updates] == 0.0) and np.all(change[updates] != 0.0)
    # (9) holds the change of the last update, (10) their running sum, (13) the same without RR
    np.testing.assert_array_equal(r[9][updates], change[updates])
    np.testing.assert_allclose(r[10], np.cumsum(change), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(r[13], r[10])
    assert np.all(r[12] == 0.0)
    # the jump in E_total at an update step is the update's change; without it E_total moves by
    # the integration error only, far less than the changes
    check_jumps(r["etotal"], change, updates)
    assert r[6][-1] == 7    # updates at 0, 5, ..., 30
    assert np.all(np.diff(r[11]) >= 0) and r[11][-1] > 0    # TTT seconds, accumulated

    # the log: one row per update, entries 6-11 of the same step
    log = np.loadtxt(tmp_path / "ttt.log", comments="#")
    header = (tmp_path / "ttt.log").read_text().splitlines()[0]
    assert header.split()[1:] == ["step", "loss_before", "loss_after", "rolled_back",
                                  "energy_change", "energy_change_sum", "seconds", "skipped"]
    np.testing.assert_array_equal(log[:, 0], r["step"][updates])
    np.testing.assert_array_equal(log[:, 1], r[7][updates])
    np.testing.assert_array_equal(log[:, 2], r[8][updates])
    assert np.all(log[:, 3] == 0)
    np.testing.assert_array_equal(log[:, 4], r[9][updates])
    np.testing.assert_array_equal(log[:, 5], r[10][updates])
    np.testing.assert_allclose(log[:, 6], r[11][updates], rtol=1e-5)
    assert np.all(log[:, 7] == 0)    # gate_std 0: none skipped


def test_rr_energy_changes(tmp_path):
    """RR every step on a hot silicon slab (si_ood_surface frame 4) with a grid of two radii
    whose spectral distances nearly tie (4.111 at 4.05 A, 4.121 at 4.275 A), so that the radius
    moves between them: each change of radius is a jump of the potential energy that entry (12)
    holds and (13) sums."""
    write_data(read_frames(ROOT / "examples" / "data" / "si_ood_surface.xyz")[4],
               tmp_path / "slab.data")
    r = nve(tmp_path, "rr every 1 rr_grid 4.05 4.275 monitor off", temperature=1800,
            setup="units metal\natom_style atomic\nread_data slab.data\n")
    changed = np.diff(r[1], prepend=r[1][0]) != 0.0
    assert changed.sum() >= 2, r[1]    # the radius moved; else this test shows nothing
    change = np.diff(r[13], prepend=0.0)
    assert np.all(change[~changed] == 0.0) and np.all(change[changed] != 0.0)
    np.testing.assert_array_equal(r[12][changed], change[changed])
    assert np.all(r[10] == 0.0)
    check_jumps(r["etotal"], change, changed)
