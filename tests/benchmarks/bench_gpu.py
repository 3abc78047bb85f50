"""`make gpu-check`'s speed part: atom-steps per second of pair_style mlff_ttt with `device
cuda`, both shipped float32 silicon architectures, 4096 and 32768 atoms, 1 MPI rank, the
monitor on (its default) and off; the same decks on one CPU core at 4096 atoms beside them.
The decks and the timing are `make bench`'s (bench_speed.Run: NVE at 600 K, the loop time of
the timed run after a warm-up run). Writes gpu_speed.json and gpu_speed.md to --out.

    python tests/benchmarks/bench_gpu.py [--device cuda] [--out runs/bench_gpu] [--steps 50]

`--device cpu` runs the same table on the CPU alone: what the test suite uses to keep this
script working on machines without a GPU (tests/test_gpu_check.py); its numbers are no GPU's.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_speed import ROOT, Run, interleaved, mlff  # noqa: E402

MODELS = ("si_schnet_f32.pt", "si_painn_f32.pt")


def device_name(device: str) -> str:
    import torch
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return platform.processor() or platform.machine()


def runs_for(device: str, sizes, steps: int, cpu_reference: bool) -> list[Run]:
    runs = []
    for model in MODELS:
        for atoms in sizes:
            for monitor in ("monitor off", ""):
                keywords = f"{monitor} device {device}".strip()
                runs.append(Run(f"{model} {device}{' monitor on' if not monitor else ''}",
                                mlff(model, keywords), atoms=atoms, steps=steps, warmup=5,
                                extra={"model": model, "device": device,
                                       "monitor": not monitor}))
        if cpu_reference:
            runs.append(Run(f"{model} cpu, 1 core", mlff(model, "monitor off device cpu"),
                            atoms=sizes[0], steps=max(3, steps // 10), warmup=2,
                            extra={"model": model, "device": "cpu", "monitor": False}))
    return runs


def markdown(report: dict) -> str:
    lines = [f"Device: {report['device_name']}; {report['date']}; `{report['command']}`", "",
             "| model | device | monitor | atoms | ms/step | atom-steps/s |",
             "|---|---|---|---:|---:|---:|"]
    for r in report["rows"]:
        lines.append(f"| {r['model']} | {r['device']} | {'on' if r['monitor'] else 'off'} | "
                     f"{r['atoms']} | {r['s_per_step'] * 1e3:.2f} | {r['atom_steps_per_s']:,.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 32768])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_gpu")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs = runs_for(args.device, args.sizes, args.steps, cpu_reference=args.device == "cuda")
    interleaved(runs, args.repeats, args.out / "work")
    report = {"device_name": device_name(args.device), "date": time.strftime("%Y-%m-%d %H:%M"),
              "command": " ".join(["python", *sys.argv]),
              "rows": [run.record() for run in runs]}
    (args.out / "gpu_speed.json").write_text(json.dumps(report, indent=1))
    (args.out / "gpu_speed.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
