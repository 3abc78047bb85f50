"""Domain decomposition: 1, 2 and 4 MPI ranks give the same energies and forces.

The 10.9 A box split over 2 or 4 ranks gives subdomains 5.4 A wide, far less than twice the
model's 8 A receptive field, so ghost atoms several layers deep carry the result."""

import re

import numpy as np
import pytest

from helpers import EXAMPLE_MODEL, printed_value, read_dump_forces, run_lmp, silicon, write_data

# every test here runs lmp on 2 or 4 ranks (and once on 1, to compare)
pytestmark = [pytest.mark.lammps, pytest.mark.mpi]

DECK = """
units metal
atom_style atomic
atom_modify map array
read_data si.data
pair_style mlff_ttt
pair_coeff * * {model} Si
run 0
print "ENERGY0 $(pe:%.17g)"
write_dump all custom forces0.dump id fx fy fz modify sort id format float %.17g
velocity all create 800 4928459 mom yes rot yes dist gaussian
fix nve all nve
run 20
print "ENERGY20 $(pe:%.17g)"
write_dump all custom forces20.dump id fx fy fz modify sort id format float %.17g
"""


def run_ranks(model_file, workdir, nprocs):
    workdir.mkdir()
    write_data(silicon(), workdir / "si.data")
    proc = run_lmp(DECK.format(model=model_file), workdir, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"with {nprocs} MPI tasks" in proc.stdout
    grid = re.search(r"(\d+) by (\d+) by (\d+) MPI processor grid", proc.stdout)
    assert np.prod([int(g) for g in grid.groups()]) == nprocs
    return {
        "energy0": printed_value(proc.stdout, "ENERGY0"),
        "energy20": printed_value(proc.stdout, "ENERGY20"),
        "forces0": read_dump_forces(workdir / "forces0.dump"),
        "forces20": read_dump_forces(workdir / "forces20.dump"),
        "stdout": proc.stdout,
    }


def assert_same(parallel, serial):
    for key in ("energy0", "energy20"):
        assert parallel[key] == pytest.approx(serial[key], rel=1e-8)
    for key in ("forces0", "forces20"):
        scale = np.abs(serial[key]).max()
        np.testing.assert_allclose(parallel[key], serial[key], atol=1e-8 * scale, rtol=0)


@pytest.fixture(scope="module")
def serial(model_file, tmp_path_factory):
    return run_ranks(model_file, tmp_path_factory.mktemp("np1") / "run", 1)


@pytest.mark.parametrize("nprocs", [2, 4])
def test_ranks_agree(model_file, serial, tmp_path, nprocs):
    parallel = run_ranks(model_file, tmp_path / "run", nprocs)
    assert_same(parallel, serial)


def test_ranks_agree_for_painn(tmp_path):
    """The equivariant model's vector features cross subdomains through the same ghost shell."""
    model = EXAMPLE_MODEL.parent / "si_painn.pt"
    serial = run_ranks(model, tmp_path / "np1", 1)
    parallel = run_ranks(model, tmp_path / "np2", 2)
    assert_same(parallel, serial)
