"""The ``lammps`` prior (issue 18): any LAMMPS pair style, given by its pair_style and pair_coeff
lines, as a prior in Python (labels, training, export) and as `mlff-ttt label`'s reference;
the model file records those lines, and a LAMMPS run whose TTT prior differs from the model's
own says so; ``prior python`` refuses a prior that would start LAMMPS inside LAMMPS."""

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read, write
from ase.neighborlist import neighbor_list

from mlff_ttt.export import export_checkpoint
from mlff_ttt.labelling import label
from mlff_ttt.plugin.prior_loading import load_prior
from mlff_ttt.priors import get_prior

from helpers import EXAMPLE_MODEL, TERSOFF, run_lmp, silicon, write_data

MORSE = dict(D=0.35, a=1.4, r0=2.9, cutoff=6.0)
LAMMPS_MORSE = "lammps:pair_style=morse 6.0,pair_coeff=* * 0.35 1.4 2.9,elements=Al"
ALCU = "lammps:pair_style=eam/alloy,pair_coeff=* * AlCu.eam.alloy Al Cu,elements=Al Cu"


def aluminium(seed=1, primitive=True):
    """Rattled fcc Al; the primitive cell is not in LAMMPS's orientation (a not along x)."""
    atoms = bulk("Al", "fcc", a=4.05, cubic=not primitive).repeat(3 if primitive else 2)
    atoms.rattle(0.05, seed=seed)
    return atoms


def morse_shift(atoms, D, a, r0, cutoff):
    """The registry Morse is shifted to zero at its cutoff, LAMMPS's morse is not: their
    energies differ by V(cutoff) per pair within the cutoff."""
    pairs = len(neighbor_list("d", atoms, cutoff)) / 2
    x = np.exp(-a * (cutoff - r0))
    return pairs * D * (x * x - 2 * x)


@pytest.mark.parametrize("periodic", [True, False])
def test_lammps_morse_is_the_python_morse(periodic):
    """LAMMPS's morse through the prior equals the numpy Morse: forces to 1e-10 (on a cell
    LAMMPS must rotate, and on a non-periodic cluster), energies up to the registry's shift."""
    atoms = aluminium()
    atoms.pbc = periodic
    energy, forces = get_prior(LAMMPS_MORSE).compute([atoms])
    expected_e, expected_f = get_prior("morse", **MORSE).compute([atoms])
    np.testing.assert_allclose(forces[0], expected_f[0], rtol=0, atol=1e-10)
    assert energy[0] == pytest.approx(expected_e[0] + morse_shift(atoms, **MORSE), abs=1e-9)


def test_type_order_follows_the_elements():
    """Two elements in either type order (the coeff line mapping the file's elements to match)
    give the same labels, and every atom's type is its element's."""
    atoms = aluminium(primitive=False)
    atoms.symbols[::3] = "Cu"
    swapped = ALCU.replace("Al Cu,elements=Al Cu", "Cu Al,elements=Cu Al")
    (e1,), (f1,) = get_prior(ALCU).compute([atoms])
    (e2,), (f2,) = get_prior(swapped).compute([atoms])
    assert e1 == pytest.approx(e2, abs=1e-10)
    np.testing.assert_allclose(f1, f2, rtol=0, atol=1e-10)
    (e_al,), _ = get_prior(ALCU).compute([aluminium(primitive=False)])
    assert abs(e1 - e_al) > 1.0                        # the Cu atoms are Cu


@pytest.mark.parametrize("spec, message", [
    ("lammps:pair_style=morse 6.0,pair_coeff=* * 0.35 1.4 2.9",
     "prior 'lammps' needs elements"),
    ("lammps:pair_style=morse 6.0,pair_coeff=* * 0.35 1.4,elements=Al",
     "Incorrect args for pair coefficients"),
    ("lammps:pair_style=no/such,pair_coeff=* * 1,elements=Al", "Unrecognized pair style"),
    ("lammps:pair_style=morse 6.0,pair_coeff=* * 0.35 1.4 2.9,elements=Xx",
     "must name chemical elements"),
    ("lammps:pair_style=morse 6.0,pair_coeff=0.35,elements=Al", "starts with its two atom types"),
])
def test_bad_lammps_priors_are_errors_at_creation(spec, message):
    with pytest.raises(ValueError, match=message):
        get_prior(spec)


def test_an_element_without_a_type_is_refused():
    with pytest.raises(ValueError, match="no parameters for Cu"):
        get_prior(LAMMPS_MORSE).compute([bulk("Cu", "fcc", a=3.6)])


def test_label_reference_from_a_lammps_pair_style(tmp_path):
    frames = [aluminium(seed=s, primitive=False) for s in range(3)]
    write(tmp_path / "in.xyz", frames)
    label(tmp_path / "in.xyz", tmp_path / "out.xyz", reference=ALCU, progress=False)
    energies, forces = get_prior(ALCU).compute(read(tmp_path / "in.xyz", ":"))
    for written, e, f in zip(read(tmp_path / "out.xyz", ":"), energies, forces):
        assert written.info["REF_energy"] == pytest.approx(e, abs=1e-9)
        np.testing.assert_allclose(written.arrays["REF_forces"], f, atol=1e-8)
    with pytest.raises(ValueError, match="--reference-param is for an ASE calculator"):
        label(tmp_path / "in.xyz", tmp_path / "x.xyz", reference=ALCU,
              reference_params={"a": 1}, progress=False)


def test_the_model_file_records_the_pair_style_lines(tmp_path):
    spec = f"lammps:pair_style=tersoff/mod,pair_coeff=* * {TERSOFF} Si,elements=Si"
    metadata = export_checkpoint(EXAMPLE_MODEL, tmp_path / "m.pt", prior=spec)
    assert metadata["prior_name"] == str(get_prior(spec).spec)
    assert "pair_style=tersoff/mod" in metadata["prior_name"]


def test_prior_python_refuses_a_prior_that_runs_lammps():
    """It would start a second LAMMPS from rank 0 alone; the message gives the deck's own
    lines for the same pair style."""
    with pytest.raises(ValueError, match=r"prior python tersoff runs LAMMPS: give the same pair "
                                         r"style as the run's own prior, pair_coeff \* \* "
                                         r"prior_style tersoff/mod / pair_coeff \* \* prior "):
        load_prior("tersoff", {})
    with pytest.raises(ValueError, match="prior_style eam/alloy"):
        load_prior("lammps", {"pair_style": "eam/alloy", "pair_coeff": "* * AlCu.eam.alloy Al",
                              "elements": "Al"})


DECK = """units metal
boundary p p p
read_data data.lmp
pair_style mlff_ttt ttt every 1000 steps 1 lr 1e-4 gate_std 0 monitor off
pair_coeff * * {model} Si
{prior}
run 0
"""


@pytest.mark.lammps
@pytest.mark.parametrize("prior, warned", [
    (f"pair_coeff * * prior_style tersoff/mod\npair_coeff * * prior {TERSOFF} Si", False),
    (f"pair_coeff * * prior tersoff/mod {TERSOFF} Si", False),
    ("pair_coeff * * prior_style morse 4.0\npair_coeff * * prior 1.0 1.4 2.35", True),
])
def test_a_run_whose_prior_is_not_the_models_says_so(tmp_path, prior, warned):
    """The shipped silicon model was trained on Tersoff/mod: a run with that pair style as the
    TTT prior is silent, one with Morse warns, naming both."""
    write_data(silicon(), tmp_path / "data.lmp")
    result = run_lmp(DECK.format(model=EXAMPLE_MODEL, prior=prior), tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    warning = ("WARNING: mlff_ttt: the model's prior head was trained on the prior "
               "tersoff:variant=mod, but "
               "this run's TTT prior is the pair style morse 4.0")
    assert (warning in result.stdout) == warned, result.stdout[-2000:]
    assert ("trained on the prior" in result.stdout) == warned
