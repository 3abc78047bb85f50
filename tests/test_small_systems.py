"""Systems at the edges: no atoms at all (before any are created, or after all are deleted)
with RR, the monitor and TTT on; the perfect crystal the models were trained around; a prior
line without `ttt`."""

import numpy as np
import pytest

from conftest import COMPUTE_PAIR_ENTRIES, TERSOFF, run_lmp, silicon_box, thermo_blocks

MODEL = __import__("conftest").ROOT / "examples" / "models" / "si_schnet.pt"
STYLE = "rr every 1 monitor every 1 ttt every 1 steps 1 lr 1e-3"
PAIR = f"""pair_style mlff_ttt {{style}}
pair_coeff * * {MODEL} Si
{{prior}}
compute shift all pair mlff_ttt
thermo_style custom step atoms pe {COMPUTE_PAIR_ENTRIES}
thermo 1
"""
EMPTY_BOX = ("units metal\natom_style atomic\nregion box block 0 10.86 0 10.86 0 10.86\n"
             "create_box 1 box\nmass 1 28.0855\n")


@pytest.mark.parametrize("nprocs", [1, 2])
def test_empty_systems_run(tmp_path, nprocs):
    """No atoms: energy 0, every compute pair entry 0 but the radius (the trained cutoff), no
    update made; then atoms are created, MD runs, and all are deleted again."""
    prior = f"pair_coeff * * prior tersoff/mod {TERSOFF} Si"
    deck = (EMPTY_BOX + PAIR.format(style=STYLE, prior=prior) + "run 2\n"
            "lattice diamond 5.431\ncreate_atoms 1 box\nvelocity all create 300 5\n"
            "fix nve all nve\nrun 2\ndelete_atoms group all\nrun 2\n")
    proc = run_lmp(deck, tmp_path, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-3000:]
    before, md, after = thermo_blocks((tmp_path / "log.lammps").read_text())
    assert np.all(before[:, 1] == 0) and np.all(after[:, 1] == 0)    # atoms
    for empty in (before, after):
        assert np.all(empty[:, 2] == 0.0)                              # pe
        assert np.all(empty[:, 3] == 4.5)                              # the radius in use
        assert np.all(empty[:, 4:8] == 0.0)                            # monitor entries
    assert np.all(before[:, 8:] == 0.0)                                # no update
    assert np.all(md[:, 1] == 64) and np.all(md[:, 2] < -300)
    assert md[-1, 8] == 3                                              # updates at 2, 3, 4
    np.testing.assert_array_equal(after[:, 8], md[-1, 8])              # none while empty


def test_perfect_crystal_is_no_force_shift(tmp_path):
    """The perfect diamond crystal has smaller forces (zero) than the rattled training frames:
    a z-score far below 0, which is no shift (only larger forces are the paper's label shift)."""
    deck = silicon_box(2) + PAIR.format(style="monitor every 1", prior="") + "run 0\n"
    proc = run_lmp(deck, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    row = thermo_blocks((tmp_path / "log.lammps").read_text())[-1][-1]
    assert row[5] < -1.0 and row[7] == 0.0    # c_shift[3] (z) and c_shift[5] (force shift)
    assert "force shift" not in proc.stdout


def test_prior_without_ttt_warns_once(tmp_path):
    prior = f"pair_coeff * * prior tersoff/mod {TERSOFF} Si"
    deck = silicon_box(1) + PAIR.format(style="monitor off", prior=prior) + "run 0\nrun 0\n"
    proc = run_lmp(deck, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    warning = ("WARNING: pair_coeff * * prior tersoff/mod: pair_style mlff_ttt has no ttt "
               "keyword, so the prior is not used")
    assert proc.stdout.count(warning) == 1, proc.stdout[-3000:]
