"""Recipes side by side on silicon: force MAE (eV/A) of model files on the validation splits
(si_val, the validation OOD splits) and the test splits (si_test, si_ood_*), plain, with
default TTT and with the file's calibrated TTT, beside the prior (Tersoff/mod) alone.

    python tests/benchmarks/bench_recipes.py MODEL.pt [MODEL.pt ...] [--json OUT]
        [--splits val|test|all]

TTT adapts transductively on each split (the paper's protocol, as bench_test_time_accuracy).
The choice between recipes reads the validation rows; the test rows only report.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlff_ttt.evaluate import evaluate_model
from mlff_ttt.model_file import read_metadata
from mlff_ttt.refine.calibration import calibrated_settings
from mlff_ttt.refine.ttt import TTTSettings

from bench_test_time_accuracy import prior_force_mae

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "data"
KINDS = ["vacancy", "surface", "amorphous", "pressure", "liquid"]
SPLITS = {"val": [DATA / "si_val.xyz"] + [DATA / "val_ood" / f"si_val_ood_{k}.xyz" for k in KINDS],
          "test": [DATA / "si_test.xyz"] + [DATA / f"si_ood_{k}.xyz" for k in KINDS]}


def variants(model: Path) -> dict:
    out = {"plain": None, "ttt": TTTSettings()}
    try:
        out["ttt_cal"] = calibrated_settings(read_metadata(model))
    except ValueError:    # no calibration in the file
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--json")
    parser.add_argument("--splits", choices=["val", "test", "all"], default="all")
    args = parser.parse_args()
    paths = SPLITS["val"] + SPLITS["test"] if args.splits == "all" else SPLITS[args.splits]
    rows = []
    print(f"{'model':<22}{'split':<24}{'plain':>8}{'ttt':>8}{'ttt_cal':>8}{'prior':>8}")
    for model in map(Path, args.models):
        options = variants(model)
        for path in paths:
            row = {"model": model.name, "split": path.stem, "prior": prior_force_mae(path)}
            done = {}    # a calibrated choice equal to another variant's is not run again
            for name, settings in options.items():
                key = None if settings is None or settings.steps == 0 else repr(settings)
                if key not in done:
                    done[key] = evaluate_model(model, path, ttt=settings)["force_mae"]
                row[name] = done[key]
            rows.append(row)
            print(f"{model.name:<22}{path.stem:<24}" +
                  "".join(f"{row[k]:>8.4f}" if k in row else f"{'-':>8}"
                          for k in ("plain", "ttt", "ttt_cal", "prior")), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
