"""Cost of the label-free per-atom error signal in MD (`make bench-test-time`): the default
silicon model on a 4096-atom diamond box, NVE, with its TTT prior (Tersoff/mod) and
`ttt every` set beyond the run (the signal needs the prior; no update falls in the timed
steps), with and without `fix res all pair N mlff_ttt prior_residual 1` (N: --every, 1 and 10
by default), on 1 and 2 MPI ranks (1 thread each). Runs are interleaved over --rounds and the
median step times compared, so a slower spell of the machine falls on both. Step times here
vary by about 5% from run to run, as much as the signal costs every 10 steps, so the cost of
one sampled step is taken from N = 1 (where it is the whole difference) and the cost at every
10 and 50 steps given from it as well, beside the measured N.

    python tests/benchmarks/bench_prior_residual.py [--steps 200] [--rounds 3] [--every 1 10]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bench_speed import DEFAULT
from bench_ttt_md import step_time as ttt_step_time

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / DEFAULT
# no update within the run: the step-0 one of the warm-up is the only one (the gate's
# statistics make it a skip for a diamond crystal; either way it is outside the timed run)
STYLE = "ttt every 1000000 steps 1 lr 1e-3"
SIGNAL = "fix res all pair {every} mlff_ttt prior_residual 1\n"


def step_time(every: int, steps: int, nprocs: int, workdir: Path) -> float:
    """Seconds per step; every 0: without the signal."""
    fixes = SIGNAL.format(every=every) if every else ""
    return ttt_step_time(STYLE, steps, nprocs, workdir, model=MODEL, fixes=fixes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--every", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    print(f"4096 atoms, {args.steps} NVE steps after a 5-step warm-up, {MODEL.name}, "
          f"Tersoff/mod prior, {args.rounds} interleaved rounds")
    with tempfile.TemporaryDirectory() as tmp:
        for nprocs in (1, 2):
            times = {every: [] for every in [0, *args.every]}
            for _ in range(args.rounds):
                for every in times:
                    times[every].append(step_time(every, args.steps, nprocs, Path(tmp)))
            base = np.median(times[0])
            line = f"  {nprocs} rank(s): without {base * 1e3:.1f} ms/step"
            for every in args.every:
                t = np.median(times[every])
                line += f"; prior_residual every {every} {t * 1e3:.1f} ({t / base - 1:+.1%})"
            print(line, flush=True)
            if 1 in args.every:
                sampled = np.median(times[1]) - base    # one sampled step's extra seconds
                print(f"    one sampled step costs {sampled * 1e3:.1f} ms: every 10 steps "
                      f"{sampled / 10 / base:+.1%}, every 50 {sampled / 50 / base:+.1%}",
                      flush=True)


if __name__ == "__main__":
    main()
