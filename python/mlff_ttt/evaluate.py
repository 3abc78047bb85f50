"""Accuracy of an exported model on a labelled dataset (reference labels REF_*)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np

from .files import write_atomically
from .calculator import MLFFCalculator
from .data import REF_ENERGY, REF_FORCES, read_frames
from .refine.ttt import TTTSettings, adapt_model


def evaluate_model(model_path: str | Path, data_path: str | Path,
                   plot: Optional[str | Path] = None, rr: bool = False,
                   rr_method: str = "dense", ttt: Optional[TTTSettings] = None,
                   ttt_per_structure: bool = False,
                   prior=None) -> Dict[str, object]:
    """Energy errors per atom (eV/atom) and force errors per component (eV/A): overall, per
    element and per structure; optionally a parity plot of energies and forces. With ``rr``
    every structure is evaluated at its radius-refined radius (in the per-structure record).
    With ``ttt`` the model is first adapted on all the split's structures (transductively, as
    the paper does), or with ``ttt_per_structure`` on each structure alone; prior labels come
    from ``prior`` (a prior spec or a prior object, docs/priors.md; default: the model file's
    prior, else the data's PRIOR_* labels)."""
    frames = read_frames(data_path)
    model, ttt_record = str(model_path), None
    if ttt is not None and not ttt_per_structure:
        model, ttt_record = adapt_model(model_path, frames, ttt, prior)
    calc = MLFFCalculator(model, rr=rr, rr_method=rr_method,
                          ttt=ttt if ttt_per_structure else None, prior=prior)
    per_structure, symbols = [], []
    true_e, pred_e, true_f, pred_f = [], [], [], []
    for index, atoms in enumerate(frames):
        if REF_ENERGY not in atoms.info or REF_FORCES not in atoms.arrays:
            raise ValueError(f"{data_path}: frame {index} has no {REF_ENERGY}/{REF_FORCES} labels")
        reference_forces = atoms.arrays[REF_FORCES]
        atoms.calc = calc
        n = len(atoms)
        true_e.append(atoms.info[REF_ENERGY] / n)
        pred_e.append(atoms.get_potential_energy() / n)
        true_f.append(reference_forces)
        pred_f.append(atoms.get_forces())
        symbols += atoms.get_chemical_symbols()
        per_structure.append({
            "index": index, "formula": atoms.get_chemical_formula(), "n_atoms": n,
            "energy_error": pred_e[-1] - true_e[-1],
            "force_mae": float(np.abs(pred_f[-1] - reference_forces).mean()),
        })
        if rr:
            per_structure[-1].update(rr_radius=calc.rr_choice.radius,
                                     rr_flagged=calc.rr_choice.flagged,
                                     rr_distances=calc.rr_choice.distances)
    true_e, pred_e = np.array(true_e), np.array(pred_e)
    true_f, pred_f = np.concatenate(true_f), np.concatenate(pred_f)
    energy_errors, force_errors = pred_e - true_e, pred_f - true_f
    symbols = np.array(symbols)
    result = {
        "n_structures": len(per_structure),
        "energy_mae": float(np.abs(energy_errors).mean()),
        "energy_rmse": float(np.sqrt((energy_errors ** 2).mean())),
        "force_mae": float(np.abs(force_errors).mean()),
        "force_rmse": float(np.sqrt((force_errors ** 2).mean())),
        "reference_mean_force_norm": float(np.linalg.norm(true_f, axis=1).mean()),
        "per_element_force_mae": {el: float(np.abs(force_errors[symbols == el]).mean())
                                  for el in sorted(set(symbols))},
        "structures": per_structure,
    }
    if ttt_record is not None:
        result["ttt"] = {k: v for k, v in ttt_record.items() if k != "history"}
    if rr:
        cutoff = calc.cutoff
        result["rr_fraction_changed"] = float(np.mean([s["rr_radius"] != cutoff
                                                       for s in per_structure]))
    if plot:
        _parity_plot(true_e, pred_e, true_f, pred_f, result, plot)
    return result


def _parity_plot(true_e, pred_e, true_f, pred_f, result, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_e, ax_f) = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, x, y, label, mae in ((ax_e, true_e, pred_e, "energy (eV/atom)", result["energy_mae"]),
                                 (ax_f, true_f.ravel(), pred_f.ravel(), "force component (eV/A)",
                                  result["force_mae"])):
        ax.scatter(x, y, s=4, alpha=0.5)
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(f"reference {label}")
        ax.set_ylabel(f"model {label}")
        ax.set_title(f"MAE {mae:.4g}")
    fig.tight_layout()
    write_atomically(path, lambda partial: fig.savefig(partial, dpi=120))
    plt.close(fig)
