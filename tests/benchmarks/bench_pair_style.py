"""`make bench`: speed of pair_style mlff_ttt on a 4096-atom periodic silicon box.

Prints atom-steps per second on 1 and 2 MPI ranks, and the ratio of the pair style's time
per step (LAMMPS's "Pair" timer) to a raw TorchScript forward + backward on the very graph
the pair style evaluated at the last step (captured through the Python hook), both with one
thread and TorchScript's graph optimizer off, as the C++ runner calls the model.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / "si_schnet.pt"
STEPS = 20

DECK = """
units        metal
atom_style   atomic
lattice      diamond 5.431
region       box block 0 8 0 8 0 8
create_box   1 box
create_atoms 1 box
mass         1 28.0855
pair_style   mlff_ttt
pair_coeff   * * {model} Si
velocity     all create 600 4928459 mom yes rot yes
timestep     0.001
fix          integrate all nve
thermo       {steps}
run          5    # warm-up: the first model calls are slower
run          {steps}
# outside the timed run: hand the final graph to the hook for the raw-model comparison
pair_style   mlff_ttt hook every 1 capture_graph:save
pair_coeff   * * {model} Si
run          0
"""


def run_lammps(workdir: Path, nprocs: int) -> dict:
    (workdir / "in.bench").write_text(DECK.format(model=MODEL, steps=STEPS))
    cmd = [str(Path(sys.prefix) / "bin" / "lmp"), "-in", "in.bench", "-log", "none"]
    if nprocs > 1:
        cmd = [str(Path(sys.prefix) / "bin" / "mpiexec"), "-np", str(nprocs)] + cmd
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).parent),
               MLFF_TTT_BENCH_GRAPH=str(workdir / "graph.npz"))
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-3000:])
    out = proc.stdout
    natoms = int(re.search(r"for \d+ steps with (\d+) atoms", out).group(1))
    # timings of the second run (the first is the warm-up, the third the 0-step capture)
    loop = float(re.findall(r"Loop time of (\S+) on", out)[1])
    pair_avg = float(re.findall(r"^Pair\s*\|\s*\S+\s*\|\s*(\S+)", out, flags=re.M)[1])
    nghost = float(re.search(r"^Nghost:\s*(\S+) ave", out, flags=re.M).group(1))
    return {"natoms": natoms, "atom_steps_per_s": natoms * STEPS / loop,
            "pair_s_per_step": pair_avg / STEPS, "nghost_per_rank": nghost}


def raw_model_time(graph_file: Path, repeats: int = 10) -> tuple[float, int, int]:
    torch.set_num_threads(1)
    torch._C._get_graph_executor_optimize(False)  # sets it; the runner does the same
    model = torch.jit.load(str(MODEL))
    data = np.load(graph_file)
    species = torch.from_numpy(data["species"])
    edge_index = torch.from_numpy(data["edge_index"])
    edge_vec = torch.from_numpy(data["edge_vec"])
    n_local = int(data["n_local"])

    def call():
        vec = edge_vec.clone().requires_grad_(True)
        energy = model(species, edge_index, vec)[:n_local].sum()
        torch.autograd.grad(energy, vec)

    call()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats, species.shape[0], edge_index.shape[1]


def main() -> None:
    if not MODEL.is_file():
        sys.exit(f"{MODEL} is missing")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"torch {torch.__version__}; model {MODEL.name}; {STEPS} NVE steps, 1 thread per rank")
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for nprocs in (1, 2):
            workdir = Path(tmp) / f"np{nprocs}"
            workdir.mkdir()
            results[nprocs] = run_lammps(workdir, nprocs)
            r = results[nprocs]
            print(f"{nprocs} rank(s): {r['natoms']} atoms, {r['nghost_per_rank']:.0f} ghosts/rank, "
                  f"{r['atom_steps_per_s']:.0f} atom-steps/s, pair {r['pair_s_per_step'] * 1e3:.1f} ms/step")
        raw, nodes, edges = raw_model_time(Path(tmp) / "np1" / "graph.npz")
    pair = results[1]["pair_s_per_step"]
    print(f"raw TorchScript forward+backward on the last 1-rank graph ({nodes} nodes, {edges} edges): "
          f"{raw * 1e3:.1f} ms")
    print(f"pair style / raw model time per step: {pair / raw:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
