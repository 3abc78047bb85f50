"""`pair_style mlff_ttt hook every N module:function` hands the current graph to Python."""

import sys
from pathlib import Path

import numpy as np
import pytest

from mlff_ttt.graph import radius_graph
from mlff_ttt.plugin.lammps_import import import_lammps
from mlff_ttt.plugin import plugin_path

import hook_recorder
from helpers import SUPPORT, ranks, run_lmp, silicon, write_data

pytestmark = pytest.mark.lammps  # every test here runs lmp or loads the plugin

DECK = """
units metal
atom_style atomic
atom_modify map array
read_data si.data
pair_style mlff_ttt hook every 5 hook_recorder:{function}
pair_coeff * * {model} Si
velocity all create 600 87287 mom yes rot yes
fix nve all nve
run 10
"""


def reference_edge_lengths(atoms, cutoff):
    graph = radius_graph(atoms, cutoff, ["Si"])
    return np.sort(np.linalg.norm(graph.edge_vec, axis=1))


def check_graph(positions, species, edge_index, edge_vec, n_local):
    n_nodes = positions.shape[0]
    assert species.shape == (n_nodes,) and (species == 0).all()
    assert edge_index.shape[0] == 2 and edge_index.max() < n_nodes
    # edges are the pair style's own: vectors between the positions it evaluated
    np.testing.assert_allclose(edge_vec, positions[edge_index[1]] - positions[edge_index[0]],
                               atol=1e-12)
    assert (np.linalg.norm(edge_vec, axis=1) < 4.0).all()
    return np.sort(np.linalg.norm(edge_vec[edge_index[0] < n_local], axis=1))


@pytest.mark.parametrize("nprocs", ranks(1, 2))
def test_hook_under_lmp(model_file, tmp_path, nprocs):
    atoms = silicon()
    write_data(atoms, tmp_path / "si.data")
    out = tmp_path / "hook_out"
    out.mkdir()
    proc = run_lmp(DECK.format(function="save", model=model_file), tmp_path, nprocs=nprocs,
                   env_extra={"MLFF_TTT_HOOK_OUT": str(out), "PYTHONPATH": str(SUPPORT)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = sorted(out.glob("*.npz"))
    # steps 0, 5 and 10 on every rank
    assert sorted(f.name for f in files) == sorted(
        f"rank{r}_step{s}.npz" for r in range(nprocs) for s in (0, 5, 10))
    for step in (0, 5, 10):
        records = [np.load(out / f"rank{r}_step{step}.npz") for r in range(nprocs)]
        assert sum(int(rec["n_local"]) for rec in records) == len(atoms)
        assert all(int(rec["size"]) == nprocs and int(rec["step"]) == step for rec in records)
        # the embedded interpreter runs in the project's virtual environment
        assert all(str(rec["prefix"]) == sys.prefix for rec in records)
        lengths = np.sort(np.concatenate([
            check_graph(rec["positions"], rec["species"], rec["edge_index"], rec["edge_vec"],
                        int(rec["n_local"])) for rec in records]))
        if step == 0:  # atoms have not moved yet: compare with the Python radius graph
            np.testing.assert_allclose(lengths, reference_edge_lengths(atoms, 4.0), atol=1e-9)


def test_hook_when_driven_from_python(model_file, tmp_path):
    atoms = silicon()
    write_data(atoms, tmp_path / "si.data")
    sys.path.insert(0, str(SUPPORT))
    hook_recorder.RECORDS.clear()
    lmp = import_lammps().lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    try:
        lmp.command(f"plugin load {plugin_path()}")
        lmp.commands_string(DECK.format(function="record", model=model_file)
                            .replace("read_data si.data", f"read_data {tmp_path / 'si.data'}"))
    finally:
        lmp.close()
    assert [g.step for g in hook_recorder.RECORDS] == [0, 5, 10]
    first = hook_recorder.RECORDS[0]
    assert first.n_local == len(atoms) and first.rank == 0 and first.size == 1
    assert first.positions.dtype.is_floating_point and first.edge_index.dtype == first.species.dtype
    lengths = check_graph(first.positions.numpy(), first.species.numpy(),
                          first.edge_index.numpy(), first.edge_vec.numpy(), first.n_local)
    np.testing.assert_allclose(lengths, reference_edge_lengths(atoms, 4.0), atol=1e-9)


def test_failing_hook_is_a_lammps_error(model_file, tmp_path):
    write_data(silicon(), tmp_path / "si.data")
    proc = run_lmp(DECK.format(function="fail", model=model_file), tmp_path,
                   env_extra={"PYTHONPATH": str(SUPPORT)})
    assert proc.returncode > 0
    assert "hook 'hook_recorder:fail' failed at step 0" in proc.stdout + proc.stderr
    assert "hook failure requested by the test" in proc.stdout + proc.stderr
