"""How well the label-free per-atom error signal (the prior residual |F_prior head - F_prior|,
what `fix ... pair N mlff_ttt prior_residual 1` gives in LAMMPS) tracks the true per-atom force
error |F_reference head - F_reference|, on every shipped model's held-out splits: Spearman's
rank correlation per atom within each split and pooled over them, and per structure (the
structures' mean residual against their force MAE).

    python tests/benchmarks/bench_error_signal.py [--out docs/error_signal.json] [--models M ...]

Both use the data's stored labels (PRIOR_* and REF_*); nothing here is fitted or tuned.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from mlff_ttt.calculator import MLFFCalculator
from mlff_ttt.data import REF_FORCES, read_frames
from mlff_ttt.refine.ttt import TTTEngine, TTTSettings, label_with_prior, load_module

ROOT = Path(__file__).resolve().parents[2]
DATA, MODELS = ROOT / "examples" / "data", ROOT / "examples" / "models"
SPLITS = {
    "si": ["si_test", "si_ood_liquid", "si_ood_amorphous", "si_ood_pressure", "si_ood_surface",
           "si_ood_vacancy"],
    # mol_ood_elements holds elements the molecular models were not trained on (no prediction)
    "mol": ["mol_test", "mol_ood_size", "mol_ood_connectivity", "mol_ood_force"],
    "md17": ["md17_val", "md17_ood_molecules"],
}
MODEL_SPLITS = {"si_schnet.pt": "si", "si_painn.pt": "si", "mol_schnet.pt": "mol",
                "mol_painn.pt": "mol", "md17_schnet.pt": "md17", "si_schnet_pretrain.pt": "si",
                "si_schnet64_pretrain.pt": "si", "si_painn_replay.pt": "si",
                "si_painn12_bounded.pt": "si", "md17_schnet_delta.pt": "md17"}


def per_atom(model: Path, split: str):
    """Residuals and true errors per atom, and per structure their means."""
    frames = label_with_prior(read_frames(DATA / f"{split}.xyz"), "labels")
    residuals = TTTEngine(load_module(model), TTTSettings()).prior_residuals(frames)
    calculator = MLFFCalculator(str(model))
    errors = []
    for atoms in frames:
        probe = atoms.copy()
        probe.calc = calculator
        errors.append(np.linalg.norm(probe.get_forces() - atoms.arrays[REF_FORCES], axis=1))
    return residuals, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table as JSON here")
    parser.add_argument("--models", nargs="+", choices=sorted(MODEL_SPLITS),
                        default=list(MODEL_SPLITS), help="only these shipped models")
    args = parser.parse_args()
    rows = []
    print("| model | split | atoms | mean residual (eV/A) | mean error (eV/A) | "
          "Spearman per atom | Spearman per structure |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        family = MODEL_SPLITS[name]
        pooled_r, pooled_e = [], []
        for split in SPLITS[family]:
            residuals, errors = per_atom(MODELS / name, split)
            r, e = np.concatenate(residuals), np.concatenate(errors)
            pooled_r.append(r)
            pooled_e.append(e)
            structure = spearmanr([x.mean() for x in residuals], [x.mean() for x in errors])
            row = {"model": name, "split": split, "atoms": int(r.size),
                   "mean_residual": float(r.mean()), "mean_error": float(e.mean()),
                   "spearman_atoms": float(spearmanr(r, e).statistic),
                   "spearman_structures": float(structure.statistic)}
            rows.append(row)
            print(f"| {name} | {split} | {row['atoms']} | {row['mean_residual']:.3f} | "
                  f"{row['mean_error']:.3f} | {row['spearman_atoms']:.2f} | "
                  f"{row['spearman_structures']:.2f} |", flush=True)
        r, e = np.concatenate(pooled_r), np.concatenate(pooled_e)
        row = {"model": name, "split": "all, pooled", "atoms": int(r.size),
               "mean_residual": float(r.mean()), "mean_error": float(e.mean()),
               "spearman_atoms": float(spearmanr(r, e).statistic), "spearman_structures": None}
        rows.append(row)
        print(f"| {name} | all, pooled | {row['atoms']} | {row['mean_residual']:.3f} | "
              f"{row['mean_error']:.3f} | {row['spearman_atoms']:.2f} | |", flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
