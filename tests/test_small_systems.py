"""Systems at the edges: no atoms at all (before any are created, or after all are deleted)
with RR, the monitor and TTT on; the perfect crystal the models were trained around; a prior
line without `ttt`."""

import numpy as np
import pytest

from helpers import (COMPUTE_PAIR_ENTRIES, EXAMPLE_MODEL, SHIPPED_SILICON, TERSOFF, ranks,
                     run_lmp, silicon_box, thermo_blocks)

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin

MODEL = EXAMPLE_MODEL
STYLE = "rr every 1 monitor every 1 ttt every 1 steps 1 lr 1e-3 gate_std 0"
PAIR = f"""pair_style mlff_ttt {{style}}
pair_coeff * * {{model}} Si
{{prior}}
compute shift all pair mlff_ttt
thermo_style custom step atoms pe {COMPUTE_PAIR_ENTRIES}
thermo 1
"""
EMPTY_BOX = ("units metal\natom_style atomic\nregion box block 0 10.86 0 10.86 0 10.86\n"
             "create_box 1 box\nmass 1 28.0855\n")


@pytest.mark.parametrize("nprocs", ranks(1, 2))
def test_empty_systems_run(tmp_path, nprocs):
    """No atoms: energy 0, every compute pair entry 0 but the radius (the trained cutoff), no
    update made; then atoms are created, MD runs, and all are deleted again."""
    prior = f"pair_coeff * * prior tersoff/mod {TERSOFF} Si"
    deck = (EMPTY_BOX + PAIR.format(style=STYLE, model=MODEL, prior=prior) + "run 2\n"
            "lattice diamond 5.431\ncreate_atoms 1 box\n"
            # rattled: on the perfect crystal the prior loss is ~1e-5 and a first Adam step of
            # lr 1e-3 raises it 10^4-fold, so every update would be rolled back
            "displace_atoms all random 0.1 0.1 0.1 7 units box\nvelocity all create 300 5\n"
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


@pytest.mark.parametrize("nprocs", ranks(1, 2))
@pytest.mark.parametrize("model", SHIPPED_SILICON)
def test_perfect_crystal_is_in_distribution(tmp_path, model, nprocs):
    """The perfect diamond crystal, the zero-temperature limit of the training crystals, and
    the first steps of its MD at 300 K: no force shift (forces smaller than the training ones
    are none: a z-score below 0), no connectivity shift (its third neighbour shell at 4.503 A
    sits just past the 4.5 A cutoff, which the envelope-weighted statistics see as the
    training crystals' own), and RR keeps the trained cutoff throughout."""
    style = "rr every 1 monitor every 1"
    deck = (silicon_box(3) + PAIR.format(style=style, model=MODEL.parent / model, prior="") +
            "run 0\nvelocity all create 300 5\nfix nve all nve\nrun 10\n")
    proc = run_lmp(deck, tmp_path, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-3000:]
    start, md = thermo_blocks((tmp_path / "log.lammps").read_text())
    assert start[0, 5] < -1.0                                 # c_shift[3]: force norm z
    rows = np.vstack([start, md])
    assert np.all(rows[:, 3] == 4.5)                          # c_shift[1]: the radius in use
    assert np.all(rows[:, 6] == 0.0) and np.all(rows[:, 7] == 0.0)  # connectivity, force shift
    assert "shift at step" not in proc.stdout


def test_prior_without_ttt_warns_once(tmp_path):
    prior = f"pair_coeff * * prior tersoff/mod {TERSOFF} Si"
    deck = (silicon_box(1) + PAIR.format(style="monitor off", model=MODEL, prior=prior) +
            "run 0\nrun 0\n")
    proc = run_lmp(deck, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    warning = ("WARNING: pair_coeff * * prior tersoff/mod: pair_style mlff_ttt has no ttt "
               "keyword, so the prior is not used")
    assert proc.stdout.count(warning) == 1, proc.stdout[-3000:]
