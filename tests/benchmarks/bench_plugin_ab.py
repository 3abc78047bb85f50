"""Time per MD step of two builds of the plugin on the same deck, interleaved: what a change
to the pair style costs (issue 16: finding the image owners at every graph build instead of
caching them). Both plugins are loaded into the Python-driven LAMMPS (no auto-loading).

    python tests/benchmarks/bench_plugin_ab.py OLD_PLUGIN.so NEW_PLUGIN.so [--cells 8]
        [--steps 50] [--repeats 5] [--model examples/models/si_schnet_f32.pt]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import SILICON  # noqa: E402  (the benchmark's silicon box)

RUN = """
import sys, time, lammps
lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
lmp.command("plugin load " + sys.argv[1])
lmp.commands_string('''
{silicon}
pair_style mlff_ttt monitor off
pair_coeff * * {model} Si
velocity all create 600 4928459 mom yes rot yes
fix integrate all nve
run 5
''')
start = time.perf_counter()
lmp.command("run {steps}")
print((time.perf_counter() - start) / {steps})
"""


def step_time(plugin: str, args) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1",
               LD_LIBRARY_PATH=f"{Path(sys.prefix) / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}")
    env.pop("LAMMPS_PLUGIN_PATH", None)
    script = RUN.format(silicon=SILICON.format(cells=args.cells), model=args.model,
                        steps=args.steps)
    out = subprocess.run([sys.executable, "-c", script, plugin], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default=str(ROOT / "examples/models/si_schnet_f32.pt"))
    args = parser.parse_args()
    times = {"old": [], "new": []}
    for _ in range(args.repeats):
        for name in ("old", "new"):
            times[name].append(step_time(getattr(args, name), args))
    old, new = (statistics.median(times[k]) for k in ("old", "new"))
    print(json.dumps({"atoms": 8 * args.cells ** 3, "steps": args.steps, "model": args.model,
                      "seconds_per_step": times, "median_old": old, "median_new": new,
                      "change_percent": 100 * (new - old) / old}, indent=1))


if __name__ == "__main__":
    main()
