"""mlff_ttt.priors: closed-form pair energies, finite-difference forces, the registry, the
fitted pair prior, and the LAMMPS / GFN-FF / RDKit / sGDML priors against shipped labels."""

from __future__ import annotations

import math
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms

from mlff_ttt.priors import (GFNFF, ZBL, LennardJones, Morse, PairFittedPrior, RDKitMMFF,
                             SGDMLPrior, StillingerWeber, Tersoff, available, get_prior)
from mlff_ttt.priors.base import bulk_silicon

from helpers import central_difference_force

DATA = Path(__file__).resolve().parents[1] / "examples" / "data"


def read(name: str) -> list[Atoms]:
    return ase.io.read(DATA / name, ":")


def force_correlation(forces, frames, key="REF_forces") -> float:
    ref = np.concatenate([a.arrays[key] for a in frames]).ravel()
    return float(np.corrcoef(np.concatenate(forces).ravel(), ref)[0, 1])


def dimer(symbol_a: str, symbol_b: str, r: float) -> Atoms:
    return Atoms(f"{symbol_a}{symbol_b}", positions=[[0.1, 0.2, 0.3], [0.1 + r, 0.2, 0.3]])


def finite_difference_forces(prior, atoms: Atoms, h: float = 1e-5) -> np.ndarray:
    def energy(moved):
        return prior.compute([moved])[0][0]

    return np.array([[central_difference_force(energy, atoms, i, k, h) for k in range(3)]
                     for i in range(len(atoms))])


def zbl_closed_form(z1, z2, r):
    a = 0.46850 / (z1**0.23 + z2**0.23)
    x = r / a
    phi = (0.18175 * math.exp(-3.19980 * x) + 0.50986 * math.exp(-0.94229 * x)
           + 0.28022 * math.exp(-0.40290 * x) + 0.02817 * math.exp(-0.20162 * x))
    return 14.399645 * z1 * z2 / r * phi


def test_zbl_dimer_closed_form():
    prior = ZBL(cutoff=3.0, switch_width=1.0)
    # inside the inner radius: plain ZBL; at 2.5 A (x = 1/2 of the switch): times 1/2
    assert prior.compute([dimer("C", "O", 1.2)])[0][0] == pytest.approx(zbl_closed_form(6, 8, 1.2), rel=1e-12)
    assert prior.compute([dimer("Si", "H", 2.5)])[0][0] == pytest.approx(0.5 * zbl_closed_form(14, 1, 2.5), rel=1e-12)
    assert prior.compute([dimer("Si", "Si", 3.01)])[0][0] == 0.0


def test_lennard_jones_and_morse_dimer_closed_form():
    eps, sigma, rc = 0.2, 2.0, 4.0
    lj = lambda r: 4 * eps * ((sigma / r) ** 12 - (sigma / r) ** 6)
    prior = LennardJones(epsilon=eps, sigma=sigma, cutoff=rc)
    for r in (1.9, 2 ** (1 / 6) * sigma, 3.5):
        assert prior.compute([dimer("Ar", "Ar", r)])[0][0] == pytest.approx(lj(r) - lj(rc), rel=1e-12)
    D, a, r0 = 2.0, 1.3, 2.3
    morse = lambda r: D * (math.exp(-2 * a * (r - r0)) - 2 * math.exp(-a * (r - r0)))
    prior = Morse(D=D, a=a, r0=r0, cutoff=rc)
    for r in (1.8, r0, 3.9):
        assert prior.compute([dimer("Si", "C", r)])[0][0] == pytest.approx(morse(r) - morse(rc), rel=1e-12)
    assert prior.compute([dimer("Si", "C", 4.2)])[0][0] == 0.0


# Silicon's placeholder parameters (the values LennardJones and Morse used to default to)
SI_LJ = dict(epsilon=0.1, sigma=2.1, cutoff=5.0)
SI_MORSE = dict(D=2.3, a=1.5, r0=2.35, cutoff=5.0)


@pytest.mark.parametrize("prior", [ZBL(cutoff=3.0), LennardJones(**SI_LJ), Morse(**SI_MORSE)],
                         ids=lambda p: p.name)
def test_analytic_forces_match_finite_differences(prior):
    # 8-atom periodic Si cell (cutoffs reach periodic images), compressed so that bonds
    # (2.1 A) lie in ZBL's switching region
    atoms = bulk_silicon(seed=1, repeat=1)
    atoms.set_cell(atoms.cell * 0.9, scale_atoms=True)
    energies, forces = prior.compute([atoms])
    fd = finite_difference_forces(prior, atoms)
    assert np.abs(forces[0]).max() > 1e-2
    np.testing.assert_allclose(forces[0], fd, atol=1e-6 * max(1.0, np.abs(fd).max()))


def test_batched_frames_equal_single_frames():
    frames = [bulk_silicon(seed=s) for s in range(3)]
    prior = Morse(**SI_MORSE)
    energies, forces = prior.compute(frames)
    for k, atoms in enumerate(frames):
        e, f = prior.compute([atoms])
        assert energies[k] == pytest.approx(e[0], rel=1e-12)
        np.testing.assert_allclose(forces[k], f[0], atol=1e-12)


def test_registry():
    assert available() == sorted(["zbl", "lennard_jones", "morse", "pair_fitted", "tersoff",
                                  "stillinger_weber", "lammps", "gfnff", "rdkit_mmff", "sgdml"])
    assert isinstance(get_prior("morse", D=1.0, a=1.5, r0=2.35, cutoff=5.0), Morse)
    with pytest.raises(ValueError, match="unknown prior 'dft'.*gfnff.*zbl"):
        get_prior("dft")
    with pytest.raises(ValueError, match="prior 'zbl' has no parameter 'epsilon'"):
        get_prior("zbl", epsilon=1.0)
    cost = get_prior("lennard_jones", **SI_LJ).cost_per_atom()
    assert 0 < cost < 1e-2


def test_pair_fitted_prior(tmp_path):
    train, test = read("si_train.xyz")[::4], read("si_test.xyz")  # 50 frames keep the fit short
    prior = PairFittedPrior.fit(train, ["Si"], cutoff=5.0, num_basis=12)
    energies, forces = prior.compute(test)
    corr = force_correlation(forces, test)
    assert corr > 0.95  # 0.991 with this setup
    path = tmp_path / "pair.json"
    prior.save(path)
    loaded = get_prior("pair_fitted", path=path)
    assert np.array_equal(loaded.coefficients, prior.coefficients)
    assert np.array_equal(loaded.element_energies, prior.element_energies)
    e2, f2 = loaded.compute(test[:3])
    assert np.array_equal(e2, energies[:3]) and all(np.array_equal(a, b) for a, b in zip(f2, forces))
    with pytest.raises(ValueError, match=r"prior 'pair_fitted' has no parameters for C \(it covers Si, "):
        prior.compute([dimer("Si", "C", 2.0)])


def test_stillinger_weber_correlates_with_reference():
    frames = read("si_test.xyz")[:10]
    energies, forces = StillingerWeber().compute(frames)
    assert force_correlation(forces, frames) > 0.95  # 0.988 on all of si_test
    assert np.all(energies / 64 < -4.0)  # cohesive energy of SW Si: -4.34 eV/atom
    with pytest.raises(ValueError, match="only Si"):
        StillingerWeber().compute([dimer("Si", "C", 2.0)])


@pytest.mark.parametrize("prior_class, split", [(Tersoff, "si_test.xyz"),
                                               (GFNFF, "mol_test.xyz")])
def test_prior_equals_dataset_prior_labels(prior_class, split):
    """The datasets' PRIOR labels are Tersoff/mod (silicon) and GFN-FF (molecules)."""
    frames = read(split)
    energies, forces = prior_class().compute(frames)
    np.testing.assert_allclose(energies, [a.info["PRIOR_energy"] for a in frames], rtol=0, atol=1e-6)
    for f, atoms in zip(forces, frames):
        np.testing.assert_allclose(f, atoms.arrays["PRIOR_forces"], rtol=0, atol=1e-6)


def test_rdkit_mmff_correlates_with_reference():
    frames = read("mol_test.xyz")
    energies, forces = RDKitMMFF().compute(frames)
    assert force_correlation(forces, frames) > 0.85  # 0.915 (0.714 with connectivity only)
    fd = finite_difference_forces(RDKitMMFF(), frames[0], h=1e-4)
    np.testing.assert_allclose(forces[0], fd, atol=1e-4)


def test_sgdml_prior_small(tmp_path):
    """Small: 30 benzene frames (20 train, 10 validation), a few seconds."""
    pytest.importorskip("sgdml")
    benzene = lambda frames: [a for a in frames if a.get_chemical_formula() == "C6H6"]
    train, val = benzene(read("md17_train.xyz"))[:30], benzene(read("md17_val.xyz"))
    prior = SGDMLPrior.train(train, n_train=20, n_valid=10, sigmas=(10, 20))
    energies, forces = prior.compute(val)
    assert force_correlation(forces, val) > 0.99  # 0.9996
    path = tmp_path / "benzene.npz"
    prior.save(path)
    e2, f2 = get_prior("sgdml", model=path).compute(val)
    np.testing.assert_array_equal(e2, energies)
    with pytest.raises(ValueError, match=r"prior 'sgdml' has no parameters for O \(it covers "
                                         "C, H: the elements of C6H6, the one molecule"):
        prior.compute([read("mol_test.xyz")[0]])
    shuffled = val[0].copy()
    shuffled.numbers = shuffled.numbers[::-1]  # same elements, another atom order
    with pytest.raises(ValueError, match="not the molecule"):
        prior.compute([shuffled])
