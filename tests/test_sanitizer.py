"""A CI-sized sanitizer run (`make asan` runs 10000 steps): the pair style and the C++ core
built with AddressSanitizer run MD with TTT every 100 steps, RR every 100 and the monitor every
10, for 100 and for 1000 steps. No invalid memory access, no leak through our code, and the
leaked bytes (what Python and libtorch hold until exit) do not grow with the run's length."""

import subprocess
from pathlib import Path

import pytest

import sanitizer_run

pytestmark = [pytest.mark.lammps, pytest.mark.slow]  # builds the plugin under ASan, runs lmp


def have_libasan() -> bool:
    try:
        return Path(sanitizer_run.libasan()).is_file()
    except (RuntimeError, OSError, subprocess.CalledProcessError):
        return False


@pytest.mark.skipif(not have_libasan(), reason="gcc's AddressSanitizer runtime is not installed")
def test_md_with_ttt_and_rr_under_address_sanitizer(tmp_path):
    sanitizer_run.build()
    result = sanitizer_run.compare(1000, tmp_path)
    for run in (result["short"], result["long"]):
        assert run["completed"], run
        assert run["access_errors"] == [], run
        assert run["leaks_through_our_code"] == 0, run["first_leak_of_ours"]
        assert run["leaked_bytes"] > 0    # the report was read (Python keeps objects to exit)
    assert abs(result["leak_growth_bytes"]) < sanitizer_run.GROWTH_LIMIT, result
