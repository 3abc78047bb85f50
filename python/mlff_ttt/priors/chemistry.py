"""Molecular priors: GFN-FF (``gfnff`` package) and RDKit's MMFF94.

Both perceive the topology from each frame's own geometry, so a label depends only on its
frame. Frames must be non-periodic, neutral, closed-shell molecules.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units

from .base import Labels, Prior, check_labels, small_molecule

KCAL_PER_MOL = units.kcal / units.mol  # eV
MAX_Z = 86  # both GFN2-xTB (the molecular datasets' reference) and GFN-FF cover H-Rn
# the elements of MMFF94's atom types for neutral molecules (Halgren 1996; its ions Li+ ... Zn2+
# never occur in a neutral closed-shell molecule of these priors)
MMFF_ELEMENTS = ("H", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Br", "I")
MIN_DISTANCE = 0.3  # A; closer atom pairs are rejected before calling the calculators


def check_molecule_frame(i: int, atoms) -> None:
    """Raise ValueError (naming frame i) for input the molecular calculators (these priors,
    and the datasets' GFN2-xTB reference) cannot handle."""
    if not isinstance(atoms, Atoms):
        raise ValueError(f"frame {i}: expected ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise ValueError(f"frame {i}: no atoms")
    if np.any(atoms.pbc):
        raise ValueError(f"frame {i}: only non-periodic molecules are supported (pbc={atoms.pbc.tolist()})")
    z = atoms.numbers
    if np.any((z < 1) | (z > MAX_Z)):
        raise ValueError(f"frame {i}: atomic numbers must be in 1..{MAX_Z}, got {sorted(set(z.tolist()))}")
    if int(z.sum()) % 2:
        raise ValueError(f"frame {i}: odd number of electrons; only neutral closed-shell "
                         "molecules are supported")
    pos = atoms.positions
    if not np.all(np.isfinite(pos)):
        raise ValueError(f"frame {i}: non-finite positions")
    if len(atoms) > 1:
        d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
        d[np.diag_indices_from(d)] = np.inf
        a, b = np.unravel_index(np.argmin(d), d.shape)
        if d[a, b] < MIN_DISTANCE:
            raise ValueError(f"frame {i}: atoms {a} and {b} are {d[a, b]:.3g} A apart "
                             f"(minimum {MIN_DISTANCE} A)")


def gfnff_single_point(numbers: np.ndarray, positions: np.ndarray) -> tuple[float, np.ndarray]:
    """GFN-FF energy (eV) and forces (eV/A); the topology is perceived from this geometry."""
    from gfnff import GFNFFCalculator

    pos_bohr = positions / units.Bohr
    with GFNFFCalculator(numbers, pos_bohr, printlevel=0) as calc:
        energy, gradient, _ = calc.singlepoint(numbers, pos_bohr)
    return float(energy) * units.Hartree, -np.asarray(gradient) * (units.Hartree / units.Bohr)


class MoleculePrior(Prior):
    """Frames checked by :func:`check_molecule_frame` (as the molecular datasets check theirs);
    ``single_point(numbers, positions)`` returns one frame's energy (eV) and forces (eV/A)."""

    def single_point(self, numbers: np.ndarray, positions: np.ndarray):
        raise NotImplementedError

    coverage = "H to Rn (Z 1-86), neutral closed-shell molecules"

    def covers(self, symbol: str) -> bool:
        return 1 <= Atoms(symbol).numbers[0] <= MAX_Z

    def compute(self, frames: list[Atoms]) -> Labels:
        frames = list(frames)
        self.check_elements(frames)
        for i, atoms in enumerate(frames):
            check_molecule_frame(i, atoms)
        energies, forces = [], []
        for i, atoms in enumerate(frames):
            try:
                energy, f = self.single_point(atoms.numbers, atoms.positions)
            except Exception as exc:
                raise ValueError(f"frame {i}: {self.name} calculation failed: {exc}") from exc
            energies.append(energy)
            forces.append(f)
        return check_labels(self, frames, np.array(energies), forces)

    def representative(self) -> Atoms:
        return small_molecule()


class GFNFF(MoleculePrior):
    """GFN-FF with a fresh topology per frame: the PRIOR labels of the molecular datasets
    (:func:`gfnff_single_point`). ``cost_per_atom``: measured on benzene."""

    name = "gfnff"

    def single_point(self, numbers, positions):
        return gfnff_single_point(numbers, positions)


class RDKitMMFF(MoleculePrior):
    """MMFF94 (RDKit) on bonds perceived from each frame's 3D geometry (XYZ block):
    ``bonds="orders"`` (default) runs ``rdDetermineBonds.DetermineBonds`` (connectivity,
    then bond orders of the neutral molecule); ``bonds="connectivity"`` only
    ``DetermineConnectivity``, so every bond is single and unsaturated atoms become
    radicals that MMFF mistypes (force correlation with the GFN2-xTB reference of
    mol_test.xyz: 0.71, against 0.91 with bond orders). No silent fallback between the
    two. kcal/mol -> eV, forces = -gradient. ``cost_per_atom``: measured on benzene."""

    name = "rdkit_mmff"
    units = {"bonds": "'orders' or 'connectivity'", "variant": "'MMFF94' or 'MMFF94s'"}
    coverage = ", ".join(MMFF_ELEMENTS) + " (MMFF94's neutral-molecule atom types)"

    def covers(self, symbol: str) -> bool:
        return symbol in MMFF_ELEMENTS

    def __init__(self, bonds: str = "orders", variant: str = "MMFF94"):
        if bonds not in ("orders", "connectivity"):
            raise ValueError(f"bonds must be 'orders' or 'connectivity', got {bonds!r}")
        if variant not in ("MMFF94", "MMFF94s"):
            raise ValueError(f"variant must be 'MMFF94' or 'MMFF94s', got {variant!r}")
        self.bonds, self.variant = bonds, variant

    def single_point(self, numbers, positions):
        from rdkit import Chem
        from rdkit.Chem import rdDetermineBonds, rdForceFieldHelpers

        symbols = Atoms(numbers=numbers).get_chemical_symbols()
        block = f"{len(numbers)}\n\n" + "".join(
            f"{s} {x:.10f} {y:.10f} {z:.10f}\n" for s, (x, y, z) in zip(symbols, positions))
        mol = Chem.MolFromXYZBlock(block)
        if self.bonds == "orders":
            rdDetermineBonds.DetermineBonds(mol, charge=0)
        else:
            rdDetermineBonds.DetermineConnectivity(mol)
        Chem.SanitizeMol(mol)  # ring info and valences, which MMFF typing needs
        props = rdForceFieldHelpers.MMFFGetMoleculeProperties(mol, mmffVariant=self.variant)
        if props is None:
            raise ValueError("MMFF atom typing failed")
        ff = rdForceFieldHelpers.MMFFGetMoleculeForceField(mol, props)
        # positions passed explicitly: the XYZ block rounded them to 1e-10 A
        flat = np.asarray(positions, dtype=float).ravel().tolist()
        energy = ff.CalcEnergy(flat) * KCAL_PER_MOL
        forces = -np.asarray(ff.CalcGrad(flat)).reshape(-1, 3) * KCAL_PER_MOL
        return energy, forces
