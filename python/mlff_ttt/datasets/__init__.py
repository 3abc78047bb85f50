"""Deterministic dataset generators (reference/prior labels via LAMMPS)."""
