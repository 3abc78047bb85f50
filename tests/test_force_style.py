"""Force-style checks in the manner of LAMMPS's unittest/force-styles: for each shipped model
and fixed configuration, `lmp` (newton on) reproduces the stored energy, per-atom energies,
forces, pressure tensor and per-atom virial after `run 0`, after `rerun`, and after
`write_restart` / `read_restart` (no pair_coeff). The references are tests/reference/*.yaml,
written by tests/support/force_style.py."""


import numpy as np
import pytest
import yaml

from helpers import ROOT, run_lmp
from force_style import DECK, REFERENCE, deck, results, write_data

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin

CASES = [(path.stem, name) for path in sorted(REFERENCE.glob("*.yaml"))
         for name in yaml.safe_load(path.read_text())["configurations"]]
RESTART_HEAD = DECK.split("pair_style")[0].replace("read_data {data}", "read_restart {data}")


def check(out: dict, ref: dict, float32: bool) -> None:
    rtol, atol = (1e-5, 1e-4) if float32 else (1e-9, 1e-9)
    assert out["energy"] == pytest.approx(ref["energy"], rel=rtol, abs=atol)
    np.testing.assert_allclose(out["atom_energy"], ref["atom_energy"], rtol=rtol, atol=atol)
    np.testing.assert_allclose(out["forces"], ref["forces"], rtol=rtol, atol=atol)
    # virials (bar, bar A^3) are sums of cancelling terms: judged against their own scale
    for key in ("pressure", "atom_virial"):
        scale = np.abs(ref[key]).max()
        np.testing.assert_allclose(out[key], ref[key], rtol=0, atol=max(rtol * scale, atol))


@pytest.mark.parametrize("model,configuration", CASES)
def test_run0_rerun_and_restart_reproduce_the_reference(tmp_path, model, configuration):
    ref = yaml.safe_load((REFERENCE / f"{model}.yaml").read_text())["configurations"][
        configuration]
    model_file = ROOT / "examples" / "models" / f"{model}.pt"
    float32 = model.endswith("f32")
    write_data(ref, tmp_path / "data.lmp")

    # run 0, writing a restart file
    proc = run_lmp(deck(ref, model_file, tmp_path / "data.lmp", tmp_path / "run0.dump",
                        run="run 0\nwrite_restart state.restart"), tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    check(results((tmp_path / "log.lammps").read_text(), tmp_path / "run0.dump"), ref, float32)

    # rerun of the dumped configuration
    proc = run_lmp(deck(ref, model_file, tmp_path / "data.lmp", tmp_path / "rerun.dump",
                        run=f"rerun {tmp_path / 'run0.dump'} dump x y z"), tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    check(results((tmp_path / "log.lammps").read_text(), tmp_path / "rerun.dump"), ref, float32)

    # read_restart: the pair style comes back from the file, no pair_coeff line
    body = DECK.split("pair_coeff * * {model} {elements}\n")[1].format(
        dump=tmp_path / "restart.dump", run="run 0")
    restart_deck = "units metal\natom_style atomic\natom_modify map array\nnewton on\n" \
                   "read_restart state.restart\n" + body
    assert "pair_coeff" not in restart_deck
    proc = run_lmp(restart_deck, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    check(results((tmp_path / "log.lammps").read_text(), tmp_path / "restart.dump"), ref,
          float32)
