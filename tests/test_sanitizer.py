"""A CI-sized sanitizer run: the pair style and the C++ core built with AddressSanitizer run
100 steps of MD with TTT every 100 steps (steps 0 and 100), RR every 100 and the monitor every
10: no invalid memory access and no leak through our code. Each run costs about 3 minutes here
whatever its length (libtorch's start and the exit-time leak scan under the sanitizer), so the
comparison of a short and a long run, which shows that what Python and libtorch hold until
exit does not grow with the run's length, is `make asan`'s (1000 and 10000 steps)."""

import subprocess
from pathlib import Path

import pytest

import sanitizer_run

# builds the plugin under ASan, runs lmp; not in make test (make test-sanitizer, make asan)
pytestmark = [pytest.mark.lammps, pytest.mark.slow, pytest.mark.sanitizer]


def have_libasan() -> bool:
    try:
        return Path(sanitizer_run.libasan()).is_file()
    except (RuntimeError, OSError, subprocess.CalledProcessError):
        return False


@pytest.mark.skipif(not have_libasan(), reason="gcc's AddressSanitizer runtime is not installed")
def test_md_with_ttt_and_rr_under_address_sanitizer(tmp_path):
    sanitizer_run.build()
    run = sanitizer_run.run(100, tmp_path)
    assert run["completed"], run
    assert run["access_errors"] == [], run
    assert run["leaks_through_our_code"] == 0, run["first_leak_of_ours"]
    assert run["leaked_bytes"] > 0    # the report was read (Python keeps objects to exit)
