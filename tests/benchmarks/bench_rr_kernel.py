"""Speed of the radius-refinement kernel (mlff_ttt._core.moment_sums) against dense spectra.

    python tests/benchmarks/bench_rr_kernel.py [--max-atoms 1000000] [--json out.json]

Rattled diamond silicon supercells from about 1e2 atoms up, a periodic vesin neighbour list
at the largest radius (every atom owned), 9 radii from 2.7 to 4.5 A. Times moment_sums
(sorting rows and degrees included) with 1 and 2 threads and, up to 2000 atoms, the dense
reference (eigvalsh of M per radius). Stops after the first size where one step takes more
than --stop-after seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import ase.build
import numpy as np
import torch
from vesin import NeighborList

from mlff_ttt import _core
from mlff_ttt.refine.spectral import edge_weights

RADII = np.linspace(2.7, 4.5, 9)
REPEATS = (3, 4, 6, 8, 12, 17, 23, 30, 40, 50)  # cubic cells of 8 atoms: 216 ... 1e6 atoms
DENSE_MAX_ATOMS = 2000


def best_time(fn, budget=1.0, min_runs=2, max_runs=5):
    """Smallest wall time of a few runs (fewer when a run is slow); and the last result."""
    times, result = [], None
    while len(times) < min(min_runs, max_runs) or (len(times) < max_runs and sum(times) < budget):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def dense_moments(n, i, j, d):
    out = []
    for radius in RADII:
        close = d < radius
        a = np.eye(n)
        np.add.at(a, (i[close], j[close]), edge_weights(d[close], radius))
        inv_sqrt = 1.0 / np.sqrt(a.sum(axis=1))
        mu = np.linalg.eigvalsh(a * inv_sqrt[:, None] * inv_sqrt[None, :])
        out.append([np.sum(mu**k) for k in range(1, 5)])
    return np.array(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-atoms", type=int, default=1_000_000)
    parser.add_argument("--stop-after", type=float, default=60.0)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    threads = torch.get_num_threads()
    rows = []
    print(f"{'atoms':>9} {'edges':>10} {'neighbours s':>12} {'1 thread s':>11} "
          f"{'2 threads s':>11} {'dense s':>9} {'max |diff|':>10}")
    for k in REPEATS:
        atoms = ase.build.bulk("Si", "diamond", a=5.43, cubic=True).repeat((k, k, k))
        if len(atoms) > args.max_atoms:
            break
        atoms.rattle(0.1, seed=0)
        n = len(atoms)
        start = time.perf_counter()
        i, j, d = NeighborList(cutoff=RADII[-1], full_list=True).compute(
            points=atoms.positions, box=atoms.cell.array, periodic=True, quantities="ijd")
        edge_index = np.stack([i, j]).astype(np.int64)
        t_list = time.perf_counter() - start

        row = dict(atoms=n, edges=len(d), neighbour_list_s=t_list)
        for n_threads in (1, 2):
            torch.set_num_threads(n_threads)
            t, sums = best_time(lambda: _core.moment_sums(n, edge_index, d, RADII))
            row[f"moment_sums_{n_threads}_thread_s"] = t
        torch.set_num_threads(threads)
        if n <= DENSE_MAX_ATOMS:
            row["dense_s"], dense = best_time(lambda: dense_moments(n, i, j, d), max_runs=1)
            row["max_abs_diff_per_atom"] = float(np.abs(dense - sums).max() / n)
        rows.append(row)
        print(f"{n:>9} {len(d):>10} {t_list:>12.3f} {row['moment_sums_1_thread_s']:>11.4f} "
              f"{row['moment_sums_2_thread_s']:>11.4f} {row.get('dense_s', np.nan):>9.3f} "
              f"{row.get('max_abs_diff_per_atom', np.nan):>10.1e}", flush=True)
        if max(v for key, v in row.items() if key.endswith("_s")) > args.stop_after:
            break

    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(radii=RADII.tolist(), machine=platform.processor() or platform.machine(),
                           cpus=torch.get_num_threads(), results=rows), f, indent=2)


if __name__ == "__main__":
    main()
