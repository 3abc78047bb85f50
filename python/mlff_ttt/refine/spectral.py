"""The graph spectra behind diagnose, radius refinement (RR) and the live shift monitor.

Two views of the spectrum of the symmetric normalized Laplacian L = I - D^-1/2 A D^-1/2 of a
radius graph (A with self-loops, as in the paper). Where the paper's A is 0/1, ours weights
each edge by the models' cosine envelope at the graph's radius (:func:`edge_weights`, defined
once in the C++ core): the spectrum is then continuous in the positions, so a neighbour shell
at the radius (diamond silicon's third shell at 4.503 A, cutoff 4.5 A) no longer flips in and
out of the graph with thermal noise, and the perfect crystal lands among the training
crystals instead of far from them.

* dense: all eigenvalues (:func:`laplacian_spectrum`), compared as smoothed densities
  (:func:`spectral_density`, :func:`spectral_distance`); O(N^3), for molecules and small cells.
  ``mlff-ttt diagnose`` uses it, and :mod:`mlff_ttt.refine.rr` uses its eigenvalues as the reference.
* moments: the first NUM_MOMENTS moments of the spectrum of M = D^-1/2 A D^-1/2 = I - L, i.e.
  the mean of (M^k)_ii over atoms. Each atom's share needs only its 2-hop neighbourhood, so
  the C++ kernel (``mlff_ttt._core.moment_sums``) computes them in linear time, for all
  candidate radii in one pass, and MPI ranks sum their owned atoms' shares. RR and the
  monitor compare moments with :func:`moment_distance`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import Atoms
from vesin import NeighborList

from .. import _core
from ..graph import radius_graph

NUM_MOMENTS = _core.NUM_MOMENTS

# Grid and Gaussian broadening of the spectral density. The normalized Laplacian's
# eigenvalues lie in [0, 2]. A broadening of 0.1 smooths over the residual k-point sampling
# of differently sized cells (a 512-atom diamond cell lands 0.004 from a 64-atom one, where
# beta-tin, simple-cubic and fcc silicon land 0.06-0.23 away; with 0.05 the 512-atom cell
# would be 0.03 away) while still separating bonding topologies.
SPECTRUM_GRID = np.linspace(0.0, 2.0, 201)
SPECTRUM_WIDTH = 0.1
# Periodic cells are expanded (via k-points) to supercells at least this many cutoffs wide.
SUPERCELL_CUTOFFS = 6.0


def cell_repeats(atoms: Atoms, width: float) -> tuple[int, int, int]:
    """Repetitions (n1, n2, n3) of a periodic cell that make it at least ``width`` wide in
    each direction (1, 1, 1 for molecules)."""
    if not atoms.get_pbc().all():
        return (1, 1, 1)
    # width of the cell perpendicular to each pair of lattice vectors
    widths = abs(atoms.cell.volume) / np.linalg.norm(
        np.cross(np.roll(atoms.cell.array, -1, 0), np.roll(atoms.cell.array, -2, 0)), axis=1)
    return tuple(int(n) for n in np.ceil(width / widths - 1e-9))


def kpoint_grid(atoms: Atoms, cutoff: float) -> tuple[int, int, int]:
    """The Bloch supercell of :func:`laplacian_spectrum`: SUPERCELL_CUTOFFS cutoffs wide."""
    return cell_repeats(atoms, SUPERCELL_CUTOFFS * cutoff)


def edge_weights(distances: np.ndarray, radius: float) -> np.ndarray:
    """Weights of edges of these lengths in the spectral graph at ``radius``: the models'
    cosine envelope with the radius as cutoff (the C++ core's ``spectral_edge_weight``)."""
    return _core.spectral_edge_weights(np.ascontiguousarray(distances, np.float64), float(radius))


def laplacian_spectrum(atoms: Atoms, cutoff: float) -> np.ndarray:
    """Sorted eigenvalues (all in [0, 2]) of L = I - D^-1/2 A D^-1/2 of the radius graph.

    A is the symmetric adjacency over atoms (pairs within ``cutoff``, weighted by
    :func:`edge_weights`) plus self-loops of weight 1, as in the paper, so that isolated atoms
    have non-zero degree; a finite structure uses it as
    is. A periodic cell is a sample of an infinite crystal, and the spectrum of the cell's own
    graph depends on the cell size: it only samples the crystal's Laplacian "band structure"
    at the k-points commensurate with the cell, so a 64- and a 216-atom diamond cell give
    visibly different spectra. We therefore use the graph of a supercell at least
    SUPERCELL_CUTOFFS cutoffs wide (the same 6x6x6 conventional diamond supercell for 2x2x2
    and 3x3x3 cells), computed cheaply with Bloch's theorem: its spectrum is the union over
    the k-points k = (m1/n1, m2/n2, m3/n3) of the spectra of the Bloch Laplacians, with
    A(k)_ij = delta_ij + sum over images S of j within the cutoff of i of w_ijS exp(2 pi i k.S),
    and D the degrees of A(0). For cells wider than two cutoffs, k = 0 alone is exactly the
    cell's own atom graph. Returns n_atoms * n1 * n2 * n3 eigenvalues.
    """
    graph = radius_graph(atoms, cutoff, sorted(set(atoms.get_chemical_symbols())))
    periodic = bool(atoms.get_pbc().all())
    i, j, shifts = graph.edge_index[0], graph.edge_index[1], graph.shifts
    weight = edge_weights(np.linalg.norm(graph.edge_vec, axis=1), cutoff)
    n = len(atoms)
    grid = kpoint_grid(atoms, cutoff) if periodic else (1, 1, 1)
    degree = 1.0 + np.bincount(i, weights=weight, minlength=n)  # self-loop plus neighbor images
    scale = 1.0 / np.sqrt(degree)
    # k and -k give complex-conjugate A(k) with the same spectrum: diagonalize one of each
    # pair and count it twice
    m = np.stack(np.meshgrid(*[np.arange(g) for g in grid], indexing="ij"), -1).reshape(-1, 3)
    key = np.ravel_multi_index(m.T, grid)
    partner = np.ravel_multi_index(((-m) % grid).T, grid)
    keep = key <= partner
    multiplicity = np.where(key[keep] == partner[keep], 1, 2)
    kpoints = m[keep] / np.asarray(grid)
    phases = weight * np.exp(2j * np.pi * (kpoints @ shifts.T))  # (n_k, n_pairs)
    a = np.zeros((len(kpoints), n * n), dtype=np.complex128)
    np.add.at(a.T, i * n + j, phases.T)                          # sums over images of a pair
    a = a.reshape(-1, n, n) + np.eye(n)
    lap = np.eye(n) - scale[:, None] * a * scale[None, :]
    # one batched LAPACK call over all k-points (numpy's eigvalsh stacks; scipy's eigh doesn't)
    return np.sort(np.repeat(np.linalg.eigvalsh(lap), multiplicity, axis=0).ravel())


def spectral_density(eigenvalues: np.ndarray) -> np.ndarray:
    """Fixed-length, size-independent representation of a spectrum.

    We use a Gaussian-broadened eigenvalue density on a fixed grid over [0, 2], normalized to
    unit integral, instead of the paper's zero-padded sorted spectra: zero padding compares the
    k-th eigenvalue of structures of different sizes, so a 64- and a 216-atom cell of the same
    crystal would look different purely from the padding, whereas the density of eigenvalues
    per atom is an intensive property (like a density of states), and with the supercell
    spectra of :func:`laplacian_spectrum` it is the same for any cell of the same crystal. A
    smooth kernel avoids the bin-edge jumps a hard histogram shows for the highly degenerate
    spectra of crystals.
    """
    x = (SPECTRUM_GRID[:, None] - np.asarray(eigenvalues)[None, :]) / SPECTRUM_WIDTH
    density = np.exp(-0.5 * x * x).sum(axis=1)
    return density / np.trapezoid(density, SPECTRUM_GRID)


def spectral_distance(density: np.ndarray, reference: np.ndarray) -> float:
    """L2 distance of two densities on SPECTRUM_GRID (a grid-independent function norm)."""
    return float(np.sqrt(np.trapezoid((density - reference) ** 2, SPECTRUM_GRID)))


def dense_moments(eigenvalues: np.ndarray) -> np.ndarray:
    """Per-atom mean moments m_k = mean(mu^k), k = 1..NUM_MOMENTS, of the eigenvalues
    mu = 1 - lambda of M, from the Laplacian eigenvalues lambda (the dense reference of what
    the kernel computes)."""
    mu = 1.0 - np.asarray(eigenvalues, dtype=np.float64)
    return np.array([np.mean(mu ** k) for k in range(1, NUM_MOMENTS + 1)])


def kernel_moments(atoms: Atoms, radii: Sequence[float]) -> np.ndarray:
    """(len(radii), NUM_MOMENTS) per-atom mean moments from the linear-scaling kernel.

    A periodic cell is repeated until it is wider than 4 x the largest radius, so that the
    2-hop walks of the kernel never meet two images of one atom under the same index; the
    original cell's atoms (the first ones of the supercell) are the ones averaged over, which
    gives the moments of the infinite crystal (as the Bloch supercell spectrum does).
    """
    radii = np.asarray(radii, dtype=np.float64)
    n_local = len(atoms)
    r_max = float(radii.max())
    if atoms.get_pbc().any() and not atoms.get_pbc().all():
        raise ValueError("mixed periodic boundary conditions are not supported")
    # a walk of two steps of length < r_max stays within 2 r_max of its start
    structure = atoms.repeat(cell_repeats(atoms, 4.0 * r_max))
    periodic = bool(structure.get_pbc().all())
    box = structure.cell.array if periodic else np.zeros((3, 3))
    i, j, d = NeighborList(cutoff=r_max, full_list=True).compute(
        points=structure.positions, box=box, periodic=periodic, quantities="ijd")
    sums = _core.moment_sums(n_local, np.stack([i, j]).astype(np.int64),
                             np.asarray(d, np.float64), radii)
    return sums / n_local


def moment_distance(moments: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """Root mean square z-score of per-atom mean moments against a training mean and std
    (the kernel's, RR's and the monitor's distance)."""
    as_array = lambda x: np.asarray(x, np.float64)  # noqa: E731
    return float(_core.moment_distance(as_array(moments), as_array(mean), as_array(std)))
