"""docs/new-system.md, run as written: its files are written and its shell blocks run in order
in an empty folder (only the epochs are cut), so the walkthrough for a system the project never
shipped (EMT aluminium with a Morse prior) cannot rot."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import BIN

pytestmark = [pytest.mark.lammps, pytest.mark.mpi, pytest.mark.slow]

PAGE = Path(__file__).resolve().parents[1] / "docs" / "new-system.md"
BLOCK = re.compile(r"^```(\w+)(?: file=(\S+))?\n(.*?)^```", re.M | re.S)


def blocks():
    return [(kind, name, body) for kind, name, body in BLOCK.findall(PAGE.read_text())]


def ttt_rows(path: Path):
    """The TTT log's update rows (numbers only; comment lines start with #)."""
    return [line.split() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_the_walkthrough_runs_as_written(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    shells = 0
    for kind, name, body in blocks():
        if name:
            if name == "al.yaml":
                assert "epochs: 60" in body
                body = body.replace("epochs: 60", "epochs: 3")   # a test-sized training
            (tmp_path / name).write_text(body)
        elif kind == "bash":
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"{body}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            shells += 1
    assert shells == 3

    info = json.loads((tmp_path / "al_info.json").read_text())
    assert info["elements"] == ["Al"]
    assert "morse" in json.dumps(info) and "0.2703" in json.dumps(info)
    calibration = info["ttt_calibration"]    # export's default: the validation pseudo-OOD part
    assert calibration["n_structures"] == {"pseudo_ood": 4} and len(calibration["candidates"]) == 4
    assert calibration["choice"] == "off" or set(calibration["choice"]) == {"steps", "lr"}

    # every 10 steps of 30 (step 0 included), each update's loss finite and positive
    for kind in ("morse", "registry"):
        rows = ttt_rows(tmp_path / f"ttt_{kind}.log")
        assert [int(row[0]) for row in rows] == [0, 10, 20, 30], kind
        assert all(0 < float(row[1]) < 1e6 for row in rows), rows

    # the pair-style prior is not the registry Morse the prior head was trained on: it warns;
    # the registry prior is, and does not
    warning = "WARNING: mlff_ttt: the model's prior head was trained on the prior morse:"
    assert warning in (tmp_path / "log.al_morse").read_text()
    assert "trained on the prior" not in (tmp_path / "log.al_registry").read_text()

    # the error signal's largest value is printed with the thermo output, positive and finite
    log = (tmp_path / "log.al_morse").read_text().splitlines()
    header = next(k for k, line in enumerate(log)
                  if line.split()[:4] == ["Step", "Temp", "PotEng", "c_rmax"])
    rmax = [float(line.split()[3]) for line in log[header + 1:header + 5]]
    assert all(0 < value < 100 for value in rmax), rmax
