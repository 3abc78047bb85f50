"""The command-line arguments of `mlff-ttt diagnose` and its default cutoff, apart from
mlff_ttt.diagnose (which needs torch and ASE, 1.5 s to import), so that the command line can
build its parser and check outputs before anything heavy is imported."""

from __future__ import annotations

DEFAULT_CUTOFF = 5.0   # the radius graph's cutoff in A


def add_arguments(parser) -> None:
    parser.add_argument("--train", required=True, help="training set (extended XYZ)")
    parser.add_argument("--test", required=True, help="test set (extended XYZ)")
    parser.add_argument("--json", help="also write the record to this JSON file")
    parser.add_argument("--plot", help="save training vs test histograms to this PNG")
    parser.add_argument("--cutoff", type=float, default=DEFAULT_CUTOFF,
                        help=f"radius-graph cutoff in Angstrom (default {DEFAULT_CUTOFF})")
