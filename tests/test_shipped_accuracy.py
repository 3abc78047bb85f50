"""The default silicon model keeps the in-distribution error docs/speed.md gives it, and the
issue's bar (DeePMD-kit peer's si_test force MAE, 0.044 eV/A); the MD17-style delta model
keeps the errors docs/ttt.md gives it: a retrained file whose tables were not measured again
fails here."""

import pytest

from helpers import DATA, ROOT

# si_test force MAE (eV/A) of each file, as docs/speed.md reports it
DOCUMENTED = {"si_painn12_bounded.pt": 0.0330, "si_painn12_bounded_f32.pt": 0.0330}
PEER_FORCE_MAE = 0.044


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_default_model_keeps_its_documented_error(name):
    from mlff_ttt.evaluate import evaluate_model

    result = evaluate_model(ROOT / "examples" / "models" / name, DATA / "si_test.xyz")
    assert result["force_mae"] == pytest.approx(DOCUMENTED[name], abs=5e-4)
    assert result["force_mae"] <= PEER_FORCE_MAE


# The MD17-style model delta-learned on GFN-FF (docs/delta.md): its force MAE (eV/A, the
# calculator adding GFN-FF back) on the validation molecules and on the new molecules, as
# docs/ttt.md reports them, and below the joint md17_schnet's on both.
MD17_DELTA = {"md17_val.xyz": 0.1085, "md17_ood_molecules.xyz": 0.2571}
MD17_JOINT = {"md17_val.xyz": 0.1489, "md17_ood_molecules.xyz": 0.4419}


@pytest.mark.parametrize("split", sorted(MD17_DELTA))
def test_md17_delta_model_keeps_its_documented_error(split):
    from mlff_ttt.evaluate import evaluate_model

    models = ROOT / "examples" / "models"
    delta = evaluate_model(models / "md17_schnet_delta.pt", DATA / split)["force_mae"]
    joint = evaluate_model(models / "md17_schnet.pt", DATA / split)["force_mae"]
    assert delta == pytest.approx(MD17_DELTA[split], abs=5e-4)
    assert joint == pytest.approx(MD17_JOINT[split], abs=5e-4)
    assert delta < joint
