"""The `mlff-ttt` command line.

Every command checks the paths it will write (check_output) before it imports torch or reads
anything, so a mistyped or unwritable output fails at once, not after the work. For the same
reason this module imports nothing heavy: diagnose's arguments come from
mlff_ttt.diagnose_arguments, not mlff_ttt.diagnose (which needs torch and ASE).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .diagnose_arguments import add_arguments as add_diagnose_arguments
from .files import check_output, write_text_atomically


def _check_outputs(*paths) -> None:
    """check_output on each output path given (None: that output is not asked for)."""
    for path in paths:
        if path is not None:
            check_output(path)


def _train(args) -> None:
    from .config import load_config

    config = load_config(args.config)
    check_output(config.output, folder=True)
    from .train import train

    best = train(config, resume=args.resume, overwrite=args.overwrite)
    print(f"best checkpoint: {best}")


def _export(args) -> None:
    _check_outputs(args.output)
    from .export import export_checkpoint

    metadata = export_checkpoint(args.checkpoint, args.output, dtype=args.dtype,
                                 train=args.train, rr_grid=args.rr_grid, prior=args.prior,
                                 val=args.val, calibration=args.calibration,
                                 calibrate=False if args.no_calibration else
                                 True if args.calibrate else None)
    stats = metadata["reference_statistics"]
    print(f"wrote {args.output} ({metadata['architecture']}, {metadata['dtype']}, "
          f"elements {' '.join(metadata['elements'])}, cutoff {metadata['cutoff']} A)")
    if stats:
        print(f"reference statistics from {stats['n_structures']} structures of "
              f"{stats['source']}, radii {' '.join(f'{r:.4g}' for r in stats['radii'])} A")
    else:
        print("no training set found: the file has no reference statistics (RR and the "
              "monitor need them; give --train)", file=sys.stderr)
    calibration = metadata.get("ttt_calibration")
    if calibration:
        choice = calibration["choice"]
        print("TTT calibration: " + ("off (no setting lowered the calibration sets' force "
                                      "error by more than 2% without raising one's)"
                                      if choice == "off" else
                                      f"{choice['steps']} steps, lr {choice['lr']:g}") +
              f" ({calibration['rule']})")


def _info(args) -> None:
    from .model_file import read_metadata

    print(json.dumps(read_metadata(args.model), indent=2, sort_keys=True))


def _plugin_path(args) -> None:
    from .plugin import plugin_path

    print(plugin_path())


def _eval(args) -> None:
    _check_outputs(args.json, args.plot)
    from .evaluate import evaluate_model
    from .refine.ttt import gate_message

    if not (args.ttt or args.ttt_per_structure):
        if args.prior is not None:
            raise ValueError("--prior is the TTT prior: give --ttt or --ttt-per-structure with "
                             "it (a plain eval uses no prior)")
        given = [f"--{name.replace('_', '-')}" for name in TTT_SETTING_OPTIONS
                 if getattr(args, name) not in (None, False)]
        if given:    # else the eval would run plain and print numbers the user did not ask for
            raise ValueError(f"{' '.join(given)} set TTT's settings: give --ttt or "
                             f"--ttt-per-structure with them (a plain eval runs no TTT)")
    settings = _ttt_settings(args) if args.ttt or args.ttt_per_structure else None
    result = evaluate_model(args.model, args.data, plot=args.plot, rr=args.rr,
                            rr_method=args.rr_method, ttt=settings,
                            ttt_per_structure=args.ttt_per_structure, prior=args.prior)
    for key, value in result.items():
        if isinstance(value, float):
            print(f"{key:28s} {value:.6g}")
        elif key == "per_element_force_mae":
            print(f"{'force_mae per element':28s} " +
                  ", ".join(f"{el} {mae:.4g}" for el, mae in value.items()))
        elif key == "ttt":
            print(f"{'ttt prior loss':28s} {value['prior_loss_before']:.6g} -> "
                  f"{value['prior_loss_after']:.6g} ({value['steps']} steps, prior "
                  f"{value['prior']})")
            if gate_message(value):
                print(gate_message(value))
        elif key != "structures":
            print(f"{key:28s} {value}")
    if args.json:
        write_text_atomically(args.json, json.dumps(result, indent=2))


def _ttt_settings(args):
    from .refine.ttt import TTTSettings

    settings = TTTSettings.paper() if args.ttt_paper else TTTSettings()
    if args.ttt_calibrated:    # the model file's calibration (0 steps when it chose off)
        from .model_file import read_metadata
        from .refine.calibration import calibrated_settings

        settings = calibrated_settings(read_metadata(args.model))
    for field in ("steps", "lr", "optimizer", "batch_size", "weight_decay"):
        value = getattr(args, f"ttt_{field}")
        if value is not None:
            setattr(settings, field, value)
    return settings.check()


def _ttt(args) -> None:
    _check_outputs(args.output)
    from .data import read_frames
    from .refine.ttt import adapt_model, gate_message, save_adapted

    module, record = adapt_model(args.model, read_frames(args.data), _ttt_settings(args),
                                 args.prior)
    record["data"] = str(args.data)
    save_adapted(module, record, args.output)
    print(f"wrote {args.output}: prior loss {record['prior_loss_before']:.6g} -> "
          f"{record['prior_loss_after']:.6g} after {record['steps']} steps on "
          f"{record['n_structures']} structures (prior {record['prior']})")
    if gate_message(record):
        print(gate_message(record))


# the options of _add_ttt_arguments that set TTT's settings (argparse names)
TTT_SETTING_OPTIONS = ("ttt_steps", "ttt_lr", "ttt_optimizer", "ttt_batch_size",
                       "ttt_weight_decay", "ttt_calibrated", "ttt_paper")


def _add_ttt_arguments(p) -> None:
    p.add_argument("--prior", metavar="SPEC",
                   help="prior for the TTT labels as NAME or NAME:KEY=VALUE,... (e.g. "
                        "morse:D=0.3429,a=1.3588,r0=2.77,cutoff=5.0; docs/priors.md), or "
                        "'labels' for the data's PRIOR_* labels (default: the model file's prior)")
    p.add_argument("--ttt-steps", type=int, help="optimizer steps (default 50)")
    p.add_argument("--ttt-lr", type=float, help="learning rate (default 1e-3)")
    p.add_argument("--ttt-optimizer", choices=["adam", "sgd"], help="default adam")
    p.add_argument("--ttt-batch-size", type=int, help="structures per step (default 8)")
    p.add_argument("--ttt-weight-decay", type=float, help="default 0")
    p.add_argument("--ttt-calibrated", action="store_true",
                   help="the steps and learning rate the model file's TTT calibration chose "
                        "(no steps when it chose off; mlff-ttt info shows its evidence)")
    p.add_argument("--ttt-paper", action="store_true",
                   help="start from the paper's settings (SGD, lr 1e-5, 500 steps, ...)")


def _diagnose(args) -> int:
    _check_outputs(args.json, args.plot)
    from .diagnose import run

    return run(args)


def _data(args) -> None:
    check_output(args.out, folder=True)
    if args.family == "silicon":
        from .datasets import silicon

        paths = silicon.generate(args.out, seed=args.seed, n_train=args.n_train,
                                 n_val=args.n_val, n_test=args.n_test)
    elif args.family == "prior-md":
        from .data import read_frames
        from .datasets import prior_md

        if not args.structures or not args.prior:
            raise ValueError("data prior-md needs --structures (bulk cells or molecules to start "
                             "the prior MD from) and --prior (the prior spec that drives and "
                             "labels it)")
        recipe = prior_md.PriorMDRecipe(
            prior=args.prior, temperatures=args.temperatures or [], strains=args.strains or [],
            kinds=args.kinds or [], cluster_atoms=args.cluster_atoms, vacuum=args.vacuum,
            frames_per_trajectory=args.frames_per_trajectory, seed=args.seed)
        paths = prior_md.generate(args.out, read_frames(args.structures), recipe)
    elif args.family == "silicon-ood":
        from .datasets import silicon_ood

        paths = silicon_ood.generate(args.out, seed=args.seed, n_frames=args.n_test,
                                     splits=args.splits)
    else:
        from .datasets import molecules

        paths = molecules.generate(args.out, seed=args.seed, scale=args.scale, splits=args.splits)
    for name, path in paths.items():
        print(f"{name}: {path}")


def _label(args) -> None:
    _check_outputs(args.output)
    from .labelling import label, parse_keywords

    frames = label(args.input, args.output, prior=args.prior, reference=args.reference,
                   reference_params=parse_keywords(args.reference_param),
                   checkpoint_every=args.checkpoint_every)
    added = [name for name, given in (("PRIOR_*", args.prior), ("REF_*", args.reference)) if given]
    print(f"wrote {args.output}: {len(frames)} structures with {' and '.join(added)} labels")


def _fit_prior(args) -> None:
    _check_outputs(args.output)
    from .data import read_frames
    from .priors.fitted import PairFittedPrior

    frames = read_frames(args.data)
    elements = args.elements or sorted({s for atoms in frames for s in atoms.get_chemical_symbols()})
    prior = PairFittedPrior.fit(frames, elements, cutoff=args.cutoff, num_basis=args.num_basis)
    prior.save(args.output)
    print(f"wrote {args.output}: pair_fitted prior of {', '.join(elements)} (cutoff "
          f"{args.cutoff} A, {args.num_basis} basis functions) fitted to {len(frames)} "
          f"structures; use it as pair_fitted:path={args.output}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlff-ttt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("config")
    p.add_argument("--resume", action="store_true", help="continue from the output's last.pt")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh even if the output folder holds an earlier run's checkpoints")
    p.set_defaults(func=_train)

    p = sub.add_parser("export", help="export a checkpoint to a TorchScript model file")
    p.add_argument("checkpoint")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--dtype", choices=["float32", "float64"],
                   help="default: an exported file's own dtype, float64 for a checkpoint")
    p.add_argument("--train", help="training set for the RR/monitor reference statistics "
                                   "(default: the checkpoint's training set)")
    p.add_argument("--rr-grid", type=float, nargs="+", metavar="R",
                   help="candidate RR radii in A (default: an exported file's own grid, else 9 "
                        "from 0.6 x cutoff to the cutoff)")
    p.add_argument("--prior", metavar="SPEC",
                   help="the prior the prior head was trained on, NAME or NAME:KEY=VALUE,... "
                        "(docs/priors.md), recorded in the file as TTT's default prior "
                        "(default: the training config's prior, else an exported file's own)")
    p.add_argument("--val", help="held-out in-distribution set with PRIOR labels for TTT's "
                                 "gate (default: the checkpoint's validation set)")
    p.add_argument("--calibration", nargs="+", metavar="XYZ",
                   help="labelled sets (REF and PRIOR labels) to calibrate TTT on, each adapted "
                        "on alone (default: the validation set's pseudo-OOD part; docs/ttt.md)")
    p.add_argument("--calibrate", action="store_true",
                   help="calibrate a model file again (by default it keeps its own calibration)")
    p.add_argument("--no-calibration", action="store_true",
                   help="no TTT calibration in the file (by default a checkpoint is calibrated and "
                        "a model file keeps its own)")
    p.set_defaults(func=_export)

    p = sub.add_parser("info", help="print a model file's metadata as JSON")
    p.add_argument("model")
    p.set_defaults(func=_info)

    p = sub.add_parser("plugin-path", help="print the absolute path of the LAMMPS plugin")
    p.set_defaults(func=_plugin_path)

    p = sub.add_parser("eval", help="energy and force errors of a model on a labelled dataset")
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--json", help="also write the numbers (and per-structure errors) here")
    p.add_argument("--plot", help="write an energy/force parity plot to this PNG")
    p.add_argument("--rr", action="store_true", help="radius refinement per structure")
    p.add_argument("--rr-method", default="dense", choices=["dense", "kernel"],
                   help="RR spectra from dense eigenvalues (the paper's way) or the kernel")
    p.add_argument("--ttt", action="store_true",
                   help="test-time training on all the split's structures, then predict")
    p.add_argument("--ttt-per-structure", action="store_true",
                   help="test-time training on each structure alone")
    _add_ttt_arguments(p)
    p.set_defaults(func=_eval)

    p = sub.add_parser("ttt", help="adapt a model file to new structures by test-time training "
                                   "on a prior, and write the adapted model file")
    p.add_argument("model")
    p.add_argument("data", help="the new structures (extended XYZ; no reference labels needed)")
    p.add_argument("-o", "--output", required=True)
    _add_ttt_arguments(p)
    p.set_defaults(func=_ttt)

    p = sub.add_parser("diagnose", help="the three distribution-shift measures of a test set "
                                         "against a training set")
    add_diagnose_arguments(p)
    p.set_defaults(func=_diagnose)

    p = sub.add_parser("data", help="generate a labelled dataset (deterministic from --seed)")
    p.add_argument("family", choices=["silicon", "silicon-ood", "molecules", "prior-md"],
                   help="silicon: ID train/val/test; silicon-ood: the OOD splits; "
                        "molecules: GFN2-xTB-labelled molecular splits incl. MD17-style; "
                        "prior-md: prior-labelled MD of your own structures for "
                        "training.pretrain (docs/pretraining.md)")
    p.add_argument("--out", default="examples/data")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=200, help="silicon: training frames")
    p.add_argument("--n-val", type=int, default=40, help="silicon: validation frames")
    p.add_argument("--n-test", type=int, default=40,
                   help="silicon: test frames; silicon-ood: frames per OOD split")
    p.add_argument("--scale", type=float, default=1.0, help="molecules: frame-count multiplier")
    p.add_argument("--splits", nargs="+", help="silicon-ood, molecules: only these splits")
    p.add_argument("--structures", help="prior-md: extended XYZ file of periodic bulk cells "
                                        "(or, for kind molecule, molecules) to start from")
    p.add_argument("--prior", help="prior-md: the prior spec that drives the MD and labels it")
    p.add_argument("--temperatures", type=float, nargs="+", help="prior-md: temperatures (K)")
    p.add_argument("--strains", type=float, nargs="+",
                   help="prior-md: isotropic strains of the bulk cells, e.g. -0.05 0 0.05")
    p.add_argument("--kinds", nargs="+",
                   help="prior-md: of bulk, surface, cluster (from periodic cells), or molecule")
    p.add_argument("--cluster-atoms", type=int, default=0, help="prior-md: atoms per cluster")
    p.add_argument("--vacuum", type=float, default=10.0,
                   help="prior-md: vacuum (A) of slabs and clusters; more than the prior's cutoff")
    p.add_argument("--frames-per-trajectory", type=int, default=10, help="prior-md")
    p.set_defaults(func=_data)

    p = sub.add_parser("label", help="add PRIOR_* labels (a prior spec) and REF_* labels (an ASE "
                                     "calculator or LAMMPS pair style) to your own structures")
    p.add_argument("input", help="extended XYZ file of the structures")
    p.add_argument("-o", "--output", required=True, help="labelled extended XYZ file")
    p.add_argument("--prior", help="prior spec for PRIOR_* labels, e.g. "
                                   "morse:D=0.2703,a=1.1646,r0=3.253,cutoff=5.0 (docs/priors.md)")
    p.add_argument("--reference", help="REF_* labels from an ASE calculator, as module:Class "
                                       "(e.g. ase.calculators.emt:EMT), or a LAMMPS pair style, "
                                       "as lammps:pair_style=...,pair_coeff=...,elements=... "
                                       "(docs/priors.md)")
    p.add_argument("--reference-param", action="append", default=[], metavar="KEY=VALUE",
                   help="a keyword argument of the reference calculator (repeatable)")
    p.add_argument("--checkpoint-every", type=int, default=20,
                   help="frames between saves of the progress (OUTPUT.partial), from which an "
                        "interrupted call resumes")
    p.set_defaults(func=_label)

    p = sub.add_parser("fit-prior", help="fit the pair_fitted prior to a dataset's REF_* labels "
                                         "(a cheap pair potential of your own system)")
    p.add_argument("data", help="extended XYZ file with REF_energy/REF_forces labels")
    p.add_argument("-o", "--output", required=True, help="the prior's JSON file")
    p.add_argument("--cutoff", type=float, required=True, help="the pair potential's cutoff (A)")
    p.add_argument("--num-basis", type=int, default=12, help="radial basis functions per pair")
    p.add_argument("--elements", nargs="+", help="elements to cover (default: those of the data)")
    p.set_defaults(func=_fit_prior)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly, like other tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    # OSError: a missing input, a full disk or a folder that turned read-only mid-run
    except (OSError, ValueError, FloatingPointError) as exc:
        print(f"mlff-ttt {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
