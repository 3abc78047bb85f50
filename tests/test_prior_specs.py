"""Prior specs (issue 18, "a prior is a name and its parameters, everywhere"): one parser,
its canonical text, required and unknown parameters, elements a prior does not cover, and the
spec through the CLI, the model file, the calculator, the training config and LAMMPS's
``prior python`` entry point; the TTT gate's decision in the text output."""

import json
import math

import numpy as np
import pytest
from ase import Atoms
from ase.io import read, write

from mlff_ttt.cli import main
from mlff_ttt.priors import Morse, PriorSpec, get_prior, parse_prior_spec

from helpers import ROOT

DATA = ROOT / "examples" / "data"
SI_MODEL = ROOT / "examples" / "models" / "si_schnet.pt"
# a Morse for copper (Girifalco & Weizer 1959), given to silicon frames: any parameters do,
# the test compares two routes to the same prior
CU = dict(D=0.3429, a=1.3588, r0=2.866, cutoff=5.0)
CU_TEXT = "morse:D=0.3429,a=1.3588,r0=2.866,cutoff=5.0"


def dimer(a, b, r):
    return Atoms(f"{a}{b}", positions=[[0, 0, 0], [r, 0, 0]])


# --- the parser ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, name, params, text", [
    ("tersoff", "tersoff", {}, "tersoff"),
    (CU_TEXT, "morse", CU, "morse:D=0.3429,a=1.3588,cutoff=5.0,r0=2.866"),
    (" morse : D = 1 , a=2.5e-1,r0=2,cutoff=5 ", "morse", {"D": 1, "a": 0.25, "r0": 2, "cutoff": 5},
     "morse:D=1,a=0.25,cutoff=5,r0=2"),
    ("rdkit_mmff:bonds=connectivity", "rdkit_mmff", {"bonds": "connectivity"},
     "rdkit_mmff:bonds=connectivity"),
    ("mymodule:MyPrior", "mymodule:MyPrior", {}, "mymodule:MyPrior"),
    ("mymodule:MyPrior:sigma=2.1", "mymodule:MyPrior", {"sigma": 2.1}, "mymodule:MyPrior:sigma=2.1"),
    ({"name": "morse", "D": 0.3429, "a": "1.3588", "r0": 2.866, "cutoff": 5},
     "morse", {"D": 0.3429, "a": 1.3588, "r0": 2.866, "cutoff": 5},
     "morse:D=0.3429,a=1.3588,cutoff=5,r0=2.866"),
])
def test_parse_and_round_trip(value, name, params, text):
    spec = parse_prior_spec(value)
    assert spec.name == name and spec.params == params
    assert all(type(spec.params[k]) is type(v) for k, v in params.items())  # int stays int
    assert str(spec) == text
    assert parse_prior_spec(str(spec)) == spec and parse_prior_spec(spec) is spec


def test_canonical_text_keeps_every_float_exactly():
    spec = PriorSpec("morse", {"D": 0.1 + 0.2, "a": 1 / 3, "r0": 2.866, "cutoff": 5.0})
    again = parse_prior_spec(str(spec))
    assert again.params == spec.params and again.params["D"] == 0.30000000000000004


@pytest.mark.parametrize("value, message", [
    ("", "is not NAME or NAME:KEY=VALUE"),
    ("morse:D=1,D=2", "parameter D given twice"),
    ("morse:D=1,,a=2", "'' is not KEY=VALUE"),
    ("morse:D=", "'D=' is not KEY=VALUE"),
    ("morse:D", "prior spec 'morse:D': 'D' is not KEY=VALUE"),
    ({"D": 1.0}, "has no 'name'"),
    ({"name": "morse", "D": True}, "parameter D must be a number or text, not True"),
    ({"name": "morse", "D": [1]}, "parameter D must be a number or text"),
    ({"name": "pair_fitted", "path": "a,b.json"}, "cannot be written in a spec"),
    (3.0, "a prior spec is a text"),
])
def test_malformed_specs_are_one_line_errors(value, message):
    with pytest.raises(ValueError) as error:
        get_prior(value)
    assert message in str(error.value) and "\n" not in str(error.value)


# --- parameters -----------------------------------------------------------------------------

@pytest.mark.parametrize("spec, message", [
    ("morse", "prior 'morse' needs D (eV), a (1/A), r0 (A), cutoff (A): give them as "
              "morse:D=...,a=...,r0=...,cutoff=..."),
    ("morse:D=0.3429,a=1.3588", "prior 'morse' needs r0 (A), cutoff (A): give them as "
                                "morse:D=...,a=...,r0=...,cutoff=..."),
    ("lennard_jones:sigma=2.1", "prior 'lennard_jones' needs epsilon (eV), cutoff (A): give them "
                                "as lennard_jones:epsilon=...,sigma=...,cutoff=..."),
    ("pair_fitted", "prior 'pair_fitted' needs path"),
    ("sgdml", "prior 'sgdml' needs model"),
])
def test_missing_required_parameters_are_named(spec, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")
                       .replace(".", r"\.")):
        get_prior(spec)


@pytest.mark.parametrize("spec, message", [
    (CU_TEXT + ",sigma=2", "prior 'morse' has no parameter 'sigma'; it takes D, a, r0, cutoff"),
    ("zbl:epsilon=1", "prior 'zbl' has no parameter 'epsilon'; it takes cutoff, switch_width"),
    ("gfnff:charge=0", "prior 'gfnff' has no parameter 'charge'; it takes none"),
    ("tersoff:variant=mod,file=Si.tersoff", "prior 'tersoff' has no parameter 'file'; it takes variant"),
    ("morse:D=x,a=1,r0=2,cutoff=5", "prior 'morse': D must be a number, not 'x'"),
    ("morse:D=1,a=1,r0=2,cutoff=0", "prior 'morse': cutoff must be > 0, got 0.0"),
    ("dft", "unknown prior 'dft'; known priors: gfnff, lammps, lennard_jones, morse"),
    ("no_such_module_xyz:Prior", "cannot find the prior no_such_module_xyz:Prior"),
])
def test_bad_parameters_are_named(spec, message):
    with pytest.raises(ValueError) as error:
        get_prior(spec)
    assert str(error.value).startswith(message), str(error.value)


def test_spec_and_keywords_make_the_same_prior():
    frames = [dimer("Si", "Si", r) for r in (2.2, 2.866, 4.1)]
    by_text, by_keywords = get_prior(CU_TEXT), get_prior("morse", **CU)
    direct = Morse(**CU)
    for prior in (by_text, by_keywords):
        energies, forces = prior.compute(frames)
        e, f = direct.compute(frames)
        np.testing.assert_array_equal(energies, e)
        np.testing.assert_array_equal(np.concatenate(forces), np.concatenate(f))
    # the pair energy at r0 is -D, less the shift to zero at the cutoff
    shift = CU["D"] * (math.exp(-2 * CU["a"] * (5.0 - 2.866)) - 2 * math.exp(-CU["a"] * (5.0 - 2.866)))
    assert direct.compute([frames[1]])[0][0] == pytest.approx(-CU["D"] - shift, rel=1e-12)
    assert str(by_text.spec) == str(by_keywords.spec) == "morse:D=0.3429,a=1.3588,cutoff=5.0,r0=2.866"
    with pytest.raises(ValueError, match="D given both in the spec and as keywords"):
        get_prior(CU_TEXT, D=1.0)


def test_zbl_defaults_are_its_universal_ones():
    assert str(get_prior("zbl").spec) == "zbl"
    prior = get_prior("zbl")
    assert (prior.cutoff, prior.switch_width) == (3.0, 1.0)


# --- elements -------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, atoms, message", [
    ("tersoff", dimer("Si", "C", 2.0),
     "prior 'tersoff' has no parameters for C (it covers only Si: the LAMMPS distribution's "
     "silicon potential file)"),
    ("stillinger_weber", dimer("Cu", "Cu", 2.5), "prior 'stillinger_weber' has no parameters for Cu"),
    ("gfnff", Atoms("Fr2", positions=[[0, 0, 0], [3, 0, 0]]),
     "prior 'gfnff' has no parameters for Fr (it covers H to Rn (Z 1-86)"),
    ("rdkit_mmff", Atoms("B2", positions=[[0, 0, 0], [1.6, 0, 0]]),
     "prior 'rdkit_mmff' has no parameters for B (it covers H, C, N, O, F, Si, P, S, Cl, Br, I"),
])
def test_a_prior_refuses_elements_it_has_no_parameters_for(spec, atoms, message):
    prior = get_prior(spec)
    with pytest.raises(ValueError) as error:
        prior.check_elements([atoms])
    assert str(error.value).startswith(message), str(error.value)
    with pytest.raises(ValueError) as error:
        prior.compute([atoms])
    assert str(error.value).startswith(message), str(error.value)


def test_ttt_refuses_an_uncovered_element_before_the_model_changes(tmp_path):
    """A carbon atom in a silicon frame, Tersoff prior: the CLI says so in one line and writes
    nothing."""
    atoms = read(DATA / "si_ood_surface.xyz", index=0)
    atoms.symbols[0] = "C"
    write(tmp_path / "mixed.xyz", [atoms])
    out = tmp_path / "adapted.pt"
    assert main(["ttt", str(SI_MODEL), str(tmp_path / "mixed.xyz"), "-o", str(out),
                 "--prior", "tersoff"]) == 1
    assert not out.exists()


# --- the CLI, the model file, the calculator, the config, LAMMPS's entry point --------------

@pytest.fixture(scope="module")
def surface(tmp_path_factory):
    """Three labelled OOD surface frames of the silicon data."""
    path = tmp_path_factory.mktemp("surface") / "surface3.xyz"
    write(path, read(DATA / "si_ood_surface.xyz", index=":3"))
    return path


def test_cli_spec_gives_the_numbers_of_the_python_prior(tmp_path, surface, capsys):
    from mlff_ttt.evaluate import evaluate_model
    from mlff_ttt.refine.ttt import TTTSettings

    assert main(["eval", str(SI_MODEL), str(surface), "--ttt", "--ttt-steps", "3",
                 "--prior", CU_TEXT, "--json", str(tmp_path / "cli.json")]) == 0
    text = capsys.readouterr().out
    cli = json.loads((tmp_path / "cli.json").read_text())
    python = evaluate_model(SI_MODEL, surface, ttt=TTTSettings(steps=3),
                            prior=get_prior("morse", **CU))
    assert cli["ttt"]["steps"] == python["ttt"]["steps"] == 3  # the gate let it adapt
    assert cli["ttt"]["prior"] == python["ttt"]["prior"] == "morse:D=0.3429,a=1.3588,cutoff=5.0,r0=2.866"
    for key in ("energy_mae", "force_mae", "energy_rmse", "force_rmse"):
        assert cli[key] == python[key], key
    assert cli["ttt"]["prior_loss_after"] == python["ttt"]["prior_loss_after"]
    assert cli["ttt"]["prior_loss_after"] < cli["ttt"]["prior_loss_before"]
    assert "TTT skipped" not in text
    # the bare name is refused with the parameters it needs, and nothing is written
    assert main(["eval", str(SI_MODEL), str(surface), "--ttt", "--prior", "morse",
                 "--json", str(tmp_path / "bare.json")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("mlff-ttt eval: error: prior 'morse' needs D (eV), a (1/A), r0 (A), "
                           "cutoff (A): give them as morse:D=...,a=...,r0=...,cutoff=...")
    assert not (tmp_path / "bare.json").exists()


def test_export_records_the_spec_and_ttt_uses_it(tmp_path, surface, capsys):
    exported = tmp_path / "si_morse.pt"
    assert main(["export", str(SI_MODEL), "-o", str(exported), "--prior",
                 "morse:cutoff=5.0,r0=2.866,a=1.3588,D=0.3429"]) == 0
    capsys.readouterr()
    assert main(["info", str(exported)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["prior_name"] == "morse:D=0.3429,a=1.3588,cutoff=5.0,r0=2.866"
    # "the model's prior" is that spec: TTT without --prior gives what --prior SPEC gives
    records = []
    for extra in ([], ["--prior", CU_TEXT]):
        out = tmp_path / f"adapted{len(records)}.pt"
        assert main(["ttt", str(exported), str(surface), "-o", str(out), "--ttt-steps", "2",
                     *extra]) == 0
        capsys.readouterr()
        assert main(["info", str(out)]) == 0
        records.append(json.loads(capsys.readouterr().out)["ttt"])
    assert records[0]["prior"] == records[1]["prior"] == info["prior_name"]
    assert records[0]["prior_loss_after"] == records[1]["prior_loss_after"]
    assert records[0]["steps"] == 2
    # a spec missing a parameter is refused before anything is written
    bad = tmp_path / "bad.pt"
    assert main(["export", str(SI_MODEL), "-o", str(bad), "--prior", "morse:D=0.3429"]) == 1
    assert "prior 'morse' needs a (1/A), r0 (A), cutoff (A)" in capsys.readouterr().err
    assert not bad.exists()


def test_old_model_files_plain_prior_name_still_works(tmp_path, surface, capsys):
    """Files written before specs record a plain name ("tersoff"): it parses as a spec with no
    parameters, and TTT on it equals TTT with --prior tersoff. The shipped silicon files record
    the explicit spec, tersoff:variant=mod; the molecular ones gfnff (no parameters)."""
    from mlff_ttt.export import export_checkpoint
    from mlff_ttt.model_file import read_metadata
    from mlff_ttt.refine.ttt import default_prior

    shipped = read_metadata(SI_MODEL)
    assert shipped["prior_name"] == "tersoff:variant=mod"
    assert read_metadata(ROOT / "examples" / "models" / "mol_schnet.pt")["prior_name"] == "gfnff"
    old = tmp_path / "old.pt"
    metadata = export_checkpoint(SI_MODEL, old, prior="tersoff",
                                 train=shipped["reference_statistics"]["source"],
                                 val=shipped["ttt_reference"]["source"])
    assert metadata["prior_name"] == "tersoff" == default_prior(metadata)
    assert parse_prior_spec(metadata["prior_name"]) == PriorSpec("tersoff", {})
    losses = []
    for extra in ([], ["--prior", "tersoff"]):
        out = tmp_path / f"t{len(losses)}.pt"
        assert main(["ttt", str(old), str(surface), "-o", str(out), "--ttt-steps", "1",
                     *extra]) == 0
        text = capsys.readouterr().out
        assert "(prior tersoff)" in text
        losses.append(read_metadata(out)["ttt"]["prior_loss_after"])
    assert losses[0] == losses[1]


def test_gate_skip_is_printed_with_its_numbers(tmp_path, capsys):
    """si_schnet on its own in-distribution test split: the gate leaves it alone, and the
    text says so with the two numbers it compared."""
    from mlff_ttt.model_file import read_metadata

    assert main(["eval", str(SI_MODEL), str(DATA / "si_test.xyz"), "--ttt", "--prior", "labels",
                 "--json", str(tmp_path / "id.json")]) == 0
    text = capsys.readouterr().out
    record = json.loads((tmp_path / "id.json").read_text())["ttt"]
    reference = read_metadata(SI_MODEL)["ttt_reference"]
    gate = reference["prior_loss_mean"] + 2.0 * reference["prior_loss_std"]
    assert record["skipped"] and record["steps"] == 0
    assert record["gate_threshold"] == pytest.approx(gate, rel=1e-12)
    assert record["prior_loss_before"] < gate
    line = (f"TTT skipped: prior-head loss {record['prior_loss_before']:.6g} below the gate "
            f"{gate:.6g}")
    assert line in text.splitlines()
    # the same from `mlff-ttt ttt`
    out = tmp_path / "same.pt"
    assert main(["ttt", str(SI_MODEL), str(DATA / "si_test.xyz"), "-o", str(out),
                 "--prior", "labels"]) == 0
    assert line in capsys.readouterr().out.splitlines()


def test_calculator_takes_a_spec(surface):
    from mlff_ttt.calculator import MLFFCalculator

    atoms = read(surface, index=0)
    results = []
    for prior in (CU_TEXT, {"name": "morse", **CU}, get_prior("morse", **CU)):
        calc = MLFFCalculator(SI_MODEL, ttt={"steps": 2}, prior=prior)
        a = atoms.copy()
        a.calc = calc
        results.append((a.get_potential_energy(), a.get_forces()))
        assert calc.ttt_record["steps"] == 2
    for energy, forces in results[1:]:
        assert energy == results[0][0]
        np.testing.assert_array_equal(forces, results[0][1])
    with pytest.raises(ValueError, match="^prior 'morse' needs D"):
        MLFFCalculator(SI_MODEL, ttt={"steps": 2}, prior="morse")


def test_lammps_entry_point_reads_the_same_spec():
    """``prior python morse D=0.3429 ...``: the C++ passes the name and key -> text."""
    from mlff_ttt.plugin.entry_points import registry_prior

    deck = {k: str(v) for k, v in CU.items()}
    prior = registry_prior("morse", deck)
    assert str(prior.spec) == str(get_prior(CU_TEXT).spec)
    frames = [dimer("Si", "Si", 2.5)]
    assert prior.compute(frames)[0][0] == get_prior(CU_TEXT).compute(frames)[0][0]
    with pytest.raises(ValueError, match="^prior 'morse' needs D .*give them as morse:D="):
        registry_prior("morse", {})
    with pytest.raises(ValueError, match="^prior 'morse' has no parameter 'eps'"):
        registry_prior("morse", {**deck, "eps": "1"})
    # given the run's elements, a prior that does not cover one is refused at set-up
    assert registry_prior("rdkit_mmff", {}, ["C", "H"]).spec == PriorSpec("rdkit_mmff", {})
    with pytest.raises(ValueError, match="^prior 'rdkit_mmff' has no parameters for Cu"):
        registry_prior("rdkit_mmff", {}, ["C", "NULL", "Cu"])
    # a prior LAMMPS evaluates is the run's own pair style instead (not a second LAMMPS)
    with pytest.raises(ValueError, match="^prior python tersoff runs LAMMPS"):
        registry_prior("tersoff", {})


def test_training_config_names_its_prior(tmp_path):
    from mlff_ttt.config import load_config

    base = (ROOT / "examples" / "configs" / "si_schnet.yaml").read_text().replace(
        "../data/", str(DATA) + "/")
    path = tmp_path / "c.yaml"
    path.write_text(base + "prior:\n  name: morse\n  D: 0.3429\n  a: 1.3588\n  r0: 2.866\n"
                           "  cutoff: 5.0\n")
    assert load_config(path).prior == "morse:D=0.3429,a=1.3588,cutoff=5.0,r0=2.866"
    path.write_text(base + "prior: tersoff\n")
    assert load_config(path).prior == "tersoff"
    assert load_config(ROOT / "examples" / "configs" / "si_schnet.yaml").prior is None
    path.write_text(base + "prior: morse:D=0.3429\n")
    with pytest.raises(ValueError, match=r"c\.yaml: prior: prior 'morse' needs a \(1/A\)"):
        load_config(path)


def test_config_prior_file_is_relative_to_the_config(tmp_path):
    from mlff_ttt.config import load_config
    from mlff_ttt.priors import PairFittedPrior

    frames = read(DATA / "si_train.xyz", index="::20")
    PairFittedPrior.fit(frames, ["Si"], cutoff=5.0, num_basis=6).save(tmp_path / "pair.json")
    base = (ROOT / "examples" / "configs" / "si_schnet.yaml").read_text().replace(
        "../data/", str(DATA) + "/")
    (tmp_path / "c.yaml").write_text(base + "prior: pair_fitted:path=pair.json\n")
    assert load_config(tmp_path / "c.yaml").prior == f"pair_fitted:path={tmp_path / 'pair.json'}"
    # a pathlib path given in Python is recorded as its text
    assert str(get_prior("pair_fitted", path=tmp_path / "pair.json").spec) == \
        f"pair_fitted:path={tmp_path / 'pair.json'}"
    (tmp_path / "c.yaml").write_text(base + "prior: pair_fitted:path=missing.json\n")
    with pytest.raises(OSError):
        load_config(tmp_path / "c.yaml")


def test_eval_refuses_a_prior_without_ttt(tmp_path, surface, capsys):
    assert main(["eval", str(SI_MODEL), str(surface), "--prior", CU_TEXT]) == 1
    assert capsys.readouterr().err.strip() == (
        "mlff-ttt eval: error: --prior is the TTT prior: give --ttt or --ttt-per-structure "
        "with it (a plain eval uses no prior)")


@pytest.mark.lammps
@pytest.mark.parametrize("arguments, error", [
    ("morse", "ERROR: pair_coeff * * prior python morse: cannot create the prior 'morse': ValueError: prior "
              "'morse' needs D (eV), a (1/A), r0 (A), cutoff (A): give them as "
              "morse:D=...,a=...,r0=...,cutoff=..."),
    ("morse D=0.3429 a=1.3588 r0=2.866 cutoff=5.0 x=1",
     "ValueError: prior 'morse' has no parameter 'x'; it takes D, a, r0, cutoff"),
])
def test_lammps_prior_python_checks_the_spec(tmp_path, arguments, error):
    from helpers import run_ttt_deck

    result = run_ttt_deck(tmp_path, read(DATA / "si_ood_liquid.xyz", index=0),
                          "ttt every 2 steps 1 lr 1e-3 gate_std 0",
                          prior=f"pair_coeff * * prior python {arguments}",
                          extra="fix 1 all nve\nrun 2", thermo=1)
    assert result.returncode != 0
    assert error in result.stdout, result.stdout[-1500:]


def test_export_records_the_training_configs_prior(tmp_path):
    """A checkpoint whose config names a prior: export records it; --prior overrides it."""
    import torch

    from mlff_ttt.export import export_checkpoint
    from mlff_ttt.models import build_model

    model = build_model("schnet", elements=["Si"], cutoff=4.0, hidden=8, num_basis=4,
                        shared_layers=1, head_layers=1).double()
    ckpt = tmp_path / "model.ckpt"
    torch.save({"architecture": "schnet", "hparams": model.hparams,
                "model_state": model.state_dict(), "parameter_groups": model.parameter_groups(),
                "config": {"prior": "morse:D=0.3429,a=1.3588,cutoff=5.0,r0=2.866"}}, ckpt)
    assert export_checkpoint(ckpt, tmp_path / "a.pt")["prior_name"] == \
        "morse:D=0.3429,a=1.3588,cutoff=5.0,r0=2.866"
    assert export_checkpoint(ckpt, tmp_path / "b.pt", prior={"name": "zbl", "cutoff": 2.5}
                             )["prior_name"] == "zbl:cutoff=2.5"


@pytest.mark.lammps
def test_lammps_registry_prior_refuses_an_element_at_set_up(tmp_path):
    """A registry prior without parameters for an element of the run is an ERROR at the run's
    set-up, naming the element, before any update (a pair_fitted prior of aluminium on
    silicon)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from helpers import run_ttt_deck
    from mlff_ttt.priors.fitted import PairFittedPrior

    frames = []
    for seed in range(3):
        atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
        atoms.rattle(0.05, seed=seed)
        atoms.calc = EMT()
        atoms.info["REF_energy"] = atoms.get_potential_energy()
        atoms.arrays["REF_forces"] = atoms.get_forces()
        frames.append(atoms)
    PairFittedPrior.fit(frames, ["Al"], cutoff=4.5, num_basis=6).save(tmp_path / "al.json")
    result = run_ttt_deck(tmp_path, read(DATA / "si_ood_liquid.xyz", index=0),
                          "ttt every 2 steps 1 lr 1e-3 gate_std 0 log ttt.log",
                          prior="pair_coeff * * prior python pair_fitted "
                                f"path={tmp_path / 'al.json'}",
                          extra="fix 1 all nve\nrun 2", thermo=1)
    assert result.returncode != 0
    assert ("ERROR: pair_coeff * * prior python pair_fitted: cannot create the prior "
            "'pair_fitted'") in result.stdout
    assert "no parameters for Si" in result.stdout, result.stdout[-1500:]
    assert not (tmp_path / "ttt.log").exists()        # refused before TTT began
