"""RR accuracy benchmark: force and energy MAE, baseline vs RR, of every shipped model on its
family's ID test split and OOD splits, with the fraction of structures whose radius changed.

    python tests/benchmarks/bench_rr_accuracy.py [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlff_ttt.evaluate import evaluate_model

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--family", choices=sorted(FAMILIES), help="only this model family")
    args = parser.parse_args()
    rows = []
    print(f"{'model':<12}{'split':<22}{'force base':>11}{'force RR':>10}{'change':>8}"
          f"{'E base':>9}{'E RR':>9}{'RR moved':>9}")
    families = [args.family] if args.family else list(FAMILIES)
    for models, splits in (FAMILIES[f] for f in families):
        for model in models:
            for split in splits:
                path = DATA / f"{split}.xyz"
                base = evaluate_model(MODELS / f"{model}.pt", path)
                refined = evaluate_model(MODELS / f"{model}.pt", path, rr=True)
                row = {"model": model, "split": split,
                       "force_mae": base["force_mae"], "force_mae_rr": refined["force_mae"],
                       "energy_mae": base["energy_mae"], "energy_mae_rr": refined["energy_mae"],
                       "rr_fraction_changed": refined["rr_fraction_changed"]}
                rows.append(row)
                change = row["force_mae_rr"] / row["force_mae"] - 1
                print(f"{model:<12}{split:<22}{row['force_mae']:>11.4f}{row['force_mae_rr']:>10.4f}"
                      f"{change:>+8.1%}{row['energy_mae']:>9.4f}{row['energy_mae_rr']:>9.4f}"
                      f"{row['rr_fraction_changed']:>9.0%}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
