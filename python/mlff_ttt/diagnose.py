"""Distribution-shift diagnosis of a test set against a training set.

For every test structure this measures the three shifts named in the paper and flags the
structure as out of distribution (OOD) by the one-standard-deviation rule:

* element novelty: elements absent from the training set (flagged when any are new);
* force norm: the per-structure mean of per-atom reference force norms, flagged when its
  z-score against the training structures exceeds 1 (larger forces than in training, the
  paper's label shift; calmer structures, such as a perfect crystal, are none);
* connectivity: the first four moments of the spectrum of the symmetric normalized Laplacian
  of the (envelope-weighted) radius graph, flagged when their distance to the training
  structures' (the RMS of their z-scores) exceeds the training distances' mean plus one
  standard deviation.

Both rules and measures are those of the live shift monitor in LAMMPS, so ``diagnose`` on a
trajectory says what the monitor would have said during it.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import List, Sequence

import numpy as np
from ase import Atoms

from .diagnose_arguments import DEFAULT_CUTOFF
from .diagnose_arguments import add_arguments  # noqa: F401 (importable from here, as before)
from .files import write_atomically, write_text_atomically
from .data import PRIOR_FORCES, REF_FORCES, mean_force_norm, read_frames
from .refine.rr import moment_statistics
from .refine.spectral import kernel_moments, moment_distance

SHIFTS = ("element", "force_norm", "connectivity")


# ----------------------------------------------------------------------------- diagnosis

def _measure(frames: Sequence[Atoms], cutoff: float, name: str):
    norms, sources, moments = [], [], []
    for index, atoms in enumerate(frames):
        value, source = mean_force_norm(atoms, index, name)
        norms.append(value)
        sources.append(source)
        moments.append(kernel_moments(atoms, [cutoff])[0])
    return np.array(norms), sources, np.array(moments)


def _fallback_note(sources: List[str], name: str) -> str | None:
    fallback = [k for k, s in enumerate(sources) if s == PRIOR_FORCES]
    if not fallback:
        return None
    shown = ", ".join(map(str, fallback[:10])) + (", ..." if len(fallback) > 10 else "")
    return (f"{name}: {len(fallback)} frame(s) lack {REF_FORCES}; used {PRIOR_FORCES} "
            f"for frame(s) {shown}")


def diagnose(train_frames: Sequence[Atoms], test_frames: Sequence[Atoms],
             cutoff: float = DEFAULT_CUTOFF, train_name: str = "train",
             test_name: str = "test") -> dict:
    """The JSON record of the three shift measures of every test structure.

    ``train_name``/``test_name`` (e.g. the file paths) only label error messages and notes.
    """
    if len(train_frames) < 2:
        raise ValueError(f"{train_name}: needs at least 2 training structures "
                         f"to estimate a standard deviation, got {len(train_frames)}")
    if len(test_frames) == 0:
        raise ValueError(f"{test_name}: holds no frames")
    if cutoff <= 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")

    train_norms, train_sources, train_moments = _measure(train_frames, cutoff, train_name)
    test_norms, test_sources, test_moments = _measure(test_frames, cutoff, test_name)
    train_elements = sorted({s for atoms in train_frames for s in atoms.get_chemical_symbols()})

    # Force norm: z-score against the training structures (population std; floored so that a
    # training set of identical structures gives large finite z instead of a division by 0).
    fn_mean, fn_std = float(train_norms.mean()), float(train_norms.std())
    z = (test_norms - fn_mean) / max(fn_std, 1e-12)

    # Connectivity: moment distance to the training structures; the threshold comes from the
    # training structures' own distances. (Smoothed eigenvalue densities, compared before,
    # flagged only 25-28% of the larger and the new-ring molecules once edges were weighted.)
    mean, std, train_dist = moment_statistics(train_moments[:, None])
    train_dist = train_dist[:, 0]
    test_dist = np.array([moment_distance(m, mean[0], std[0]) for m in test_moments])
    sd_mean, sd_std = float(train_dist.mean()), float(train_dist.std())
    sd_threshold = sd_mean + sd_std

    structures = []
    for k, atoms in enumerate(test_frames):
        new = sorted(set(atoms.get_chemical_symbols()) - set(train_elements))
        structures.append({
            "index": k,
            "formula": atoms.get_chemical_formula(),
            "n_atoms": len(atoms),
            "new_elements": new,
            "force_norm": float(test_norms[k]),
            "force_norm_z": float(z[k]),
            "force_source": test_sources[k],
            "spectral_distance": float(test_dist[k]),
            "ood_element": bool(new),
            "ood_force_norm": bool(z[k] > 1.0),
            "ood_connectivity": bool(test_dist[k] > sd_threshold),
        })

    n = len(structures)
    summary = {}
    for shift in SHIFTS:
        flagged = sum(s[f"ood_{shift}"] for s in structures)
        summary[shift] = {"n_flagged": flagged, "n_total": n, "fraction": flagged / n}
    any_flag = sum(any(s[f"ood_{shift}"] for shift in SHIFTS) for s in structures)
    summary["any"] = {"n_flagged": any_flag, "n_total": n, "fraction": any_flag / n}

    notes = [m for m in (_fallback_note(train_sources, train_name),
                         _fallback_note(test_sources, test_name)) if m]
    return {
        "cutoff": float(cutoff),
        "train": {
            "n_structures": len(train_frames),
            "elements": train_elements,
            "force_norm_mean": fn_mean,
            "force_norm_std": fn_std,
            "spectral_distance_mean": sd_mean,
            "spectral_distance_std": sd_std,
            "spectral_distance_threshold": sd_threshold,
            "force_norms": train_norms.tolist(),
            "spectral_distances": train_dist.tolist(),
        },
        "summary": summary,
        "structures": structures,
        "notes": notes,
    }


# ----------------------------------------------------------------------------- reporting

def format_report(record: dict) -> str:
    train, summary, structures = record["train"], record["summary"], record["structures"]
    mean = lambda key: float(np.mean([s[key] for s in structures]))  # noqa: E731
    lines = [
        f"training set: {train['n_structures']} structures, elements "
        f"{' '.join(train['elements'])}, cutoff {record['cutoff']:g} A",
        f"  force norm        mean {train['force_norm_mean']:.4f}  std "
        f"{train['force_norm_std']:.4f} eV/A",
        f"  spectral distance mean {train['spectral_distance_mean']:.4f}  std "
        f"{train['spectral_distance_std']:.4f}  (OOD above "
        f"{train['spectral_distance_threshold']:.4f})",
        "",
        f"{'shift':<14}{'flagged':>12}{'fraction':>10}  test mean measure",
    ]
    n_new = sum(bool(s["new_elements"]) for s in structures)
    measures = {
        "element": f"{n_new} structure(s) with new elements",
        "force_norm": f"force norm {mean('force_norm'):.4f} eV/A, "
                      f"mean z {np.mean([s['force_norm_z'] for s in structures]):+.2f}",
        "connectivity": f"spectral distance {mean('spectral_distance'):.4f}",
        "any": "",
    }
    for shift, text in measures.items():
        row = summary[shift]
        lines.append(f"{shift:<14}{row['n_flagged']:>6d} / {row['n_total']:<4d}"
                     f"{row['fraction']:>9.1%}  {text}")
    lines += ["", f"{'index':>5}  {'formula':<12}{'atoms':>6}  {'new':<8}{'|F| mean':>9}"
                  f"{'z':>8}{'spec.dist':>10}  flags"]
    for s in structures:
        flags = [name for name, key in (("E", "ood_element"), ("F", "ood_force_norm"),
                                        ("C", "ood_connectivity")) if s[key]]
        formula = s["formula"] if len(s["formula"]) <= 11 else s["formula"][:10] + "~"
        lines.append(f"{s['index']:>5}  {formula:<12}{s['n_atoms']:>6}  "
                     f"{','.join(s['new_elements']) or '-':<8}{s['force_norm']:>9.4f}"
                     f"{s['force_norm_z']:>8.2f}{s['spectral_distance']:>10.4f}  "
                     f"{''.join(flags) or '-'}")
    lines.append("flags: E new element, F force norm z > 1, "
                 "C spectral distance > train mean + 1 std")
    lines += [f"note: {note}" for note in record["notes"]]
    return "\n".join(lines)


def plot(record: dict, train_frames: Sequence[Atoms], test_frames: Sequence[Atoms],
         path: str) -> None:
    """Training vs test histograms of both measures and per-element atom fractions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, tests = record["train"], record["structures"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panels = [
        (axes[0], train["force_norms"], [s["force_norm"] for s in tests],
         "mean per-atom force norm (eV/A)",
         [train["force_norm_mean"] + d * train["force_norm_std"] for d in (-1, 1)]),
        (axes[1], train["spectral_distances"], [s["spectral_distance"] for s in tests],
         "spectral moment distance to the training structures", [train["spectral_distance_threshold"]]),
    ]
    for ax, train_values, test_values, label, thresholds in panels:
        bins = np.histogram_bin_edges(np.concatenate([train_values, test_values]), bins=30)
        ax.hist(train_values, bins=bins, alpha=0.6, density=True, label="train")
        ax.hist(test_values, bins=bins, alpha=0.6, density=True, label="test")
        for t in thresholds:
            ax.axvline(t, color="k", ls="--", lw=1)
        ax.set_xlabel(label)
        ax.set_ylabel("density")
        ax.legend()

    counts = [Counter(s for atoms in frames for s in atoms.get_chemical_symbols())
              for frames in (train_frames, test_frames)]
    elements = sorted(set(counts[0]) | set(counts[1]))
    x = np.arange(len(elements))
    for offset, (name, count) in zip((-0.2, 0.2), (("train", counts[0]), ("test", counts[1]))):
        total = sum(count.values())
        axes[2].bar(x + offset, [count[e] / total for e in elements], width=0.4, label=name)
    axes[2].set_xticks(x, elements)
    axes[2].set_ylabel("fraction of atoms")
    axes[2].set_title("elements")
    axes[2].legend()
    fig.tight_layout()
    write_atomically(path, lambda partial: fig.savefig(partial, dpi=120))
    plt.close(fig)


# ----------------------------------------------------------------------------- command line
# (the arguments are in mlff_ttt.diagnose_arguments, which imports nothing heavy)

def run(args) -> int:
    """Runs the diagnosis; FileNotFoundError/ValueError propagate to the CLI's handler."""
    train_frames = read_frames(args.train)
    test_frames = read_frames(args.test)
    record = diagnose(train_frames, test_frames, cutoff=args.cutoff,
                      train_name=str(args.train), test_name=str(args.test))
    record["train"]["file"], record["test_file"] = str(args.train), str(args.test)
    print(format_report(record))
    if args.json:
        write_text_atomically(args.json, json.dumps(record, indent=2))
    if args.plot:
        plot(record, train_frames, test_frames, args.plot)
    for note in record["notes"]:
        print(f"warning: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # python -m mlff_ttt.diagnose --train ... --test ...
    from .cli import main

    sys.exit(main(["diagnose"] + sys.argv[1:]))
