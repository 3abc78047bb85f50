"""An ASE EMT calculator that fails at its Nth call (tests of `mlff-ttt label`'s resumption:
an interrupted labelling run must continue where it stopped)."""

from ase.calculators.emt import EMT


class FailingEMT(EMT):
    def __init__(self, fail_at: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.fail_at, self.calls = fail_at, 0

    def calculate(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt("interrupted by the test")
        super().calculate(*args, **kwargs)
