"""Hook functions used by the tests: they record what the pair style hands them."""

import os
from pathlib import Path

import numpy as np

RECORDS = []  # filled when LAMMPS runs inside the test's own Python process


def record(graph):
    """Keeps the graph in RECORDS (in-process runs)."""
    RECORDS.append(graph)


def save(graph):
    """Writes the graph to $MLFF_TTT_HOOK_OUT/rank<r>_step<s>.npz (runs under `lmp`)."""
    out = Path(os.environ["MLFF_TTT_HOOK_OUT"])
    np.savez(out / f"rank{graph.rank}_step{graph.step}.npz",
             positions=graph.positions.numpy(), species=graph.species.numpy(),
             edge_index=graph.edge_index.numpy(), edge_vec=graph.edge_vec.numpy(),
             n_local=graph.n_local, size=graph.size, step=graph.step, rank=graph.rank,
             prefix=__import__("sys").prefix)


def fail(graph):
    raise RuntimeError("hook failure requested by the test")
