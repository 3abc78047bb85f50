"""The default silicon model keeps the in-distribution error docs/speed.md gives it,
and the issue's bar (DeePMD-kit peer's si_test force MAE, 0.044 eV/A): a retrained file whose
tables were not measured again fails here."""

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
