"""The C++ spectral-moment kernel (mlff_ttt._core.moment_sums and friends) against dense
eigendecompositions of M = D^-1/2 A D^-1/2 for envelope-weighted radius graphs with
self-loops."""

from pathlib import Path

import ase.build
import ase.io
import numpy as np
import pytest
import torch
from vesin import NeighborList

from mlff_ttt import _core

DATA = Path(__file__).resolve().parents[1] / "examples" / "data"
MOL_RADII = [3.0, 3.5, 4.0, 5.0]
SI_RADII = [2.7, 3.5, 4.5]


def weighted_adjacency(dist, radius):
    """The spectral graph's edge weights, written out here independently of the core: the
    models' cosine envelope with the radius as cutoff; 0 on the diagonal and beyond."""
    inside = (dist > 0) & (dist < radius)
    return np.where(inside, 0.5 * (np.cos(np.pi * dist / radius) + 1.0), 0.0)


def dense_spectrum(adjacency):
    """Eigenvalues of M for a weighted adjacency without self-loops."""
    a = adjacency + np.eye(len(adjacency))
    inv_sqrt = 1.0 / np.sqrt(a.sum(axis=1))
    return np.linalg.eigvalsh(a * inv_sqrt[:, None] * inv_sqrt[None, :])


def mean_moments(mu):
    return np.array([np.mean(mu**k) for k in range(1, 5)])


def all_pairs(positions):
    """Full edge list of every ordered pair, and the distance matrix."""
    dist = np.linalg.norm(positions[:, None] - positions[None, :], axis=-1)
    i, j = np.nonzero(~np.eye(len(positions), dtype=bool))
    return np.stack([i, j]), dist[i, j], dist


def silicon_cell(seed=0):
    atoms = ase.build.bulk("Si", "diamond", a=5.43, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.1, seed=seed)
    return atoms


def periodic_edges(atoms, cutoff):
    i, j, d = NeighborList(cutoff=cutoff, full_list=True).compute(
        points=atoms.positions, box=atoms.cell.array, periodic=True, quantities="ijd")
    return np.stack([i, j]).astype(np.int64), d


def supercell_spectrum(atoms, radius):
    """Eigenvalues of M for a periodic supercell wide enough that no 4-step walk wraps."""
    (i, j), d = periodic_edges(atoms, radius)
    adjacency = np.zeros((len(atoms), len(atoms)))
    np.add.at(adjacency, (i, j), weighted_adjacency(d, radius))
    return dense_spectrum(adjacency)


@pytest.mark.parametrize("name", ["mol_test", "mol_ood_connectivity"])
def test_molecules_match_dense(name):
    for atoms in ase.io.read(DATA / f"{name}.xyz", ":")[:6]:
        edge_index, distances, dist = all_pairs(atoms.positions)
        sums = _core.moment_sums(len(atoms), edge_index, distances, MOL_RADII)
        assert sums.shape == (len(MOL_RADII), _core.NUM_MOMENTS)
        for r, radius in enumerate(MOL_RADII):
            expected = mean_moments(dense_spectrum(weighted_adjacency(dist, radius)))
            np.testing.assert_allclose(sums[r] / len(atoms), expected, rtol=0, atol=1e-12)


def ghost_graph(atoms, max_radius):
    """Owned atoms (the cell) then periodic images within 2 * max_radius + 0.5 of them, with
    the all-pairs edge list among these nodes (ghost rows near the outer boundary are
    incomplete) and each node's cell atom."""
    shifts = np.array([(a, b, c) for a in range(-2, 3) for b in range(-2, 3)
                       for c in range(-2, 3) if (a, b, c) != (0, 0, 0)])
    images = (atoms.positions[None] + (shifts @ atoms.cell.array)[:, None]).reshape(-1, 3)
    origin = np.tile(np.arange(len(atoms)), len(shifts))
    to_cell = np.linalg.norm(images[:, None] - atoms.positions[None], axis=-1).min(axis=1)
    keep = to_cell <= 2 * max_radius + 0.5
    positions = np.concatenate([atoms.positions, images[keep]])
    origin = np.concatenate([np.arange(len(atoms)), origin[keep]])
    edge_index, distances, _ = all_pairs(positions)
    close = distances < max_radius + 0.5
    return edge_index[:, close], distances[close], origin


def test_periodic_ghosts_match_supercell():
    atoms = silicon_cell()
    n_local = len(atoms)
    edge_index, distances, origin = ghost_graph(atoms, max(SI_RADII))
    assert len(origin) > 10 * n_local
    # Owned rows are complete, so their degrees are exact; every image has its atom's degree.
    degrees = _core.node_degrees(len(origin), edge_index, distances, SI_RADII)[origin]
    sums = _core.moment_sums(n_local, edge_index, distances, SI_RADII, degrees=degrees)
    supercell = atoms.repeat((3, 3, 3))
    for r, radius in enumerate(SI_RADII):
        expected = mean_moments(supercell_spectrum(supercell, radius))
        np.testing.assert_allclose(sums[r] / n_local, expected, rtol=0, atol=1e-10)

    # Degrees from the incomplete ghost rows themselves give different moments.
    wrong = _core.moment_sums(n_local, edge_index, distances, SI_RADII)
    assert np.abs(wrong - sums).max() > 1e-6

    # The edge order does not matter, bit for bit.
    perm = np.random.default_rng(1).permutation(len(distances))
    shuffled = _core.moment_sums(n_local, edge_index[:, perm], distances[perm], SI_RADII,
                                 degrees=degrees)
    np.testing.assert_array_equal(shuffled, sums)


def test_supercell_list_and_thread_count():
    """A periodic supercell's own (aliasing-free) neighbour list, with enough atoms for
    several chunks: same moments as the dense spectrum, bit-identical for 1 and 2 threads."""
    supercell = silicon_cell(seed=3).repeat((3, 3, 3))
    edge_index, distances = periodic_edges(supercell, max(SI_RADII))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _core.moment_sums(len(supercell), edge_index, distances, SI_RADII)
        torch.set_num_threads(2)
        two = _core.moment_sums(len(supercell), edge_index, distances, SI_RADII)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(one, two)
    expected = mean_moments(supercell_spectrum(supercell, SI_RADII[-1]))
    np.testing.assert_allclose(one[-1] / len(supercell), expected, rtol=0, atol=1e-10)


def test_edge_weights_are_the_models_envelope():
    from mlff_ttt.models.layers import CosineEnvelope

    r = np.linspace(0.0, 6.0, 601)
    for cutoff in (4.5, 5.0):
        model = CosineEnvelope(cutoff)(torch.tensor(r, dtype=torch.float64)).numpy()
        np.testing.assert_allclose(_core.spectral_edge_weights(r, cutoff), model, rtol=0,
                                   atol=1e-15)
    np.testing.assert_array_equal(_core.spectral_edge_weights(r, 3.0),
                                  weighted_adjacency(r, 3.0) + (r == 0))


def test_moments_are_continuous_where_a_neighbour_crosses_the_radius():
    """An atom at the radius, just inside or just outside: with 0/1 edges the moments would
    jump by O(1); weighted, the change is second order in the displacement."""
    radius = 4.5
    for eps in (1e-3, 1e-5):
        sums = []
        for d in (radius - eps, radius + eps):
            positions = np.array([[0.0, 0.0, 0.0], [2.35, 0.0, 0.0], [2.35 + d, 0.0, 0.0]])
            edge_index, distances, _ = all_pairs(positions)
            sums.append(_core.moment_sums(3, edge_index, distances, [radius]))
        assert np.abs(sums[0] - sums[1]).max() < 10 * eps**2


def test_moment_distance_is_the_rms_z_score():
    atoms = ase.io.read(DATA / "mol_ood_connectivity.xyz", index=0)
    _, _, dist = all_pairs(atoms.positions)
    spectra = [dense_spectrum(weighted_adjacency(dist, r)) for r in MOL_RADII]
    mean, std = mean_moments(spectra[-1]), np.array([0.01, 0.02, 0.03, 0.04])
    for mu in spectra[:-1]:
        expected = np.sqrt(np.mean(((mean_moments(mu) - mean) / std) ** 2))
        assert _core.moment_distance(mean_moments(mu), mean, std) == pytest.approx(expected,
                                                                                 rel=1e-12)
    assert _core.moment_distance(mean, mean, std) == 0.0
    # a moment that never varied in training is scaled by 1e-3 of its mean instead
    shifted = mean.copy()
    shifted[0] += 1e-3 * mean[0]
    assert _core.moment_distance(shifted, mean, np.zeros(4)) == pytest.approx(0.5, rel=1e-9)


@pytest.mark.parametrize("distances, threshold, expected", [
    ([0.5, 0.3, 0.05], 0.1, 2),        # in distribution: keep the trained cutoff
    ([0.0, 0.1], 0.1, 1),              # ... even when a smaller radius is closer
    ([0.1, 0.3, 0.2], 0.05, 0),        # otherwise the closest
    ([0.3, 0.05, 0.05, 0.2], 0.01, 1),  # ties: the smallest index ...
    ([0.2, 0.1, 0.1], 0.05, 2),        # ... unless the last one is among them
    ([0.5, 0.3, 0.2], 0.1, 2),
    ([0.7], 0.1, 0),
])
def test_choose_radius(distances, threshold, expected):
    assert _core.choose_radius(distances, threshold) == expected


def test_bad_input():
    edge_index = np.array([[0, 1], [1, 0]])
    distances = np.array([1.0, 1.0])
    with pytest.raises(ValueError, match="ascending"):
        _core.moment_sums(2, edge_index, distances, [3.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        _core.moment_sums(2, edge_index, distances, [-1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        _core.moment_sums(2, edge_index, distances, [])
    with pytest.raises(ValueError, match="edge_index"):
        _core.moment_sums(2, edge_index.T.reshape(4), distances, [2.0])
    with pytest.raises(ValueError, match="distances"):
        _core.moment_sums(2, edge_index, distances[:1], [2.0])
    with pytest.raises(ValueError, match="degrees"):
        _core.moment_sums(2, edge_index, distances, [2.0], degrees=np.ones((2, 2)))
    with pytest.raises(ValueError, match="outside nodes"):
        _core.moment_sums(2, edge_index, distances, [2.0], degrees=np.ones((1, 1)))
    with pytest.raises(ValueError, match=">= 1"):
        _core.moment_sums(2, edge_index, distances, [2.0], degrees=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="n_local"):
        _core.moment_sums(3, edge_index, distances, [2.0], degrees=np.ones((2, 1)))
    with pytest.raises(ValueError, match="non-negative"):
        _core.moment_sums(2, edge_index, -distances, [2.0])
    with pytest.raises(ValueError, match="outside nodes"):
        _core.node_degrees(1, edge_index, distances, [2.0])
    with pytest.raises(ValueError, match="moments"):
        _core.moment_distance(np.ones(3), np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="empty"):
        _core.choose_radius([], 0.1)


@pytest.mark.cuda
@pytest.mark.skipif(not (_core.HAS_CUDA_KERNEL and torch.cuda.is_available()),
                    reason="needs a build with the CUDA kernel and a CUDA device")
def test_cuda_kernel_equals_cpu_kernel():
    for atoms in ase.io.read(DATA / "mol_ood_connectivity.xyz", index=":4"):
        _, _, dist = all_pairs(atoms.positions)
        i, j = np.nonzero((dist > 0) & (dist < MOL_RADII[-1]))
        edges, d = np.stack([i, j]).astype(np.int64), dist[i, j]
        cpu = _core.moment_sums(len(atoms), edges, d, MOL_RADII)
        gpu = _core.moment_sums(len(atoms), edges, d, MOL_RADII, device="cuda")
        np.testing.assert_allclose(gpu, cpu, rtol=1e-12, atol=0)
    supercell = ase.build.bulk("Si", "diamond", a=5.43, cubic=True).repeat((6, 6, 6))
    supercell.rattle(0.1, seed=3)
    i, j, d = NeighborList(cutoff=SI_RADII[-1], full_list=True).compute(
        points=supercell.positions, box=supercell.cell.array, periodic=True, quantities="ijd")
    edges = np.stack([i, j]).astype(np.int64)
    cpu = _core.moment_sums(len(supercell), edges, d, SI_RADII)
    gpu = _core.moment_sums(len(supercell), edges, d, SI_RADII, device="cuda")
    np.testing.assert_allclose(gpu, cpu, rtol=1e-12, atol=0)


@pytest.mark.cuda
@pytest.mark.skipif(not (_core.HAS_CUDA_KERNEL and torch.cuda.is_available()),
                    reason="needs a build with the CUDA kernel and a CUDA device")
def test_a_neighbourhood_too_large_for_the_cuda_table_is_summed_on_the_cpu():
    # crystalline silicon within 9 A: about 1200 atoms within two hops, beyond the kernel's
    # 1024-entry table per atom; the device path hands that structure to the CPU kernel
    supercell = ase.build.bulk("Si", "diamond", a=5.43, cubic=True).repeat((7, 7, 7))
    i, j, d = NeighborList(cutoff=9.0, full_list=True).compute(
        points=supercell.positions, box=supercell.cell.array, periodic=True, quantities="ijd")
    edges = np.stack([i, j]).astype(np.int64)
    cpu = _core.moment_sums(len(supercell), edges, d, [9.0])
    gpu = _core.moment_sums(len(supercell), edges, d, [9.0], device="cuda")
    np.testing.assert_array_equal(gpu, cpu)


def test_cuda_request_without_the_kernel_is_a_clear_error():
    if _core.HAS_CUDA_KERNEL:
        pytest.skip("this build has the CUDA kernel")
    with pytest.raises(ValueError, match="no CUDA spectral kernel"):
        _core.moment_sums(1, np.zeros((2, 0), np.int64), np.zeros(0), [1.0], device="cuda")
