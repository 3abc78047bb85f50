"""The label-free stop rule (TTTSettings.stop_std) on the validation OOD splits: force MAE
(eV/A) after TTT (50 steps, lr 1e-3, adapting on each split) for each stop level, in
standard deviations of the validation prior loss above its mean (0: no rule).

    python tests/benchmarks/choose_ttt_stop.py [MODEL.pt ...]

Only validation splits (examples/data/val_ood) are read: the rule is chosen here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mlff_ttt.evaluate import evaluate_model
from mlff_ttt.refine.ttt import TTTSettings

ROOT = Path(__file__).resolve().parents[2]
SPLITS = sorted((ROOT / "examples" / "data" / "val_ood").glob("si_val_ood_*.xyz"))
LEVELS = (0.0, 2.0, 20.0)


def main() -> None:
    models = sys.argv[1:] or [str(ROOT / "examples" / "models" / f"{m}.pt")
                              for m in ("si_schnet", "si_painn")]
    print(f"{'model':<22}{'split':<24}" + "".join(f"{'stop ' + format(s, 'g'):>10}"
                                                  for s in LEVELS))
    for model in models:
        for split in SPLITS:
            maes = [evaluate_model(model, split, ttt=TTTSettings(stop_std=level))["force_mae"]
                    for level in LEVELS]
            print(f"{Path(model).name:<22}{split.stem:<24}" +
                  "".join(f"{m:>10.4f}" for m in maes), flush=True)


if __name__ == "__main__":
    main()
