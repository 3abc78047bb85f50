"""Test-time radius refinement (RR, Fix 1 of Kreiman & Krishnapriyan 2025).

For a test structure and each candidate radius r of a grid, build the radius graph (with
self-loops), take its normalized-Laplacian spectrum and its distance to the training
average at the same r; predict with the best radius. We compare spectra by their first
NUM_MOMENTS moments (:func:`mlff_ttt.refine.spectral.moment_distance`: the RMS of their
z-scores against the training structures), which the linear-scaling kernel computes exactly
on boxes of any size, so the dense reference here and the kernel in LAMMPS choose the same
way. The trained cutoff stays in use unless the structure's distance
there exceeds the training mean + RR_GATE_STD standard deviations (the monitor flags at one;
see cpp/radius_refiner.h for why RR waits for more), which keeps RR from touching
in-distribution structures. Graph edges are weighted by the models' cosine envelope at each
radius (:mod:`mlff_ttt.refine.spectral`), so the distances are continuous in the positions.

The reference statistics of a training set (:func:`reference_statistics`) are computed at
export and stored in the model file; they also hold what the live shift monitor compares
against (mean and std of the training spectral distances and of the per-structure mean force
norm).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Dict, List, Optional, Sequence

import numpy as np
from ase import Atoms

from .. import _core
from ..data import mean_force_norm
from .spectral import (NUM_MOMENTS, SPECTRUM_GRID, dense_moments, kernel_moments,
                       laplacian_spectrum, moment_distance, spectral_density, spectral_distance)

# Default candidate grid: from 0.6 x the trained cutoff up to the cutoff (the paper's grid of
# 10 radii spanned 3-9 A; radii above the trained cutoff gain nothing, see PAPER.md).
GRID_START = 0.6
GRID_POINTS = 9
METHODS = ("dense", "kernel")
RR_GATE_STD = _core.RR_GATE_STD


def default_grid(cutoff: float) -> List[float]:
    return [round(float(r), 6) for r in np.linspace(GRID_START * cutoff, cutoff, GRID_POINTS)]


def check_grid(radii: Sequence[float], cutoff: float) -> List[float]:
    """Sorted, unique radii in (0, cutoff], with the cutoff appended when missing (it is the
    fallback); ValueError for an empty grid or a radius outside (0, cutoff]."""
    radii = [float(r) for r in radii]
    if not radii:
        raise ValueError("the RR radius grid is empty")
    bad = [r for r in radii if not (0.0 < r <= cutoff)]
    if bad:
        raise ValueError(f"RR radii must lie in (0, {cutoff:g}] (the trained cutoff); got {bad}")
    return sorted(set(radii) | {float(cutoff)})


@dataclass
class ReferenceStatistics:
    """What RR and the monitor compare a structure against, per radius of ``radii``."""
    radii: List[float]                  # ascending; the last is the trained cutoff
    moments: List[List[float]]          # training mean of the per-atom mean moments
    moment_std: List[List[float]]       # and their standard deviation
    distance_mean: List[float]          # training structures' moment distances to that mean
    distance_std: List[float]
    densities: List[List[float]]        # training mean spectral density on SPECTRUM_GRID
    force_norm_mean: float              # per-structure mean REF force norm (eV/A)
    force_norm_std: float
    n_structures: int
    source: str

    @property
    def threshold(self) -> float:
        """The monitor's connectivity shift threshold at the trained cutoff (mean + 1 std)."""
        return self.distance_mean[-1] + self.distance_std[-1]

    @property
    def rr_threshold(self) -> float:
        """Beyond this distance at the cutoff, RR may choose another radius."""
        return self.distance_mean[-1] + RR_GATE_STD * self.distance_std[-1]

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: Dict[str, object]) -> "ReferenceStatistics":
        """From a model file's metadata; ValueError naming what is wrong in a damaged record."""
        def damaged(what: str) -> ValueError:
            return ValueError(f"the model file's reference statistics are damaged: {what}")

        names = [f.name for f in fields(cls)]
        if not isinstance(record, dict) or sorted(record) != sorted(names):
            raise damaged(f"expected the fields {', '.join(names)}")
        n_radii = len(record["radii"]) if isinstance(record["radii"], list) else 0
        shapes = {"radii": (n_radii,), "moments": (n_radii, NUM_MOMENTS),
                  "moment_std": (n_radii, NUM_MOMENTS), "distance_mean": (n_radii,),
                  "distance_std": (n_radii,), "densities": (n_radii, len(SPECTRUM_GRID)),
                  "force_norm_mean": (), "force_norm_std": ()}
        for name, shape in shapes.items():
            try:
                values = np.asarray(record[name], dtype=float)
            except (TypeError, ValueError):
                raise damaged(f"'{name}' is not numeric") from None
            if values.shape != shape or not np.all(np.isfinite(values)) or n_radii == 0:
                raise damaged(f"'{name}' is not a finite array of shape {shape}")
        if not isinstance(record["n_structures"], int) or not isinstance(record["source"], str):
            raise damaged("'n_structures' or 'source' has the wrong type")
        return cls(**record)


def moment_statistics(moments: np.ndarray):
    """Mean and std over structures of per-atom mean moments (S, R, NUM_MOMENTS), and every
    structure's moment distance to them per radius (S, R): what RR, the monitor and
    ``diagnose`` compare a structure with."""
    mean, std = moments.mean(axis=0), moments.std(axis=0)
    distances = np.array([[moment_distance(m[k], mean[k], std[k]) for k in range(len(m))]
                          for m in moments])
    return mean, std, distances


def reference_statistics(frames: Sequence[Atoms], radii: Sequence[float],
                         source: str = "train") -> ReferenceStatistics:
    """Training statistics for every radius (the last radius must be the trained cutoff)."""
    if len(frames) < 2:
        raise ValueError(f"{source}: needs at least 2 structures for the reference statistics")
    radii = [float(r) for r in radii]
    moments = np.array([kernel_moments(atoms, radii) for atoms in frames])  # (S, R, K)
    mean_moments, std_moments, distances = moment_statistics(moments)
    densities = np.array([[spectral_density(laplacian_spectrum(atoms, r)) for r in radii]
                          for atoms in frames]).mean(axis=0)
    norms = np.array([mean_force_norm(atoms, k, source)[0] for k, atoms in enumerate(frames)])
    return ReferenceStatistics(
        radii=radii, moments=mean_moments.tolist(), moment_std=std_moments.tolist(),
        distance_mean=distances.mean(0).tolist(),
        distance_std=distances.std(0).tolist(), densities=densities.tolist(),
        force_norm_mean=float(norms.mean()), force_norm_std=float(norms.std()),
        n_structures=len(frames), source=source)


@dataclass
class RadiusChoice:
    radius: float
    index: int                          # into the statistics' radii
    distances: List[float]              # moment distance per radius
    flagged: bool                       # the monitor's connectivity shift at the cutoff
    density_distances: Optional[List[float]] = None  # dense method: the smoothed-density view


def select_radius(atoms: Atoms, stats: ReferenceStatistics, method: str = "dense",
                  radii: Optional[Sequence[float]] = None) -> RadiusChoice:
    """The paper's algorithm over ``radii`` (default: every radius of the statistics).

    ``method="dense"`` takes the moments from the eigenvalues of each radius graph (the
    reference); ``"kernel"`` from the linear-scaling C++ kernel (what LAMMPS runs).
    """
    if method not in METHODS:
        raise ValueError(f"RR method must be one of {METHODS}, not {method!r}")
    cutoff = stats.radii[-1]
    grid = check_grid(stats.radii if radii is None else radii, cutoff)
    index = {round(r, 9): k for k, r in enumerate(stats.radii)}
    missing = [r for r in grid if round(r, 9) not in index]
    if missing:
        raise ValueError(f"no reference statistics for radii {missing}; the model has them for "
                         f"{stats.radii} (re-export with --rr-grid to add radii)")
    rows = [index[round(r, 9)] for r in grid]
    density_distances = None
    if method == "dense":
        spectra = [laplacian_spectrum(atoms, r) for r in grid]
        moments = np.array([dense_moments(ev) for ev in spectra])
        density_distances = [spectral_distance(spectral_density(ev), np.asarray(stats.densities[k]))
                             for ev, k in zip(spectra, rows)]
    else:
        moments = kernel_moments(atoms, grid)
    distances = [moment_distance(m, stats.moments[k], stats.moment_std[k])
                 for m, k in zip(moments, rows)]
    best = _core.choose_radius(distances, stats.rr_threshold)
    return RadiusChoice(radius=grid[best], index=rows[best], distances=distances,
                        flagged=distances[-1] > stats.threshold,
                        density_distances=density_distances)


__all__ = ["ReferenceStatistics", "RadiusChoice", "reference_statistics", "moment_statistics",
           "select_radius", "default_grid", "check_grid", "NUM_MOMENTS", "SPECTRUM_GRID"]
