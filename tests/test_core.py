"""The C++ core (through its Python bindings) against the Python evaluation of the same model."""

import numpy as np
import pytest
import torch

from mlff_ttt import _core
from mlff_ttt.calculator import MLFFCalculator
from mlff_ttt.model_file import read_metadata
from mlff_ttt.graph import radius_graph

from helpers import silicon


def core_results(model_path, atoms):
    runner = _core.ModelRunner(str(model_path))
    graph = radius_graph(atoms, runner.cutoff, runner.elements)
    return runner.compute(graph.species, graph.edge_index, graph.edge_vec)


@pytest.mark.parametrize("fixture, rtol", [("model_file", 1e-10), ("model_file_f32", 1e-4)])
def test_core_matches_python(request, fixture, rtol):
    path = request.getfixturevalue(fixture)
    atoms = silicon()
    out = core_results(path, atoms)
    atoms.calc = MLFFCalculator(str(path))
    scale_f = np.abs(atoms.get_forces()).max()
    assert out["energy"] == pytest.approx(atoms.get_potential_energy(), rel=rtol)
    np.testing.assert_allclose(out["forces"], atoms.get_forces(), atol=rtol * scale_f)
    np.testing.assert_allclose(out["node_energy"], atoms.get_potential_energies(), rtol=rtol,
                               atol=rtol)
    virial = -atoms.get_stress(voigt=False) * atoms.get_volume()
    expected = [virial[0, 0], virial[1, 1], virial[2, 2], virial[0, 1], virial[0, 2], virial[1, 2]]
    np.testing.assert_allclose(out["virial"], expected, atol=rtol * np.abs(expected).max())
    # per-atom virials add up to the global one
    np.testing.assert_allclose(out["node_virial"].sum(axis=0), out["virial"], atol=1e-9)


def test_metadata(model_file):
    runner = _core.ModelRunner(str(model_file))
    meta = read_metadata(model_file)
    assert runner.elements == meta["elements"] == ["Si"]
    assert runner.cutoff == meta["cutoff"] == 4.0
    assert runner.num_layers == meta["num_layers"] == 2
    assert meta["format_version"] == _core.MODEL_FORMAT_VERSION
    assert meta["receptive_field"] == 8.0
    assert any(name.startswith("shared.") for name in meta["ttt_parameters"])


def test_core_rejects_bad_files(tmp_path):
    with pytest.raises(RuntimeError, match="cannot open model file"):
        _core.ModelRunner(str(tmp_path / "missing.pt"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(RuntimeError, match="is not a TorchScript model file"):
        _core.ModelRunner(str(junk))
    plain = tmp_path / "plain.pt"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(plain))
    with pytest.raises(RuntimeError, match="not written by 'mlff-ttt export'"):
        _core.ModelRunner(str(plain))


def test_core_rejects_bad_graph(model_file):
    runner = _core.ModelRunner(str(model_file))
    with pytest.raises(ValueError, match="edge_index out of range"):
        runner.compute(np.zeros(2, dtype=np.int64), np.array([[0], [5]]), np.ones((1, 3)))
    with pytest.raises(ValueError, match="edge_vec must have shape"):
        runner.compute(np.zeros(2, dtype=np.int64), np.array([[0], [1]]), np.ones((2, 3)))


@pytest.mark.parametrize("ids_of", ["dense", "sparse"])
def test_image_owners_dense_and_sparse_ids(ids_of):
    """Both ways of finding the owner of each image (a table for dense IDs, a hash map else)
    against a Python dictionary, with images, foreign ghosts and IDs on either side of the
    owned range."""
    rng = np.random.default_rng(3)
    n_local = 500
    if ids_of == "dense":    # 1..N in a shuffled order, as LAMMPS stores them
        owned = rng.permutation(np.arange(1, n_local + 1))
        foreign = np.array([n_local + 1, n_local + 7, 10**6])
    else:                    # a rank's share of a large system
        owned = rng.choice(10**9, size=n_local, replace=False) + 1
        foreign = np.array([0, 10**9 + 5, 17])
    images = rng.choice(owned, size=2000)
    ids = np.concatenate([owned, images, foreign, images[:10]])
    owner = _core.find_image_owners(ids, n_local)
    index = {int(t): i for i, t in enumerate(owned)}
    expected = [i if i < n_local else index.get(int(t), -1) for i, t in enumerate(ids)]
    np.testing.assert_array_equal(owner, expected)
    assert list(_core.find_image_owners(ids[n_local:], 0)) == [-1] * (len(ids) - n_local)
