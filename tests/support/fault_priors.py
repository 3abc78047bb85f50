"""Priors that fail on purpose, for the fault tests (`pair_coeff * * prior python
fault_priors:NAME`, with this folder on PYTHONPATH). Each fails on its first call only and is a
Lennard-Jones prior afterwards, so a test sees the failed update handled and the next one made."""

import time

import numpy as np

from mlff_ttt.priors.analytic import LennardJones


class FailsOnce(LennardJones):
    calls = 0

    def compute(self, frames):
        type(self).calls += 1
        if type(self).calls == 1:
            return self.fail(frames)
        return super().compute(frames)


class Raises(FailsOnce):
    def fail(self, frames):
        raise RuntimeError("the prior's engine crashed")


class ReturnsNaN(FailsOnce):
    def fail(self, frames):
        return np.array([np.nan]), [np.full((len(frames[0]), 3), np.nan)]


class Sleeps(FailsOnce):
    def fail(self, frames):
        time.sleep(3600)


class Spins(FailsOnce):
    def fail(self, frames):
        while True:
            pass
