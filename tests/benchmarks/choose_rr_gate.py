"""The evidence behind RR's gate (kRRGateStd in cpp/radius_refiner.h): for each shipped model
family's validation split (in distribution, never a test split), the share of structures the
connectivity flag (distance at the cutoff above the training mean + g standard deviations)
marks and the share RR would move off the trained cutoff, for g = 1..5, with the shipped model
files' reference statistics and the kernel the pair style runs.

    python tests/benchmarks/choose_rr_gate.py

The gate is the smallest whole g at which RR moves no validation structure of any family.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlff_ttt import _core
from mlff_ttt.data import read_frames
from mlff_ttt.model_file import read_metadata, reference_statistics_of
from mlff_ttt.refine.rr import select_radius

ROOT = Path(__file__).resolve().parents[2]
# one model per family: the models of a family share their training set and so their statistics
FAMILIES = {"si_schnet": "si_val", "mol_schnet": "mol_val", "md17_schnet": "md17_val"}
GATES = (1, 2, 3, 4, 5)


def distances(model: str, split: str):
    stats = reference_statistics_of(read_metadata(ROOT / "examples" / "models" / f"{model}.pt"))
    frames = read_frames(ROOT / "examples" / "data" / f"{split}.xyz")
    return stats, np.array([select_radius(atoms, stats, "kernel").distances for atoms in frames])


def main() -> None:
    print(f"{'split':<10}{'n':>4}{'max z':>8}" +
          "".join(f"{f'g={g} flag/move':>17}" for g in GATES))
    worst = 0
    for model, split in FAMILIES.items():
        stats, d = distances(model, split)
        mean, std = stats.distance_mean[-1], stats.distance_std[-1]
        cells = []
        for g in GATES:
            threshold = mean + g * std
            flagged = np.mean(d[:, -1] > threshold)
            moved = np.mean([_core.choose_radius(list(row), threshold) != len(row) - 1
                             for row in d])
            if moved > 0:
                worst = max(worst, g)
            cells.append(f"{flagged:>8.0%} /{moved:>5.0%}")
        z = (d[:, -1] - mean) / std
        print(f"{split:<10}{len(d):>4}{z.max():>8.2f}" + "".join(f"{c:>17}" for c in cells))
    print(f"smallest whole gate moving no validation structure: {worst + 1} "
          f"(this build uses {_core.RR_GATE_STD:g})")


if __name__ == "__main__":
    main()
