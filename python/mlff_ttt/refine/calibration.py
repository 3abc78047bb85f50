"""TTT calibrated on labelled data, at export (docs/ttt.md, "Calibration").

A user has no reference labels out of distribution, so TTT's settings cannot be chosen where
TTT will act. By default the stand-in is carved out of the validation set: the structures the
prior head fits worst (the highest per-structure prior loss, the measure TTT's gate reads),
the ones least like what the model fits. Labelled sets of the user's own (``mlff-ttt export
--calibration``: structures beyond the training set, such as the project's validation OOD
splits) replace it. On each set, as a benchmark split is, each candidate setting adapts the
exported model (transductively, gate off: what an update does once the gate lets it through)
and is scored by the *reference* force MAE there over the plain model's; ``choose`` picks one
or "off". The record, every candidate's scores included, goes into the model file
(``ttt_calibration``), which ``mlff-ttt evaluate --ttt-calibrated`` and the deck's ``ttt every
N calibrated`` read.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import torch
from ase import Atoms

from ..data import REF_FORCES
from ..model_file import DTYPES
from .ttt import (STORED_LABELS, TTTEngine, TTTSettings, label_with_prior,
                  structure_prior_losses)

# (steps, learning rate) of Adam: the default setting and lighter ones around it
CANDIDATES = ((10, 3e-4), (10, 1e-3), (50, 3e-4), (50, 1e-3))
# the share of validation structures taken as the pseudo-OOD set, and its smallest size
PSEUDO_OOD_FRACTION = 0.25
PSEUDO_OOD_MIN = 4
# a setting must lower the pseudo-OOD force error by more than this fraction to be chosen
MARGIN = 0.02


def pseudo_ood(module: torch.jit.ScriptModule, structures: Sequence[Atoms]) -> List[int]:
    """Indices of the validation structures whose prior-head loss is highest (the quarter of
    them, at least PSEUDO_OOD_MIN), highest first."""
    losses = structure_prior_losses(module, structures, DTYPES[str(module.dtype)])
    n = min(len(losses), max(PSEUDO_OOD_MIN, int(round(PSEUDO_OOD_FRACTION * len(losses)))))
    return [int(k) for k in np.argsort(losses)[::-1][:n]]


def reference_force_mae(module: torch.jit.ScriptModule, structures: Sequence[Atoms]) -> float:
    """The force MAE against the structures' REF labels of the module as the calculator
    predicts with it (a delta model's prior added): what a user of the file gets."""
    from ..calculator import MLFFCalculator

    calculator = MLFFCalculator(module)    # a fresh one: ASE would keep an earlier module's
    errors = [np.abs(calculator.get_forces(atoms) - np.asarray(atoms.arrays[REF_FORCES])).ravel()
              for atoms in structures]
    return float(np.concatenate(errors).mean())


def carve_pseudo_ood(module: torch.jit.ScriptModule,
                     structures: Sequence[Atoms]) -> List[Atoms]:
    """The pseudo-OOD set of a validation set (see pseudo_ood)."""
    return [structures[k] for k in pseudo_ood(module, structures)]


def calibrate(module: torch.jit.ScriptModule, groups: Dict[str, Sequence[Atoms]],
              source: str) -> Dict[str, object]:
    """The calibration record of an exported module on labelled groups of structures (REF
    and PRIOR labels, the prior head's own prior): each group, as a split of the benchmark
    is, adapted on by each candidate setting (starting from the exported parameters), and
    scored by its reference force MAE over the plain model's. The choice: the candidate
    with the lowest mean ratio among those no group makes worse by more than MARGIN, if
    that mean is below 1 - MARGIN; else "off"."""
    groups = {name: label_with_prior(frames, STORED_LABELS) for name, frames in groups.items()}
    plain = {name: reference_force_mae(module, frames)
             for name, frames in groups.items()}
    original = TTTEngine(module, TTTSettings()).state()
    candidates = []
    for steps, lr in CANDIDATES:
        ratios, rolled_back = {}, False
        for name, frames in groups.items():
            engine = TTTEngine(module, TTTSettings(steps=steps, lr=lr, gate_std=0.0))
            rolled_back |= bool(engine.adapt(frames)["rolled_back"])
            ratios[name] = reference_force_mae(module, frames) / plain[name]
            engine.restore(original)    # every adaptation starts from the exported model
        candidates.append({"steps": steps, "lr": lr, "force_mae_ratio": ratios,
                           "mean_ratio": float(np.mean(list(ratios.values()))),
                           "rolled_back": rolled_back})
    return {"choice": choose(candidates), "plain_force_mae": plain, "candidates": candidates,
            "source": source, "n_structures": {k: len(v) for k, v in groups.items()},
            "margin": MARGIN, "optimizer": "adam"}


def choose(candidates: Sequence[Dict[str, object]]):
    """The calibration's choice: {"steps", "lr"} of the candidate with the lowest mean force
    MAE ratio among those that made no group worse by more than MARGIN (and were not rolled
    back), if that mean is below 1 - MARGIN; else "off"."""
    safe = [c for c in candidates if max(c["force_mae_ratio"].values()) <= 1.0 + MARGIN
            and not c["rolled_back"]]
    best = min(safe, key=lambda c: c["mean_ratio"]) if safe else None
    if best is None or best["mean_ratio"] >= 1.0 - MARGIN:
        return "off"
    return {"steps": best["steps"], "lr": best["lr"]}


def calibrated_settings(metadata: Dict[str, object]):
    """The calibrated TTTSettings of a model file (0 steps when its calibration chose "off");
    ValueError when it has none."""
    record = metadata.get("ttt_calibration")
    if not record:
        raise ValueError("the model file has no TTT calibration: export it with --val (a "
                         "validation set with REF and PRIOR labels), or give the TTT settings")
    choice = record.get("choice")
    if choice == "off":
        return TTTSettings(steps=0)
    return TTTSettings(steps=int(choice["steps"]), lr=float(choice["lr"]))
