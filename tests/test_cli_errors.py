"""Bad input to the command line: each case runs `mlff-ttt` in a subprocess and must end with
exit status 1 and a one-line message naming the problem, never a traceback. An output that
cannot be written is found before any work (before torch is even imported)."""

import subprocess
import sys
from pathlib import Path

import ase.io
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "models" / "si_schnet.pt"
TEST = ROOT / "examples" / "data" / "si_test.xyz"
CLI = Path(sys.prefix) / "bin" / "mlff-ttt"


def make_inputs(folder: Path) -> None:
    lines = TEST.read_text().splitlines(keepends=True)
    (folder / "truncated.xyz").write_text("".join(lines[:40]))
    (folder / "malformed.xyz").write_text("garbage here\nnot a number\n")
    (folder / "empty.xyz").write_text("")
    # three columns per atom where the header declares ten
    (folder / "short_rows.xyz").write_text(
        "".join(lines[:2]) + "".join(" ".join(line.split()[:3]) + "\n" for line in lines[2:66]))
    frames = ase.io.read(TEST, ":2")
    for atoms in frames:
        del atoms.arrays["REF_forces"]
    ase.io.write(folder / "no_forces.xyz", frames, format="extxyz")
    (folder / "a_file").write_text("not a folder\n")
    (folder / "list.yaml").write_text("[1, 2]\n")
    (folder / "broken.yaml").write_text("model: [unclosed\n")
    (folder / "wrong_type.yaml").write_text(
        "data: {train: x.xyz, val: y.xyz}\nmodel: {architecture: schnet, elements: [Si], "
        "cutoff: four}\n")
    (folder / "output_under_a_file.yaml").write_text(
        f"data: {{train: {TEST}, val: {TEST}}}\nmodel: {{architecture: schnet, elements: [Si]}}\n"
        "output: a_file/run\n")


CASES = {
    "truncated_xyz": (["eval", MODEL, "truncated.xyz"],
                      "truncated.xyz is not a readable extended XYZ file: ase.io.extxyz: Frame "
                      "has 38 atoms, expected 64"),
    "malformed_xyz": (["eval", MODEL, "malformed.xyz"],
                      "malformed.xyz is not a readable extended XYZ file"),
    "empty_xyz": (["eval", MODEL, "empty.xyz"], "empty.xyz holds no structures"),
    "mismatched_columns": (["eval", MODEL, "short_rows.xyz"],
                           "short_rows.xyz is not a readable extended XYZ file"),
    "missing_forces": (["eval", MODEL, "no_forces.xyz"],
                       "no_forces.xyz: frame 0 has no REF_energy/REF_forces labels"),
    "missing_data": (["eval", MODEL, "nowhere.xyz"], "dataset nowhere.xyz does not exist"),
    "ttt_truncated": (["ttt", MODEL, "truncated.xyz", "-o", "out.pt"],
                      "truncated.xyz is not a readable extended XYZ file"),
    "config_not_a_mapping": (["train", "list.yaml"], "config list.yaml must be a mapping"),
    "config_not_yaml": (["train", "broken.yaml"], "config broken.yaml is not valid YAML"),
    "config_wrong_type": (["train", "wrong_type.yaml"], "model.cutoff"),
    "output_under_a_file": (["export", MODEL, "-o", "a_file/model.pt"],
                            "cannot write a_file/model.pt: a_file is a file, not a folder"),
    "unwritable_output": (["export", MODEL, "-o", "/proc/model.pt"], "cannot write /proc/model.pt"),
    "output_is_a_folder": (["export", MODEL, "-o", "."], "cannot write .: it is a folder, not a file"),
    "ttt_output_under_a_file": (["ttt", MODEL, TEST, "-o", "a_file/out.pt"],
                                "cannot write a_file/out.pt: a_file is a file, not a folder"),
    "eval_unwritable_json": (["eval", MODEL, TEST, "--json", "/proc/errors.json"],
                             "cannot write /proc/errors.json"),
    "eval_plot_under_a_file": (["eval", MODEL, TEST, "--plot", "a_file/parity.png"],
                               "cannot write a_file/parity.png: a_file is a file, not a folder"),
    "diagnose_json_under_a_file": (["diagnose", "--train", TEST, "--test", TEST, "--json",
                                    "a_file/shift.json"],
                                   "cannot write a_file/shift.json: a_file is a file, not a folder"),
    "data_out_under_a_file": (["data", "silicon", "--out", "a_file/data"],
                              "cannot write a_file/data: a_file is a file, not a folder"),
    "train_output_under_a_file": (["train", "output_under_a_file.yaml"],
                                  "a_file is a file, not a folder"),
    "not_a_model": (["info", "a_file"], "a_file"),
}
# the cases whose output cannot be written: refused before any work is done
OUTPUT_CASES = ["output_under_a_file", "unwritable_output", "output_is_a_folder",
                "ttt_output_under_a_file", "eval_unwritable_json", "eval_plot_under_a_file",
                "diagnose_json_under_a_file", "data_out_under_a_file", "train_output_under_a_file"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_cli_input_is_a_one_line_error(case, tmp_path):
    make_inputs(tmp_path)
    args, message = CASES[case]
    proc = subprocess.run([str(CLI)] + [str(a) for a in args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-1000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith(f"mlff-ttt {args[0]}: error: ") and message in error, error


@pytest.mark.parametrize("case", OUTPUT_CASES)
def test_an_unwritable_output_is_found_before_any_work(case, tmp_path):
    """The command stops at its output check: torch (1.5 s to import; loading the model and
    the training-set statistics come after it) is never imported."""
    make_inputs(tmp_path)
    args, message = CASES[case]
    probe = ("import sys\nfrom mlff_ttt.cli import main\n"
             f"status = main({[str(a) for a in args]!r})\n"
             "print(status, 'torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.stdout.split() == ["1", "False"], proc.stdout + proc.stderr[-2000:]
    assert message in proc.stderr
