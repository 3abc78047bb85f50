"""In-distribution accuracy of every architecture x training mode on both dataset families.

    python tests/benchmarks/bench_accuracy.py [--epochs-si 40] [--epochs-mol 60] [--workers 2]

Each run trains from a generated YAML config under runs/accuracy/<family>_<arch>_<mode>/,
exports the best checkpoint and evaluates it on the family's ID test split. Finished runs
are skipped, so the script resumes. Prints a markdown table (force MAE in eV/A, energy MAE
in eV/atom) with the reference's mean force norm for scale.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "data"
FAMILIES = {
    "si": dict(train="si_train.xyz", val="si_val.xyz", test="si_test.xyz", elements=["Si"],
               cutoff=4.5, hidden=32, num_basis=16, shared_layers=1),
    "mol": dict(train="mol_train.xyz", val="mol_val.xyz", test="mol_test.xyz",
                elements=["H", "C", "N", "O"], cutoff=5.0, hidden=64, num_basis=32,
                shared_layers=2),
}
ARCHITECTURES = ("schnet", "painn")
MODES = ("reference", "joint", "pretrain-finetune")


def run_one(family: str, arch: str, mode: str, epochs: int, out_root: Path) -> dict:
    import torch

    from mlff_ttt.config import load_config
    from mlff_ttt.evaluate import evaluate_model
    from mlff_ttt.export import export_checkpoint
    from mlff_ttt.train import train

    torch.set_num_threads(1)
    spec = FAMILIES[family]
    out = out_root / f"{family}_{arch}_{mode}"
    result_path = out / "test_eval.json"
    if result_path.is_file():
        return json.loads(result_path.read_text())
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "data": {"train": str(DATA / spec["train"]), "val": str(DATA / spec["val"])},
        "model": {"architecture": arch, "elements": spec["elements"], "cutoff": spec["cutoff"],
                  "hidden": spec["hidden"], "num_basis": spec["num_basis"],
                  "shared_layers": spec["shared_layers"], "head_layers": 1},
        "training": {"mode": mode, "epochs": epochs, "pretrain_epochs": epochs // 2,
                     "batch_size": 8, "lr": 2.0e-3, "lr_patience": 5,
                     "early_stopping_patience": 15, "energy_weight": 100.0,
                     "force_weight": 10.0, "prior_weight": 1.0, "seed": 0, "threads": 1},
        "output": str(out / "run"),
    }
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    best = train(load_config(out / "config.yaml"), resume=True)
    export_checkpoint(best, out / "model.pt")
    result = evaluate_model(out / "model.pt", DATA / spec["test"])
    result.pop("structures")
    result.update(family=family, architecture=arch, mode=mode, epochs=epochs)
    result_path.write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-si", type=int, default=40)
    parser.add_argument("--epochs-mol", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "runs" / "accuracy"))
    args = parser.parse_args()
    jobs = [(f, a, m, args.epochs_si if f == "si" else args.epochs_mol, Path(args.out))
            for f in FAMILIES for a in ARCHITECTURES for m in MODES]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run_one, *zip(*jobs)))
    print("| family | architecture | mode | epochs | force MAE | energy MAE | "
          "mean REF force norm |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['family']} | {r['architecture']} | {r['mode']} | {r['epochs']} | "
              f"{r['force_mae']:.4f} | {r['energy_mae']:.4f} | "
              f"{r['reference_mean_force_norm']:.2f} |")


if __name__ == "__main__":
    main()
