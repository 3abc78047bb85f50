"""Molecular dataset generator: determinism, label correctness, errors and resumability."""

from __future__ import annotations

import time

import ase.io
import numpy as np
import pytest
from ase import Atoms

from mlff_ttt.datasets import molecules

from helpers import central_difference_force

SEED, SCALE = 1, 0.05
TINY = ["mol_train", "md17_val"]  # 10 and 2 frames at SCALE


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The same tiny dataset generated twice, into two directories."""
    dirs = [tmp_path_factory.mktemp(name) for name in ("first", "second")]
    for d in dirs:
        molecules.generate(d, seed=SEED, scale=SCALE, splits=TINY, progress=False)
    return dirs


def _files(directory):
    return sorted(p.name for p in directory.iterdir())


def test_regeneration_is_byte_identical(tiny):
    first, second = tiny
    assert _files(first) == _files(second) == sorted(f"{s}.{e}" for s in TINY for e in ("json", "xyz"))
    for name in _files(first):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_file_contents(tiny):
    frames = ase.io.read(tiny[0] / "mol_train.xyz", index=":")
    assert len(frames) == round(200 * SCALE)
    for atoms in frames:
        assert not atoms.pbc.any()
        assert set(atoms.info) == {"REF_energy", "PRIOR_energy"}
        assert {"REF_forces", "PRIOR_forces"} <= set(atoms.arrays)
        assert set(atoms.get_chemical_symbols()) <= {"H", "C", "N", "O"}
    # 10 frames from 10 different in-distribution molecules (one trajectory each)
    assert len({a.get_chemical_formula() + str(len(a)) for a in frames}) >= 8


def test_labels_match_fresh_calculations(tiny):
    from gfnff import GFNFF
    from tblite.ase import TBLite

    frames = ase.io.read(tiny[0] / "mol_train.xyz", index=":")
    for atoms in (frames[0], frames[-1]):
        ref = Atoms(atoms.numbers, atoms.positions)
        ref.calc = TBLite(method="GFN2-xTB", verbosity=0)
        assert abs(ref.get_potential_energy() - atoms.info["REF_energy"]) < 1e-8
        np.testing.assert_allclose(ref.get_forces(), atoms.arrays["REF_forces"], rtol=0, atol=1e-8)
        prior = Atoms(atoms.numbers, atoms.positions)
        prior.calc = GFNFF(printlevel=0)
        assert abs(prior.get_potential_energy() - atoms.info["PRIOR_energy"]) < 1e-8
        np.testing.assert_allclose(prior.get_forces(), atoms.arrays["PRIOR_forces"], rtol=0, atol=1e-8)


def test_reference_forces_match_finite_differences(tiny):
    atoms = min(ase.io.read(tiny[0] / "mol_train.xyz", index=":"), key=len)
    forces = atoms.arrays["REF_forces"]
    h = 1e-4
    rng = np.random.default_rng(0)
    for atom in rng.choice(len(atoms), size=3, replace=False):
        for axis in range(3):
            numeric = central_difference_force(
                lambda a: molecules.gfn2_xtb_single_point(a.numbers, a.positions)[0], atoms, atom,
                axis, h)
            assert abs(numeric - forces[atom, axis]) < 1e-4, (atom, axis, numeric, forces[atom, axis])


def test_prior_is_cheap_and_correlated_with_reference(tiny):
    # Cost per call on aspirin: printed only (timings are machine dependent).
    aspirin = molecules.embed(molecules.SMILES["aspirin"], 42)
    cost = {}
    for label, fn, repeat in (("REF", molecules.gfn2_xtb_single_point, 3),
                              ("PRIOR", molecules.gfnff_single_point, 20)):
        fn(aspirin.numbers, aspirin.positions)  # warm-up
        start = time.perf_counter()
        for _ in range(repeat):
            fn(aspirin.numbers, aspirin.positions)
        cost[label] = (time.perf_counter() - start) / repeat
    print(f"aspirin per call: REF {cost['REF'] * 1e3:.2f} ms, PRIOR {cost['PRIOR'] * 1e3:.3f} ms, "
          f"ratio {cost['REF'] / cost['PRIOR']:.1f}x")

    frames = ase.io.read(tiny[0] / "mol_train.xyz", index=":")
    ref = np.concatenate([a.arrays["REF_forces"] for a in frames]).ravel()
    prior = np.concatenate([a.arrays["PRIOR_forces"] for a in frames]).ravel()
    assert np.corrcoef(ref, prior)[0, 1] > 0.5
    # ... but the prior is not the reference
    assert np.abs(ref - prior).mean() > 0.05


def _valid_frames(n=5):
    return [molecules.embed(molecules.SMILES["ethanol"], seed) for seed in range(1, n + 1)]


@pytest.mark.parametrize("defect", ["overlap", "nan"])
def test_bad_frame_is_named(defect):
    frames = _valid_frames()
    if defect == "overlap":
        frames[3].positions[1] = frames[3].positions[0]
    else:
        frames[3].positions[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"^frame 3: "):
        molecules.label_frames(frames, progress=False)


def test_failed_calculation_is_named(monkeypatch):
    real = molecules.gfnff_single_point
    calls = []

    def flaky(numbers, positions):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("GFN-FF initialization failed")
        return real(numbers, positions)

    monkeypatch.setattr(molecules, "gfnff_single_point", flaky)
    with pytest.raises(ValueError, match=r"^frame 3: PRIOR calculation failed"):
        molecules.label_frames(_valid_frames(), progress=False)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown splits"):
        molecules.generate(tmp_path, splits=["mol_nope"], progress=False)
    with pytest.raises(ValueError, match="scale"):
        molecules.generate(tmp_path, scale=0, progress=False)


def test_interrupted_generation_keeps_finished_splits(tiny, tmp_path, monkeypatch):
    # A first run (through the command line) writes one split.
    assert molecules.main(["--out", str(tmp_path), "--seed", str(SEED), "--scale", str(SCALE),
                           "--splits", "md17_val"]) == 0
    done = tmp_path / "md17_val.xyz"
    original = done.read_bytes()
    assert original == (tiny[0] / "md17_val.xyz").read_bytes()
    stamp = done.stat().st_mtime_ns

    # A second run over two splits is interrupted while labelling the new split.
    def interrupted(frames, progress=True):
        raise KeyboardInterrupt

    monkeypatch.setattr(molecules, "label_frames", interrupted)
    with pytest.raises(KeyboardInterrupt):
        molecules.generate(tmp_path, seed=SEED, scale=SCALE, splits=["md17_val", "mol_val"],
                           progress=False)
    assert done.read_bytes() == original and done.stat().st_mtime_ns == stamp
    assert _files(tmp_path) == ["md17_val.json", "md17_val.xyz"]  # no partial or temporary files

    # Resuming skips the finished split and completes the other one.
    monkeypatch.undo()
    molecules.generate(tmp_path, seed=SEED, scale=SCALE, splits=["md17_val", "mol_val"],
                       progress=False)
    assert done.read_bytes() == original and done.stat().st_mtime_ns == stamp
    assert len(ase.io.read(tmp_path / "mol_val.xyz", index=":")) == round(40 * SCALE)

    # A different seed is not mistaken for the finished split.
    molecules.generate(tmp_path, seed=SEED + 1, scale=SCALE, splits=["md17_val"], progress=False)
    assert done.read_bytes() != original
