"""Distribution-shift diagnosis on the shipped silicon data and hand-made OOD structures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import ase.build
import ase.io
import numpy as np
import pytest
from ase.spacegroup import crystal

from mlff_ttt.data import read_frames
from mlff_ttt.diagnose import DEFAULT_CUTOFF, add_arguments, diagnose, run
from mlff_ttt.refine.spectral import laplacian_spectrum, spectral_density, spectral_distance

DATA = Path(__file__).resolve().parents[1] / "examples" / "data"
N_ID = 40  # structures in si_test.xyz


def _beta_tin_atoms():
    """64-atom beta-tin silicon, the high-pressure phase (6-fold instead of 4-fold
    nearest-neighbour coordination)."""
    return crystal("Si", [(0, 0, 0)], spacegroup=141,
                   cellpar=[4.686, 4.686, 2.585, 90, 90, 90]).repeat((2, 2, 4))


def _beta_tin(like):
    """Beta-tin carrying the forces of ``like``, so that only its connectivity differs."""
    atoms = _beta_tin_atoms()
    atoms.arrays["REF_forces"] = like.arrays["REF_forces"].copy()
    return atoms


@pytest.fixture(scope="module")
def frames():
    train, test = read_frames(DATA / "si_train.xyz"), read_frames(DATA / "si_test.xyz")
    base = test[1]
    germanium = base.copy()
    germanium.symbols[0] = "Ge"
    hot = base.copy()
    hot.arrays["REF_forces"] = 5.0 * base.arrays["REF_forces"]
    return train, test, {"base": base, "element": germanium, "force": hot,
                         "connectivity": _beta_tin(base)}


@pytest.fixture(scope="module")
def record(frames):
    # one diagnosis: the ID test split followed by the hand-made cases (the training
    # statistics do not depend on the test frames)
    train, test, cases = frames
    return diagnose(train, list(test) + list(cases.values()), cutoff=5.0)


def test_in_distribution_split_is_mostly_not_flagged(record):
    ids = record["structures"][:N_ID]
    fractions = {shift: np.mean([s[f"ood_{shift}"] for s in ids])
                 for shift in ("element", "force_norm", "connectivity")}
    print("ID flagged fractions:", fractions)
    assert fractions["element"] == 0.0
    # |z| > 1 flags ~32% of a normal distribution by construction; the test split's four
    # trajectories include one at 317 K, the cold edge of the 300-900 K training range
    assert fractions["force_norm"] < 0.5
    assert fractions["connectivity"] < 0.5
    train = record["train"]
    assert train["elements"] == ["Si"]
    assert 0.5 < train["force_norm_mean"] < 3.0 and train["force_norm_std"] > 0


def test_hand_made_shifts_are_flagged(record):
    base, element, force, connectivity = record["structures"][N_ID:]
    assert not (base["ood_element"] or base["ood_force_norm"] or base["ood_connectivity"])

    assert element["ood_element"] and element["new_elements"] == ["Ge"]
    assert element["formula"] == "GeSi63"

    assert force["ood_force_norm"] and force["force_norm_z"] > 1.0
    assert force["force_norm"] == pytest.approx(5.0 * base["force_norm"])
    assert not force["ood_element"] and not force["ood_connectivity"]

    assert connectivity["ood_connectivity"] and not connectivity["ood_force_norm"]
    threshold = record["train"]["spectral_distance_threshold"]
    assert connectivity["spectral_distance"] > 5 * threshold   # 7.2 x measured


def test_spectral_density_is_size_robust():
    def density(repeat):
        return spectral_density(laplacian_spectrum(
            ase.build.bulk("Si", "diamond", a=5.431, cubic=True).repeat(repeat), DEFAULT_CUTOFF))

    d64, d216 = density(2), density(3)
    beta_tin = spectral_density(laplacian_spectrum(_beta_tin_atoms(), DEFAULT_CUTOFF))
    assert spectral_distance(d64, d216) < 1e-8
    assert spectral_distance(d64, beta_tin) > 0.03


def test_laplacian_spectrum_of_a_molecule_and_isolated_atoms():
    # edges weigh w = (cos(pi d / cutoff) + 1) / 2; a dimer: A = [[1, w], [w, 1]], degrees
    # 1 + w, eigenvalues of L 0 and 2w / (1 + w)
    w = 0.5 * (np.cos(np.pi * 2.35 / DEFAULT_CUTOFF) + 1.0)
    dimer = ase.Atoms("Si2", positions=[[0, 0, 0], [0, 0, 2.35]])
    assert laplacian_spectrum(dimer, DEFAULT_CUTOFF) == pytest.approx([0, 2 * w / (1 + w)],
                                                                       abs=1e-12)
    # a regular tetrahedron of edge 2 A: A = (1 - w) I + w J, degrees 1 + 3w, eigenvalues
    # 0 and 4w / (1 + 3w) three times
    w = 0.5 * (np.cos(np.pi * 2.0 / DEFAULT_CUTOFF) + 1.0)
    corners = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(2)
    tetrahedron = ase.Atoms("Si4", positions=corners)
    assert laplacian_spectrum(tetrahedron, DEFAULT_CUTOFF) == pytest.approx(
        [0] + [4 * w / (1 + 3 * w)] * 3, abs=1e-12)
    # atoms further apart than the cutoff: isolated, each its own zero eigenvalue
    far = ase.Atoms("Si2", positions=[[0, 0, 0], [0, 0, 10]])
    assert laplacian_spectrum(far, DEFAULT_CUTOFF) == pytest.approx([0, 0], abs=1e-12)


def test_record_keys_and_types(record):
    assert set(record["summary"]) >= {"element", "force_norm", "connectivity"}
    for row in record["summary"].values():
        assert isinstance(row["n_flagged"], int) and row["n_total"] == N_ID + 4
        assert isinstance(row["fraction"], float)
    types = {"index": int, "formula": str, "n_atoms": int, "new_elements": list,
             "force_norm": float, "force_norm_z": float, "spectral_distance": float,
             "ood_element": bool, "ood_force_norm": bool, "ood_connectivity": bool}
    for k, s in enumerate(record["structures"]):
        assert s["index"] == k
        for key, kind in types.items():
            assert isinstance(s[key], kind), key
    json.dumps(record)  # serializable as is


def test_frame_without_forces_is_a_clear_error(frames):
    train, test, _ = frames
    bare = test[0].copy()
    for key in ("REF_forces", "PRIOR_forces"):
        bare.arrays.pop(key, None)
    with pytest.raises(ValueError, match=r"data\.xyz: frame 1 has neither REF_forces"):
        diagnose(train[:3], [test[0], bare], test_name="data.xyz")


def test_prior_forces_fallback_is_reported(frames):
    train, test, _ = frames
    prior_only = test[0].copy()
    del prior_only.arrays["REF_forces"]
    record = diagnose(train[:3], [prior_only])
    assert record["structures"][0]["force_source"] == "PRIOR_forces"
    assert any("PRIOR_forces" in note for note in record["notes"])


def test_command_line(tmp_path, frames, capsys):
    train, test, cases = frames
    ase.io.write(tmp_path / "train.xyz", train[:6], format="extxyz")
    ase.io.write(tmp_path / "test.xyz", [test[0], cases["element"]], format="extxyz")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--train", str(tmp_path / "train.xyz"),
                              "--test", str(tmp_path / "test.xyz"),
                              "--json", str(tmp_path / "out.json"),
                              "--plot", str(tmp_path / "out.png")])
    assert run(args) == 0
    printed = capsys.readouterr().out
    assert "connectivity" in printed and "GeSi63" in printed
    written = json.loads((tmp_path / "out.json").read_text())
    assert written["structures"][1]["new_elements"] == ["Ge"]
    assert (tmp_path / "out.png").stat().st_size > 10_000

    args.test = str(tmp_path / "missing.xyz")
    with pytest.raises(FileNotFoundError):
        run(args)
