"""pair_style hybrid/overlay mlff_ttt zbl ...: energy, pressure and forces equal the sum of the
two styles run alone."""

import numpy as np
import pytest

from helpers import ROOT, ranks, read_dump_forces, run_lmp, silicon_box, thermo_rows

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin

ARCHITECTURES = [ROOT / "examples" / "models" / name for name in ("si_schnet.pt", "si_painn.pt")]
DECK = silicon_box(2) + """
displace_atoms all random 0.3 0.3 0.3 4321
pair_style {style}
{coeff}
thermo_style custom step pe press pxx pyy pzz pxy pxz pyz
thermo_modify format float %.17g
run 0
write_dump all custom forces.dump id fx fy fz modify sort id format float %.17g
"""
def styles(model):
    return {
        "mlff": ("mlff_ttt", f"pair_coeff * * {model} Si"),
        "zbl": ("zbl 1.0 2.0", "pair_coeff * * 14 14"),
        "overlay": ("hybrid/overlay mlff_ttt zbl 1.0 2.0",
                    f"pair_coeff * * mlff_ttt {model} Si\npair_coeff * * zbl 14 14"),
    }


@pytest.mark.parametrize("nprocs", ranks(1, 2))
@pytest.mark.parametrize("model", ARCHITECTURES, ids=lambda p: p.stem)
def test_hybrid_overlay_is_the_sum_of_its_parts(tmp_path, nprocs, model):
    results = {}
    for name, (style, coeff) in styles(model).items():
        folder = tmp_path / name
        folder.mkdir()
        proc = run_lmp(DECK.format(style=style, coeff=coeff), folder, nprocs=nprocs)
        assert proc.returncode == 0, proc.stdout[-2000:]
        results[name] = (thermo_rows((folder / "log.lammps").read_text())[-1, 1:],
                         read_dump_forces(folder / "forces.dump"))
    np.testing.assert_allclose(results["overlay"][0], results["mlff"][0] + results["zbl"][0],
                               rtol=1e-10)
    np.testing.assert_allclose(results["overlay"][1], results["mlff"][1] + results["zbl"][1],
                               rtol=1e-10, atol=1e-9)


@pytest.mark.mpi
@pytest.mark.parametrize("model", ARCHITECTURES, ids=lambda p: p.stem)
def test_nve_conserves_momentum(tmp_path, model):
    """Forces sum to zero at every step (pairwise edge gradients), so the centre of mass does
    not drift in NVE: 200 steps of a hot, disordered 64-atom cell on 2 ranks."""
    deck = DECK.format(style="mlff_ttt", coeff=f"pair_coeff * * {model} Si").replace(
        "thermo_style custom step pe press pxx pyy pzz pxy pxz pyz",
        "velocity all create 1500 99 mom yes rot no\nfix 1 all nve\ntimestep 0.001\n"
        "variable px equal vcm(all,x)\nvariable py equal vcm(all,y)\n"
        "variable pz equal vcm(all,z)\nvariable fx equal fcm(all,x)\n"
        "thermo_style custom step v_px v_py v_pz v_fx\nthermo 20").replace(
        "run 0", "run 200").replace("random 0.3 0.3 0.3 4321",
                                   "random 0.1 0.1 0.1 4321 units box")
    proc = run_lmp(deck, tmp_path, nprocs=2)
    assert proc.returncode == 0, proc.stdout[-2000:]
    rows = thermo_rows((tmp_path / "log.lammps").read_text())
    assert len(rows) == 11
    assert np.abs(rows[:, 1:4]).max() < 1e-10   # A/ps
    assert np.abs(rows[:, 4]).max() < 1e-8      # eV/A, summed over 64 atoms


def test_ttt_inside_hybrid_names_its_adapted_model_at_a_restart(tmp_path):
    """Inside pair hybrid a restart file keeps only the sub-styles' settings: write_restart
    writes the adapted model beside it and a WARNING names it, and a read_restart that gives the
    pair_coeff lines again with that file has the adapted model's energy (not the original's)."""
    from helpers import EXAMPLE_MODEL, TERSOFF, printed_value
    lines = ("pair_coeff * * mlff_ttt {model} Si\npair_coeff * * mlff_ttt prior_style tersoff/mod\n"
             f"pair_coeff * * mlff_ttt prior {TERSOFF} Si\npair_coeff * * zbl 14 14")
    energy = 'run 0\nprint "energy $(pe:%.17g)"'
    first = run_lmp(silicon_box(2) + "displace_atoms all random 0.1 0.1 0.1 4321\n"
                    "pair_style hybrid/overlay mlff_ttt ttt every 1 steps 1 lr 1e-4 gate_std 0 monitor off "
                    f"zbl 1.0 2.0\n{lines.format(model=EXAMPLE_MODEL)}\nrun 0\nreset_timestep 1\n"
                    f"{energy}\nwrite_restart state.restart\n", tmp_path)
    assert first.returncode == 0, first.stdout[-2000:]
    assert "rolled back" not in first.stdout
    adapted = tmp_path / "mlff_ttt_adapted_step1.pt"
    assert (f"WARNING: pair_style mlff_ttt inside pair hybrid/overlay: its restart files keep no "
            f"pair_coeff lines, so after read_restart give them again, with the adapted model of "
            f"step 1, {adapted}") in first.stdout
    for model, same in ((adapted, True), (EXAMPLE_MODEL, False)):
        # the same style without ttt, so that step 1 is not adapted again
        again = run_lmp("read_restart state.restart\n"
                        "pair_style hybrid/overlay mlff_ttt monitor off zbl 1.0 2.0\n"
                        f"{lines.format(model=model)}\n{energy}\n", tmp_path)
        assert again.returncode == 0, again.stdout[-2000:]
        equal = printed_value(again.stdout, "energy") == printed_value(first.stdout, "energy")
        assert equal == same
