"""Markdown table of labelled datasets: size, elements, reference force scale and how well
the prior's forces track the reference (the numbers the README's dataset table shows).

    python -m mlff_ttt.datasets.summary examples/data/*.xyz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..data import PRIOR_FORCES, REF_FORCES, read_frames


def summarize(path: str | Path) -> dict:
    frames = read_frames(path)
    ref = np.concatenate([a.arrays[REF_FORCES] for a in frames])
    prior = np.concatenate([a.arrays[PRIOR_FORCES] for a in frames])
    sizes = [len(a) for a in frames]
    return {
        "file": Path(path).name,
        "frames": len(frames),
        "atoms": f"{min(sizes)}-{max(sizes)}" if min(sizes) != max(sizes) else str(sizes[0]),
        "elements": " ".join(sorted({s for a in frames for s in a.get_chemical_symbols()})),
        "mean_ref_force_norm": float(np.linalg.norm(ref, axis=1).mean()),
        "prior_ref_force_correlation": float(np.corrcoef(ref.ravel(), prior.ravel())[0, 1]),
        "size_kb": Path(path).stat().st_size / 1024,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    print("| file | frames | atoms | elements | mean REF force norm (eV/A) | "
          "corr(PRIOR, REF) forces | size (kB) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in args.files:
        s = summarize(path)
        print(f"| {s['file']} | {s['frames']} | {s['atoms']} | {s['elements']} | "
              f"{s['mean_ref_force_norm']:.2f} | {s['prior_ref_force_correlation']:.3f} | "
              f"{s['size_kb']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
