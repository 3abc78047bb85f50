"""mlff-ttt: machine-learning force fields for LAMMPS that hold up out of distribution."""

__version__ = "0.1.0"
