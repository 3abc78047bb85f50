"""`mlff-ttt label`: PRIOR_* labels from a prior spec and REF_* from an ASE calculator, the same
numbers as the calculator and prior called directly, resumable after an interruption, the output
written only when complete."""

import subprocess

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read, write

from mlff_ttt.labelling import label
from mlff_ttt.priors import get_prior

# Morse aluminium (Girifalco & Weizer 1959), a prior for the EMT reference
MORSE_AL = "morse:D=0.2703,a=1.1646,r0=3.253,cutoff=5.0"


@pytest.fixture
def structures(tmp_path):
    frames = []
    for seed in range(7):
        atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
        atoms.rattle(0.05, seed=seed)
        frames.append(atoms)
    path = tmp_path / "in.xyz"
    write(path, frames)
    return path, frames


def test_labels_equal_the_calculator_and_the_prior(structures, tmp_path):
    path, _ = structures
    frames = read(path, ":")                      # as the labeller reads them
    label(path, tmp_path / "out.xyz", prior=MORSE_AL, reference="ase.calculators.emt:EMT",
          progress=False)
    out = read(tmp_path / "out.xyz", ":")
    prior_e, prior_f = get_prior(MORSE_AL).compute(frames)
    for atoms, written, e, f in zip(frames, out, prior_e, prior_f):
        atoms = atoms.copy()
        atoms.calc = EMT()
        assert written.info["REF_energy"] == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
        # extended XYZ keeps 8 decimals of per-atom values
        np.testing.assert_allclose(written.arrays["REF_forces"], atoms.get_forces(), atol=1e-8)
        assert written.info["PRIOR_energy"] == pytest.approx(e, abs=1e-9)
        np.testing.assert_allclose(written.arrays["PRIOR_forces"], f, atol=1e-8)


def test_an_interrupted_run_resumes_where_it_stopped(structures, tmp_path):
    path, _ = structures
    out = tmp_path / "out.xyz"
    with pytest.raises(KeyboardInterrupt):
        label(path, out, reference="flaky_calculator:FailingEMT",
              reference_params={"fail_at": 6}, checkpoint_every=2, progress=False)
    assert not out.exists()                       # nothing half-written under the output name
    partial = read(str(out) + ".partial", ":", format="extxyz")
    assert len(partial) == 4                      # checkpoints after frames 2 and 4
    label(path, out, reference="flaky_calculator:FailingEMT", checkpoint_every=2, progress=False)
    assert not (tmp_path / "out.xyz.partial").exists()
    label(path, tmp_path / "whole.xyz", reference="ase.calculators.emt:EMT", progress=False)
    resumed, whole = read(out, ":"), read(tmp_path / "whole.xyz", ":")
    assert len(resumed) == len(whole) == 7
    for a, b in zip(resumed, whole):
        np.testing.assert_array_equal(a.positions, b.positions)
        # one EMT object labels every frame; its neighbour-list history moves the last digit
        assert a.info["REF_energy"] == pytest.approx(b.info["REF_energy"], rel=1e-12)
        np.testing.assert_allclose(a.arrays["REF_forces"], b.arrays["REF_forces"], atol=1e-8)


def test_progress_of_another_input_is_refused(structures, tmp_path):
    path, frames = structures
    write(tmp_path / "out.xyz.partial", [frames[1]], format="extxyz")
    with pytest.raises(ValueError, match="progress of another input"):
        label(path, tmp_path / "out.xyz", reference="ase.calculators.emt:EMT", progress=False)


def test_bad_requests_are_one_line_errors(structures, tmp_path):
    path, _ = structures
    with pytest.raises(ValueError, match="--prior SPEC and/or --reference"):
        label(path, tmp_path / "o.xyz")
    with pytest.raises(ValueError, match="must look like module:Class"):
        label(path, tmp_path / "o.xyz", reference="EMT")
    with pytest.raises(ValueError, match="cannot find the reference calculator"):
        label(path, tmp_path / "o.xyz", reference="ase.calculators.emt:NoSuch")
    with pytest.raises(ValueError, match="morse"):
        label(path, tmp_path / "o.xyz", prior="morse:D=0.27")   # a, r0, cutoff missing


def test_the_command_line(structures, tmp_path):
    path, _ = structures
    out = tmp_path / "cli.xyz"
    done = subprocess.run(["mlff-ttt", "label", str(path), "-o", str(out), "--prior", MORSE_AL,
                           "--reference", "ase.calculators.emt:EMT"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}: 7 structures with PRIOR_* and REF_* labels" in done.stdout
    python = label(path, tmp_path / "py.xyz", prior=MORSE_AL,
                   reference="ase.calculators.emt:EMT", progress=False)
    assert [a.info["PRIOR_energy"] for a in read(out, ":")] == pytest.approx(
        [a.info["PRIOR_energy"] for a in python], abs=1e-9)
    bad = subprocess.run(["mlff-ttt", "label", str(path), "-o", str(out), "--prior", "morse"],
                         capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "mlff-ttt label: error: prior 'morse' needs D (eV), a (1/A), r0 (A), cutoff (A): give "
        "them as morse:D=...,a=...,r0=...,cutoff=..."]


def test_fit_prior_writes_the_pair_fitted_prior_of_the_python_api(structures, tmp_path):
    """`mlff-ttt fit-prior` is PairFittedPrior.fit on the file's REF_* labels, and the file it
    writes is the prior `pair_fitted:path=FILE` names."""
    from mlff_ttt.priors.fitted import PairFittedPrior

    path, _ = structures
    labelled = tmp_path / "labelled.xyz"
    label(path, labelled, reference="ase.calculators.emt:EMT", progress=False)
    out = tmp_path / "al_pair.json"
    done = subprocess.run(["mlff-ttt", "fit-prior", str(labelled), "-o", str(out),
                           "--cutoff", "5.0", "--num-basis", "8"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"use it as pair_fitted:path={out}" in done.stdout
    frames = read(labelled, ":")
    direct = PairFittedPrior.fit(frames, ["Al"], cutoff=5.0, num_basis=8)
    np.testing.assert_array_equal(PairFittedPrior.load(out).coefficients, direct.coefficients)
    e_file, f_file = get_prior(f"pair_fitted:path={out}").compute(frames)
    e_direct, f_direct = direct.compute(frames)
    np.testing.assert_allclose(e_file, e_direct, rtol=0, atol=1e-12)
    reference = np.concatenate([a.arrays["REF_forces"] for a in frames])
    # it learned: its force error is below the reference forces' own size
    assert np.mean(np.abs(np.concatenate(f_file) - reference)) < np.mean(np.abs(reference))
    missing = subprocess.run(["mlff-ttt", "fit-prior", str(labelled), "-o", str(out)],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "--cutoff" in missing.stderr


def test_fit_prior_names_a_frame_without_labels(structures, tmp_path):
    path, _ = structures                          # structures without REF_* labels
    done = subprocess.run(["mlff-ttt", "fit-prior", str(path), "-o", str(tmp_path / "p.json"),
                           "--cutoff", "5.0"], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip() == ("mlff-ttt fit-prior: error: frame 0 has no "
                                   "REF_energy/REF_forces labels to fit to")
