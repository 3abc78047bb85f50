"""Accuracy of an exported model on a labelled dataset (reference labels REF_*)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np

from .ase import MLFFCalculator
from .data import REF_ENERGY, REF_FORCES, read_frames


def evaluate_model(model_path: str | Path, data_path: str | Path) -> Dict[str, float]:
    calc = MLFFCalculator(str(model_path))
    energy_errors, force_errors, force_norms = [], [], []
    for index, atoms in enumerate(read_frames(data_path)):
        if REF_ENERGY not in atoms.info or REF_FORCES not in atoms.arrays:
            raise ValueError(f"{data_path}: frame {index} has no {REF_ENERGY}/{REF_FORCES} labels")
        reference_forces = atoms.arrays[REF_FORCES]
        atoms.calc = calc
        energy_errors.append((atoms.get_potential_energy() - atoms.info[REF_ENERGY]) / len(atoms))
        force_errors.append(atoms.get_forces() - reference_forces)
        force_norms.append(np.linalg.norm(reference_forces, axis=1))
    energy_errors = np.array(energy_errors)
    force_errors = np.concatenate(force_errors)
    return {
        "n_structures": len(energy_errors),
        "energy_mae": float(np.abs(energy_errors).mean()),        # eV/atom
        "energy_rmse": float(np.sqrt((energy_errors ** 2).mean())),
        "force_mae": float(np.abs(force_errors).mean()),          # eV/A, per component
        "force_rmse": float(np.sqrt((force_errors ** 2).mean())),
        "reference_mean_force_norm": float(np.concatenate(force_norms).mean()),
    }
