"""sGDML (symmetric gradient-domain machine learning, Chmiela et al.): the prior of the
paper's released code. A kernel model of one molecule (fixed atoms and atom order) trained on
that molecule's reference-labelled frames; needs the ``sgdml`` package (pip install sgdml).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from .base import Labels, Prior, check_labels

EXAMPLE_KEY = "mlff_ttt_example_R"  # extra key in saved models: a geometry for cost_per_atom


def _sgdml():
    """(GDMLTrain, GDMLPredict), importing sgdml on first use."""
    if not hasattr(np, "in1d"):
        # numpy 2.4 removed np.in1d; sgdml 1.0.3 still calls it (stratified sampling).
        np.in1d = np.isin
    try:
        from sgdml.predict import GDMLPredict
        from sgdml.train import GDMLTrain
    except ImportError as exc:
        raise ImportError("the 'sgdml' prior needs the sgdml package (pip install sgdml)") from exc
    return GDMLTrain, GDMLPredict


class SGDMLPrior(Prior):
    """A trained sGDML model (``train`` or ``load``; ``get_prior("sgdml", model=path)``).
    ``compute`` accepts only frames of the training molecule, atoms in the same order.
    ``cost_per_atom``: measured on a training geometry; grows linearly with the number of
    training frames (a kernel sum over all of them), 1e-5 to 1e-4 s per atom for 20-50."""

    name = "sgdml"
    units = {"model": "an sGDML model file (.npz, SGDMLPrior.save)",
             "max_processes": "processes"}

    @property
    def coverage(self) -> str:
        atoms = Atoms(numbers=self.numbers)
        return (f"{', '.join(sorted(set(atoms.get_chemical_symbols())))}: the elements of "
                f"{atoms.get_chemical_formula()}, the one molecule it was trained on")

    def covers(self, symbol: str) -> bool:
        return symbol in set(Atoms(numbers=self.numbers).get_chemical_symbols())

    def __init__(self, model, example_positions=None, max_processes: int = 1):
        if isinstance(model, (str, Path)):
            model, example_positions = self._read(model)
        self.model = dict(model)
        self.numbers = np.asarray(self.model["z"], dtype=int)
        self.example_positions = example_positions
        self.max_processes = max_processes
        self._predictor = None

    @classmethod
    def train(cls, frames: list[Atoms], n_train: int, n_valid: int,
              sigmas=(10, 20, 40, 80), seed: int = 0, energy_key: str = "REF_energy",
              forces_key: str = "REF_forces", max_processes: int = 1) -> "SGDMLPrior":
        """Train on n_train of the frames for each kernel length scale in ``sigmas`` and keep
        the one with the lowest force MAE on n_valid other frames (sGDML's own stratified
        draw of both subsets, seeded)."""
        frames = list(frames)
        if not frames:
            raise ValueError("no frames to train on")
        numbers = frames[0].numbers
        for i, atoms in enumerate(frames):
            if not np.array_equal(atoms.numbers, numbers):
                raise ValueError(f"frame {i}: sGDML models one molecule; its atoms "
                                 f"{atoms.get_chemical_formula()} (or their order) differ from frame 0")
        if n_train + n_valid > len(frames):
            raise ValueError(f"n_train + n_valid = {n_train + n_valid} > {len(frames)} frames")
        GDMLTrain, _ = _sgdml()
        dataset = {
            "type": "d", "name": np.array("mlff_ttt"), "theory": np.array(energy_key),
            "r_unit": np.array("Ang"), "e_unit": np.array("eV"), "z": numbers,
            "R": np.array([a.positions for a in frames]),
            "E": np.array([a.info[energy_key] for a in frames], dtype=float),
            "F": np.array([a.arrays[forces_key] for a in frames], dtype=float),
        }
        trainer = GDMLTrain(max_processes=max_processes)
        best = None
        for sigma in sigmas:
            # create_task draws its subsets from numpy's global RNG: seed it, then restore it
            state = np.random.get_state()
            np.random.seed(seed)
            try:
                task = trainer.create_task(dataset, n_train, dataset, n_valid, sig=sigma)
            finally:
                np.random.set_state(state)
            prior = cls(trainer.train(task), dataset["R"][0], max_processes)
            valid = task["idxs_valid"]
            _, forces = prior._predict(dataset["R"][valid])
            mae = float(np.abs(forces - dataset["F"][valid]).mean())
            if best is None or mae < best[0]:
                best = (mae, prior)
        return best[1]

    def _predict(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._predictor is None:
            _, GDMLPredict = _sgdml()
            self._predictor = GDMLPredict(self.model, max_processes=self.max_processes)
        energies, forces = self._predictor.predict(positions.reshape(len(positions), -1))
        return np.asarray(energies).reshape(-1), np.asarray(forces).reshape(positions.shape)

    def compute(self, frames: list[Atoms]) -> Labels:
        frames = list(frames)
        self.check_elements(frames)
        for i, atoms in enumerate(frames):
            if not np.array_equal(atoms.numbers, self.numbers):
                raise ValueError(f"frame {i}: {atoms.get_chemical_formula()} is not the molecule "
                                 f"this sGDML model was trained on (same atoms, same order)")
        if not frames:
            return np.zeros(0), []
        energies, forces = self._predict(np.array([a.positions for a in frames]))
        return check_labels(self, frames, energies, list(forces))

    def representative(self) -> Atoms:
        if self.example_positions is None:  # the cost does not depend on the geometry
            rng = np.random.default_rng(0)
            positions = 1.5 * np.cbrt(len(self.numbers)) * rng.random((len(self.numbers), 3))
        else:
            positions = self.example_positions
        return Atoms(numbers=self.numbers, positions=positions)

    def save(self, path) -> None:
        """npz of the model's array fields plus an example geometry. Object fields (sGDML's
        test-error bookkeeping: md5_test, e_err, f_err) are left out, so that loading needs
        no pickle; prediction does not use them."""
        arrays = {k: v for k, v in self.model.items() if np.asarray(v).dtype != object}
        if self.example_positions is not None:
            arrays[EXAMPLE_KEY] = self.example_positions
        with open(path, "wb") as f:  # a file object: np.savez would otherwise append .npz
            np.savez_compressed(f, **arrays)

    @staticmethod
    def _read(path):
        with np.load(path, allow_pickle=False) as data:
            model = {k: data[k] for k in data.files}
        return model, model.pop(EXAMPLE_KEY, None)

    @classmethod
    def load(cls, path, max_processes: int = 1) -> "SGDMLPrior":
        return cls(path, max_processes=max_processes)
