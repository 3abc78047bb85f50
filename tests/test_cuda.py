"""The GPU path: `pair_style mlff_ttt ... device cuda` against `device cpu` in the same `lmp`.
On a machine with a CUDA device and a build with the CUDA spectral kernel (`make gpu-check`
runs them there); elsewhere they skip. With `device cuda` the model, the spectral moments of
RR and the monitor, and TTT's updates all run on the GPU; the forces must equal the CPU's to
1e-10 eV/A in float64 and 1e-5 in float32 (summation order differs on a GPU), on 1 and 2
ranks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import ROOT, TERSOFF, ranks, read_dump_forces, run_lmp, silicon_box, thermo_rows
from mlff_ttt import _core

pytestmark = [
    pytest.mark.cuda, pytest.mark.lammps,
    pytest.mark.skipif(not (torch.cuda.is_available() and _core.HAS_CUDA_KERNEL),
                       reason="needs a CUDA device and a build with the CUDA kernel"),
]

MODELS = ROOT / "examples" / "models"
# float64 and float32 models of both shipped architectures, with the tolerance of each dtype
# (forces, eV/A, absolute; the thermo rows, relative: TTT's losses in float32 carry 4-5 digits)
CASES = [("si_schnet.pt", 1e-10, 1e-8), ("si_painn.pt", 1e-10, 1e-8),
         ("si_schnet_f32.pt", 1e-5, 1e-4), ("si_painn_f32.pt", 1e-5, 1e-4)]

# RR, the monitor and TTT every 5 steps (TTT always adapts: gate_std 0) over 10 MD steps, then
# the forces of the final positions. Thermo prints the energy and the compute's entries
# 1-10 and 12-13 (not 11, TTT's wall time).
DECK = """{setup}displace_atoms all random 0.05 0.05 0.05 4321 units box
pair_style mlff_ttt rr every 5 monitor every 5 ttt every 5 steps 2 lr 1e-3 gate_std 0 device {device}
pair_coeff * * {model} Si
pair_coeff * * prior tersoff/mod {tersoff} Si
compute shift all pair mlff_ttt
thermo_style custom step pe {entries}
thermo_modify format float %.15g
thermo 5
velocity all create 900 4928459 mom yes rot yes
timestep 0.001
fix integrate all nve
run 10
write_dump all custom forces.dump id fx fy fz modify sort id format float %.17g
"""
ENTRIES = " ".join(f"c_shift[{k}]" for k in range(1, 14) if k != 11)


def run_on(device: str, model: str, nprocs: int, folder):
    folder.mkdir()
    proc = run_lmp(DECK.format(setup=silicon_box(3), device=device, model=MODELS / model,
                               tersoff=TERSOFF, entries=ENTRIES), folder, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return thermo_rows(proc.stdout), read_dump_forces(folder / "forces.dump")


@pytest.mark.parametrize("nprocs", ranks(1, 2))
@pytest.mark.parametrize("model, force_tolerance, row_tolerance", CASES)
def test_gpu_forces_equal_the_cpus(model, force_tolerance, row_tolerance, nprocs, tmp_path):
    cpu_rows, cpu_forces = run_on("cpu", model, nprocs, tmp_path / "cpu")
    gpu_rows, gpu_forces = run_on("cuda", model, nprocs, tmp_path / "cuda")
    np.testing.assert_allclose(gpu_forces, cpu_forces, rtol=0, atol=force_tolerance)
    # the energies, RR's radius, the spectral distance, the TTT losses: the same run
    np.testing.assert_allclose(gpu_rows, cpu_rows, rtol=row_tolerance, atol=1e-12)
