"""The silicon datasets: deterministic, labels reproducible by the reference method,
reference forces consistent with the reference energy, bad frames named."""

import ase.io
import numpy as np
import pytest

from mlff_ttt.datasets import silicon, silicon_ood

from helpers import ROOT

DATA = ROOT / "examples" / "data"


def test_same_seed_same_files_and_resume(tmp_path):
    first = silicon_ood.generate(tmp_path / "a", seed=3, n_frames=1, splits=["ood_vacancy"],
                                 progress=False)["ood_vacancy"]
    second = silicon_ood.generate(tmp_path / "b", seed=3, n_frames=1, splits=["ood_vacancy"],
                                  progress=False)["ood_vacancy"]
    assert first.read_bytes() == second.read_bytes()
    assert first.with_suffix(".json").read_bytes() == second.with_suffix(".json").read_bytes()
    # a second run over a finished split keeps it as it is (generation resumes)
    stamp = first.stat().st_mtime_ns
    silicon_ood.generate(tmp_path / "a", seed=3, n_frames=1, splits=["ood_vacancy"],
                         progress=False)
    assert first.stat().st_mtime_ns == stamp


def test_shipped_labels_match_a_fresh_reference_call():
    frames = ase.io.read(DATA / "si_test.xyz", index=":2")
    fresh = silicon.label_frames(frames, progress=False)
    for stored, new in zip(frames, fresh):
        for key in ("REF", "PRIOR"):
            assert new.info[f"{key}_energy"] == pytest.approx(stored.info[f"{key}_energy"], abs=1e-6)
            np.testing.assert_allclose(new.arrays[f"{key}_forces"], stored.arrays[f"{key}_forces"],
                                       atol=1e-6)


def test_reference_forces_are_energy_gradients():
    atoms = ase.io.read(DATA / "si_test.xyz", index="0")
    forces = atoms.arrays["REF_forces"]
    h = 1e-4
    displaced = []
    for atom, axis in [(0, 0), (7, 1), (33, 2)]:
        for sign in (1, -1):
            copy = atoms.copy()
            copy.positions[atom, axis] += sign * h
            displaced.append(copy)
    energies = [a.info["REF_energy"] for a in silicon.label_frames(displaced, progress=False)]
    for k, (atom, axis) in enumerate([(0, 0), (7, 1), (33, 2)]):
        numeric = -(energies[2 * k] - energies[2 * k + 1]) / (2 * h)
        assert numeric == pytest.approx(forces[atom, axis], abs=1e-5)


def test_bad_frames_are_named():
    frames = ase.io.read(DATA / "si_test.xyz", index=":3")
    frames[1][5].symbol = "Ge"
    with pytest.raises(ValueError, match="frame 1: only Si is supported"):
        silicon.label_frames(frames, progress=False)
    frames = ase.io.read(DATA / "si_test.xyz", index=":3")
    frames[2].positions[0, 0] = np.nan
    with pytest.raises(ValueError, match="frame 2: non-finite positions"):
        silicon.label_frames(frames, progress=False)
