"""Damaged model files: seeded random mutations of a shipped model (bytes changed, cut, zeroed
or inserted) each end in an exception with a message from the C++ runner and the Python
reader, never a crash and never different numbers (tests/fuzz_model_file.py, in a subprocess
so that a crash fails the test instead of the test run)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_mutated_model_files_are_refused_or_unchanged():
    proc = subprocess.run([sys.executable, str(HERE / "fuzz_model_file.py"), "7", "300"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = dict(item.split("=") for item in proc.stdout.split())
    assert int(counts["refused"]) + int(counts["loaded"]) == 300
    assert int(counts["changed_results"]) == 0
