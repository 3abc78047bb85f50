"""Mutated model files (bytes changed, cut, zeroed or inserted at random, seeded) handed to the
C++ runner (load, then evaluate when it loads) and to the Python metadata reader. Each must end
in an exception with a message, never a crash; run as a subprocess by tests/test_fuzz.py, so
that a crash shows as a failed test.

    python tests/support/fuzz_model_file.py SEED TRIALS
"""

import random
import sys
import tempfile
from pathlib import Path

import numpy as np

from mlff_ttt import _core
from mlff_ttt.model_file import read_metadata

ROOT = Path(__file__).resolve().parents[2]


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    kind = rng.choice(["change", "cut", "zero", "insert"])
    if kind == "change":
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == "cut":
        data = data[:rng.randrange(len(data))]
    elif kind == "zero":
        at = rng.randrange(len(data))
        data[at:at + 4096] = bytes(len(data[at:at + 4096]))
    else:
        at = rng.randrange(len(data))
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return bytes(data)


def main(seed: int, trials: int) -> None:
    source = (ROOT / "examples" / "models" / "si_schnet.pt").read_bytes()
    rng = random.Random(seed)
    # a 4-atom cluster graph: every pair an edge
    pos = np.array([[0.0, 0.0, 0.0], [2.3, 0.0, 0.0], [0.0, 2.4, 0.0], [0.0, 0.0, 2.5]])
    pairs = np.array([(i, j) for i in range(4) for j in range(4) if i != j]).T
    vec = pos[pairs[1]] - pos[pairs[0]]
    reference = _core.ModelRunner(str(ROOT / "examples" / "models" / "si_schnet.pt")).compute(
        np.zeros(4, dtype=np.int64), pairs, vec)
    counts = {"refused": 0, "loaded": 0, "changed_results": 0, "metadata_refused": 0}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutated.pt"
        for _ in range(trials):
            path.write_bytes(mutate(source, rng))
            try:
                runner = _core.ModelRunner(str(path))
                counts["loaded"] += 1
            except RuntimeError:
                counts["refused"] += 1
                continue
            try:  # a file that loads must give the original numbers or refuse to compute
                out = runner.compute(np.zeros(4, dtype=np.int64), pairs, vec)
                if not (out["energy"] == reference["energy"] and
                        np.array_equal(out["forces"], reference["forces"])):
                    counts["changed_results"] += 1
            except RuntimeError:
                pass
            try:  # the Python reader: a message or the metadata (damaged JSON shows here)
                read_metadata(path)
            except ValueError:
                counts["metadata_refused"] += 1
    print(" ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
