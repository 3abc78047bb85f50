"""`make demo`: LAMMPS MD of the shipped silicon example with the shipped model on 2 MPI
ranks, reporting energy conservation and speed."""

import tempfile
from pathlib import Path

from nve_check import report, run_nve


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mlff_ttt_demo_") as tmp:
        result = run_nve(Path(tmp), nprocs=2)
    print(report(result))


if __name__ == "__main__":
    main()
