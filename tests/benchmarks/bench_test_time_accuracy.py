"""Accuracy of the test-time refinements: force and energy MAE of every shipped model on its
family's ID test split and OOD splits, baseline vs RR vs TTT vs RR+TTT, with the fraction of
structures whose radius RR changed and the prior's own force error.

    python tests/benchmarks/bench_test_time_accuracy.py [--family si|mol|md17] [--json OUT]

TTT adapts transductively on each split's structures (the paper's protocol) with the default
settings (mlff_ttt.refine.ttt.TTTSettings) and the prior recorded in the model file, computed live.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mlff_ttt.data import PRIOR_FORCES, REF_FORCES, read_frames
from mlff_ttt.evaluate import evaluate_model
from mlff_ttt.refine.ttt import TTTSettings

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models"
DATA = ROOT / "examples" / "data"
FAMILIES = {
    "si": (["si_schnet", "si_painn"], ["si_test", "si_ood_vacancy", "si_ood_surface",
                                       "si_ood_amorphous", "si_ood_pressure", "si_ood_liquid"]),
    "mol": (["mol_schnet", "mol_painn"], ["mol_test", "mol_ood_force", "mol_ood_size",
                                          "mol_ood_connectivity"]),
    "md17": (["md17_schnet"], ["md17_val", "md17_ood_molecules"]),
}
VARIANTS = {"base": {}, "rr": {"rr": True}, "ttt": {"ttt": TTTSettings()},
            "rr+ttt": {"rr": True, "ttt": TTTSettings()}}


def prior_force_mae(path: Path) -> float:
    frames = read_frames(path)
    return float(np.mean(np.concatenate(
        [np.abs(a.arrays[PRIOR_FORCES] - a.arrays[REF_FORCES]).ravel() for a in frames])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--family", choices=sorted(FAMILIES), help="only this model family")
    args = parser.parse_args()
    rows = []
    print(f"{'model':<12}{'split':<22}" + "".join(f"{v:>10}" for v in VARIANTS) +
          f"{'prior':>9}{'RR moved':>9}{'TTT':>5}   energy MAE (eV/atom) per variant")
    for family in [args.family] if args.family else list(FAMILIES):
        models, splits = FAMILIES[family]
        for model in models:
            for split in splits:
                path = DATA / f"{split}.xyz"
                results = {name: evaluate_model(MODELS / f"{model}.pt", path, **options)
                           for name, options in VARIANTS.items()}
                row = {"model": model, "split": split, "prior_force_mae": prior_force_mae(path),
                       "rr_fraction_changed": results["rr"]["rr_fraction_changed"],
                       "ttt_adapted": not results["ttt"]["ttt"]["skipped"]}
                for name, result in results.items():
                    row[f"force_mae_{name}"] = result["force_mae"]
                    row[f"energy_mae_{name}"] = result["energy_mae"]
                rows.append(row)
                print(f"{model:<12}{split:<22}" +
                      "".join(f"{row[f'force_mae_{v}']:>10.4f}" for v in VARIANTS) +
                      f"{row['prior_force_mae']:>9.4f}{row['rr_fraction_changed']:>9.0%}"
                      f"{'yes' if row['ttt_adapted'] else 'no':>5}   " +
                      " ".join(f"{row[f'energy_mae_{v}']:.4f}" for v in VARIANTS), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
