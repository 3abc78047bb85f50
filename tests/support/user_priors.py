"""A user's own prior for `pair_coeff * * prior python user_priors:NAME` (tests/test_prior_styles.py,
with this folder on PYTHONPATH): not part of the package, imported by module:Class."""

import numpy as np

from mlff_ttt.priors.analytic import Morse


class MorsePlusConstant(Morse):
    """Morse with a constant energy per atom added (same forces): a prior of the user's own."""

    def __init__(self, per_atom: float = 0.0, **params):
        super().__init__(**params)
        self.per_atom = float(per_atom)

    def compute(self, frames):
        energies, forces = super().compute(frames)
        return np.asarray(energies) + self.per_atom * np.array([len(a) for a in frames]), forces
