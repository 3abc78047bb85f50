"""How mlff-ttt calls a TorchScript model, in one place: the C++ runner sets the same around
its model calls (cpp/model_runner.cpp), so Python and LAMMPS compute alike."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def model_call_settings():
    """TorchScript's plain interpreter (the optimizing executor re-profiles graphs whose size
    changes each call, and switches to fused graphs after a few calls, which round differently
    from the first ones) and float32 denormals flushed to zero (x86 computes on them at a
    fraction of full speed)."""
    optimize = torch._C._get_graph_executor_optimize(False)  # sets it, returns the old value
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
        torch._C._get_graph_executor_optimize(optimize)
