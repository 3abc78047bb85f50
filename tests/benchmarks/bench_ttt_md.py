"""Step time of TTT inside LAMMPS (`make bench-test-time`, last part): a 4096-atom diamond
silicon box (shipped si_schnet, Tersoff/mod prior), 200 NVE steps without TTT and with
`ttt every 100 steps 5 lr 1e-3`, on 1 and 2 MPI ranks (1 thread each).

    python tests/benchmarks/bench_ttt_md.py [--steps 200]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_rr_md import ENV, MODEL, SPEED_DECK

POTENTIAL = Path(__import__("lammps").__file__).parent / "share" / "lammps" / "potentials" / \
    "Si.tersoff.mod"
BIN = Path(sys.prefix) / "bin"


def step_time(style: str, steps: int, nprocs: int, workdir: Path, model: Path = MODEL,
              fixes: str = "") -> float:
    """Seconds per step of the speed deck with the Tersoff/mod prior line and `fixes` (deck
    lines after the integrator's)."""
    deck = SPEED_DECK.format(style=style, model=model, steps=steps).replace(
        f"pair_coeff   * * {model} Si",
        f"pair_coeff   * * {model} Si\npair_coeff   * * prior tersoff/mod {POTENTIAL} Si")
    integrate = "fix          integrate all nve\n"
    deck = deck.replace(integrate, integrate + fixes)
    (workdir / "in.deck").write_text(deck)
    cmd = [str(BIN / "lmp"), "-in", "in.deck", "-log", "none"]
    if nprocs > 1:
        cmd = [str(BIN / "mpiexec"), "-np", str(nprocs)] + cmd
    proc = subprocess.run(cmd, cwd=workdir, env=ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-2000:])
    return float(re.findall(r"Loop time of (\S+) on", proc.stdout)[1]) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    print(f"4096 atoms, {args.steps} NVE steps after a 5-step warm-up, {MODEL.name}, "
          "monitor at its default (every 10 steps)")
    with tempfile.TemporaryDirectory() as tmp:
        for nprocs in (1, 2):
            base = step_time("", args.steps, nprocs, Path(tmp))
            ttt = step_time("ttt every 100 steps 5 lr 1e-3 gate_std 0", args.steps, nprocs, Path(tmp))
            print(f"  {nprocs} rank(s): no TTT {base * 1e3:.1f} ms/step, ttt every 100 steps 5 "
                  f"{ttt * 1e3:.1f} ms/step ({ttt / base - 1:+.1%})", flush=True)


if __name__ == "__main__":
    main()
