"""Deterministic molecular datasets (the "Molecules family") with GFN2-xTB / GFN-FF labels.

Molecules are built from SMILES with RDKit (explicit hydrogens, ETKDGv3 embedding with a
fixed random seed), relaxed and then sampled by Langevin MD (ASE, 0.5 fs) driven by the
cheap prior, GFN-FF (``gfnff`` package). Every trajectory has its own conformer seed,
temperature and noise stream; frames are taken every ``STRIDE_STEPS`` steps after an
equilibration period. Each frame is then labelled with

* the reference, GFN2-xTB (``tblite`` package): ``info["REF_energy"]``, ``arrays["REF_forces"]``
* the prior, GFN-FF (``gfnff`` package): ``info["PRIOR_energy"]``, ``arrays["PRIOR_forces"]``

in eV and eV/A. Both labels are computed from scratch per frame (fresh SCF for the
reference, fresh topology for the prior), so a label depends only on its own frame.
Molecules are non-periodic (``pbc=False``, zero cell) and neutral closed-shell.

Splits (``<split>.xyz`` plus a ``<split>.json`` provenance record each):

* ``mol_train``/``mol_val``/``mol_test``: small C/H/N/O molecules at 300-600 K; the three
  splits share molecules but come from disjoint trajectories.
* ``mol_ood_elements`` (S, Cl, F, P), ``mol_ood_size`` (24-33 atoms),
  ``mol_ood_connectivity`` (cages and fused rings), ``mol_ood_force`` (the in-distribution
  molecules at 1500-2500 K, every other frame additionally compressed about its centroid).
* ``md17_train``/``md17_val`` (aspirin, benzene, uracil; 500 K) and ``md17_ood_molecules``
  (naphthalene, toluene, salicylic acid; 500 K).

Generation is resumable: a split is written (atomically) only once all its frames are
labelled, and a split whose files already match the requested plan is skipped.
Same seed and scale give byte-identical files (run single-threaded, OMP_NUM_THREADS=1, to
rule out thread-count dependent floating-point reductions).

Usage::

    OMP_NUM_THREADS=1 python -m mlff_ttt.datasets.molecules --out examples/data
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import ase
import ase.io
import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from tqdm import tqdm

from ..files import write_atomically
from ..priors.chemistry import check_molecule_frame, gfnff_single_point

REF_METHOD = "GFN2-xTB (tblite), Bannwarth, Ehlert, Grimme, JCTC 15, 1652 (2019)"
PRIOR_METHOD = "GFN-FF (gfnff, default parametrisation), Spicher, Grimme, Angew. Chem. 59, 15665 (2020)"

# --- sampling protocol -------------------------------------------------------------------
TIMESTEP_FS = 0.5
FRICTION_PER_FS = 0.01  # Langevin friction (1 / 100 fs)
RELAX_FMAX = 0.05  # eV/A, GFN-FF pre-relaxation of the embedded conformer
RELAX_STEPS = 200
EQUIL_STEPS = 400  # 200 fs
STRIDE_STEPS = 40  # 20 fs between frames
POSITION_DECIMALS = 8  # extxyz writes positions as %16.8f; frames are labelled as written

# --- molecules ---------------------------------------------------------------------------
SMILES = {
    # in-distribution: small C/H/N/O molecules
    "methanol": "CO",
    "ethanol": "CCO",
    "dimethyl_ether": "COC",
    "acetone": "CC(C)=O",
    "propanal": "CCC=O",
    "acetic_acid": "CC(=O)O",
    "formamide": "NC=O",
    "acetamide": "CC(N)=O",
    "urea": "NC(N)=O",
    "glycine": "NCC(=O)O",
    "pyridine": "c1ccncc1",
    "phenol": "Oc1ccccc1",
    # other elements
    "thiophene": "c1ccsc1",
    "chloroform": "ClC(Cl)Cl",
    "fluorobenzene": "Fc1ccccc1",
    "dimethyl_sulfoxide": "CS(C)=O",
    "trimethyl_phosphate": "COP(=O)(OC)OC",
    "chlorobenzene": "Clc1ccccc1",
    # larger C/H/N/O molecules
    "caffeine": "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "ibuprofen": "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "naproxen": "COc1ccc2cc(ccc2c1)C(C)C(=O)O",
    "trialanine": "C[C@H](N)C(=O)N[C@@H](C)C(=O)N[C@@H](C)C(=O)O",
    # cages and fused rings
    "adamantane": "C1C2CC3CC1CC(C2)C3",
    "cubane": "C12C3C4C1C5C2C3C45",
    "norbornane": "C1CC2CCC1C2",
    "naphthalene": "c1ccc2ccccc2c1",
    "anthracene": "c1ccc2cc3ccccc3cc2c1",
    # MD17-style
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "benzene": "c1ccccc1",
    "uracil": "O=c1cc[nH]c(=O)[nH]1",
    "toluene": "Cc1ccccc1",
    "salicylic_acid": "O=C(O)c1ccccc1O",
}

ID_MOLECULES = ("methanol", "ethanol", "dimethyl_ether", "acetone", "propanal", "acetic_acid",
                "formamide", "acetamide", "urea", "glycine", "pyridine", "phenol")
ID_TEMPERATURES = (300.0, 400.0, 500.0, 600.0)


@dataclass(frozen=True)
class SplitSpec:
    family: str
    molecules: tuple[str, ...]
    temperatures_K: tuple[float, ...]  # repeated values mean independent replicas
    n_frames: int  # at scale=1
    compress: tuple[float, float] | None = None  # every other frame scaled by U(lo, hi)
    description: str = ""


SPLITS: dict[str, SplitSpec] = {
    "mol_train": SplitSpec("mol", ID_MOLECULES, ID_TEMPERATURES, 200,
                           description="in-distribution small C/H/N/O molecules"),
    "mol_val": SplitSpec("mol", ID_MOLECULES, ID_TEMPERATURES, 40,
                         description="in-distribution, trajectories disjoint from train"),
    "mol_test": SplitSpec("mol", ID_MOLECULES, ID_TEMPERATURES, 40,
                          description="in-distribution, trajectories disjoint from train/val"),
    "mol_ood_elements": SplitSpec(
        "mol", ("thiophene", "chloroform", "fluorobenzene", "dimethyl_sulfoxide",
                "trimethyl_phosphate", "chlorobenzene"), ID_TEMPERATURES, 40,
        description="unseen elements S, Cl, F, P"),
    "mol_ood_size": SplitSpec(
        "mol", ("caffeine", "ibuprofen", "naproxen", "trialanine"), ID_TEMPERATURES, 40,
        description="larger C/H/N/O molecules"),
    "mol_ood_connectivity": SplitSpec(
        "mol", ("adamantane", "cubane", "norbornane", "naphthalene", "anthracene"),
        ID_TEMPERATURES, 40, description="cages and fused rings"),
    "mol_ood_force": SplitSpec(
        "mol", ID_MOLECULES, (1500.0, 2000.0, 2500.0), 40, compress=(0.90, 0.95),
        description="in-distribution molecules, hot MD; every other frame compressed "
                    "isotropically about its centroid"),
    "md17_train": SplitSpec("md17", ("aspirin", "benzene", "uracil"), (500.0,) * 4, 150,
                            description="MD17-style molecules at 500 K"),
    "md17_val": SplitSpec("md17", ("aspirin", "benzene", "uracil"), (500.0,) * 4, 30,
                          description="MD17-style, trajectories disjoint from train"),
    "md17_ood_molecules": SplitSpec(
        "md17", ("naphthalene", "toluene", "salicylic_acid"), (500.0,) * 4, 60,
        description="unseen MD17-style molecules at 500 K"),
}


# --- labelling ---------------------------------------------------------------------------
def _quiet(_message: str) -> None:
    """Logger for the tblite context: drop all output."""


def gfn2_xtb_single_point(numbers: np.ndarray,
                          positions: np.ndarray) -> tuple[float, np.ndarray]:
    """GFN2-xTB energy (eV) and forces (eV/A) from a fresh calculator (no SCF restart)."""
    from tblite.interface import Calculator

    calc = Calculator("GFN2-xTB", numbers, positions / units.Bohr, color=False, logger=_quiet)
    calc.set("verbosity", 0)
    result = calc.singlepoint()
    energy = float(result.get("energy")) * units.Hartree
    forces = -np.asarray(result.get("gradient"), dtype=float) * (units.Hartree / units.Bohr)
    return energy, forces


class _PriorMD(Calculator):
    """Minimal ASE calculator for MD with the prior: GFN-FF energy and forces, with the
    topology perceived once from the first geometry (as in GFN-FF MD). Used instead of
    ``gfnff.GFNFF`` because that one also fetches the EEQ charges every step, which grows
    the process memory by a few kB per call (gfnff 0.3.1)."""

    implemented_properties = ["energy", "forces"]

    def __init__(self):
        super().__init__()
        self._ff = None

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        from gfnff import GFNFFCalculator

        super().calculate(atoms, properties, system_changes)
        numbers, pos_bohr = self.atoms.numbers, self.atoms.positions / units.Bohr
        if self._ff is None or "numbers" in system_changes:
            self._ff = GFNFFCalculator(numbers, pos_bohr, printlevel=0)
        energy, gradient, _ = self._ff.singlepoint(numbers, pos_bohr)
        self.results = {"energy": float(energy) * units.Hartree,
                        "forces": -np.asarray(gradient) * (units.Hartree / units.Bohr)}


def label_frames(atoms_list, progress: bool = True) -> list[Atoms]:
    """Copies of the frames (positions, numbers, pbc=False) labelled with REF_/PRIOR_
    energy (info) and forces (arrays). Raises ValueError("frame i: ...") on bad input or a
    failed calculation."""
    atoms_list = list(atoms_list)
    for i, atoms in enumerate(atoms_list):
        check_molecule_frame(i, atoms)
    out = []
    for i, atoms in enumerate(tqdm(atoms_list, desc="labels", disable=not progress, leave=False)):
        # Only geometry and species are kept: no calculator, no foreign info/arrays.
        frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, pbc=False)
        for label, fn in (("REF", gfn2_xtb_single_point), ("PRIOR", gfnff_single_point)):
            try:
                energy, forces = fn(frame.numbers, frame.positions)
            except Exception as exc:  # tblite/gfnff raise RuntimeError subclasses
                raise ValueError(f"frame {i}: {label} calculation failed: {exc}") from exc
            if not (math.isfinite(energy) and np.all(np.isfinite(forces))):
                raise ValueError(f"frame {i}: non-finite {label} energy/forces")
            frame.info[f"{label}_energy"] = energy
            frame.arrays[f"{label}_forces"] = forces
        out.append(frame)
    return out


# --- sampling ----------------------------------------------------------------------------
def _name_key(name: str) -> int:
    """Stable integer for a split name (RNG stream id independent of split order)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def _plan(split: str, seed: int, scale: float) -> list[dict]:
    """Trajectories of one split, from the RNG stream (seed, split name): changing the
    size of one split never changes another."""
    spec = SPLITS[split]
    rng = np.random.default_rng([seed, _name_key(split)])
    n_frames = max(1, round(spec.n_frames * scale))
    mols, temps = spec.molecules, spec.temperatures_K
    # (molecule, temperature) pairs; the first round visits every molecule once with
    # temperatures staggered, so even tiny splits cover all molecules.
    pairs = [(m, temps[(k + r) % len(temps)]) for r in range(len(temps)) for k, m in enumerate(mols)]
    n_traj = min(n_frames, len(pairs))
    plan, first = [], 0
    for k, (mol, temp) in enumerate(pairs[:n_traj]):
        n = n_frames // n_traj + (k < n_frames % n_traj)
        traj = dict(molecule=mol, smiles=SMILES[mol], temperature_K=temp,
                    embed_seed=int(rng.integers(1, 2**31 - 1)),
                    md_seed=int(rng.integers(1, 2**63 - 1)), n_frames=n)
        if spec.compress is not None:
            # Frames with an odd index in the split are compressed, by a factor drawn per
            # frame; 1.0 means uncompressed.
            factors = rng.uniform(*spec.compress, size=n)
            traj["compression"] = [round(float(f), 4) if (first + j) % 2 else 1.0
                                   for j, f in enumerate(factors)]
        plan.append(traj)
        first += n
    return plan


def embed(smiles: str, seed: int) -> Atoms:
    """RDKit conformer (explicit H, ETKDGv3, fixed seed) as a non-periodic Atoms."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"invalid SMILES {smiles!r}")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise RuntimeError(f"RDKit could not embed {smiles!r} (seed {seed})")
    pos = mol.GetConformer().GetPositions()
    numbers = [a.GetAtomicNum() for a in mol.GetAtoms()]
    return Atoms(numbers=numbers, positions=pos - pos.mean(axis=0), pbc=False)


def _as_written(positions: np.ndarray) -> np.ndarray:
    """Positions rounded exactly as extxyz will write them, so labels belong to the file."""
    fmt = f"%.{POSITION_DECIMALS}f"
    return np.array([[float(fmt % v) for v in row] for row in positions])


def _run_trajectory(traj: dict, on_frame=None) -> list[Atoms]:
    """Relax the embedded conformer with GFN-FF, then Langevin MD; returns the frames."""
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
    from ase.optimize import BFGS

    atoms = embed(traj["smiles"], traj["embed_seed"])
    atoms.calc = _PriorMD()
    BFGS(atoms, logfile=None).run(fmax=RELAX_FMAX, steps=RELAX_STEPS)
    rng = np.random.default_rng(traj["md_seed"])
    temp = traj["temperature_K"]
    thermalize_momenta(atoms, temp, rng=rng)  # Maxwell-Boltzmann
    Stationary(atoms)
    ZeroRotation(atoms)
    atoms.set_constraint(FixCom())  # no centre-of-mass drift (Langevin's own fixcm is deprecated)
    dyn = Langevin(atoms, TIMESTEP_FS * units.fs, temperature_K=temp,
                   friction=FRICTION_PER_FS / units.fs, fixcm=False, rng=rng)
    dyn.run(EQUIL_STEPS)
    frames = []
    for j in range(traj["n_frames"]):
        dyn.run(STRIDE_STEPS)
        pos = atoms.positions.copy()
        factor = traj.get("compression", [1.0] * traj["n_frames"])[j]
        if factor != 1.0:
            centre = pos.mean(axis=0)
            pos = centre + factor * (pos - centre)
        frames.append(Atoms(numbers=atoms.numbers, positions=_as_written(pos), pbc=False))
        if on_frame:
            on_frame()
    return frames


# --- files -------------------------------------------------------------------------------
def _versions() -> dict[str, str]:
    return {pkg: metadata.version(pkg) for pkg in ("tblite", "gfnff", "rdkit", "ase", "numpy")}


def _settings() -> dict:
    return {
        "md": "ase.md.langevin.Langevin (fixcm=False, ase.constraints.FixCom) driven by the "
              "prior (GFN-FF), after ase.optimize.BFGS pre-relaxation of the RDKit ETKDGv3 "
              "conformer; velocities Maxwell-Boltzmann, momentum and rotation removed",
        "timestep_fs": TIMESTEP_FS, "friction_per_fs": FRICTION_PER_FS,
        "relax_fmax_eV_per_A": RELAX_FMAX, "relax_max_steps": RELAX_STEPS,
        "equilibration_steps": EQUIL_STEPS, "stride_steps": STRIDE_STEPS,
        "position_decimals": POSITION_DECIMALS,
        "reference_settings": "tblite.interface.Calculator, default accuracy 1.0, SAD guess, "
                              "fresh SCF per frame, neutral, closed shell",
        "prior_settings": "gfnff.GFNFFCalculator, default version and accuracy, topology "
                          "perceived per frame, neutral",
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _up_to_date(xyz: Path, sidecar: Path, seed: int, plan: list[dict]) -> bool:
    """True if a previous run already wrote exactly this split."""
    if not (xyz.is_file() and sidecar.is_file()):
        return False
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return False
    n = sum(t["n_frames"] for t in plan)
    return (meta.get("seed") == seed and meta.get("n_frames") == n
            and meta.get("trajectories") == plan and meta.get("xyz_sha256") == _sha256(xyz))


def _force_stats(frames: list[Atoms]) -> dict:
    ref = np.concatenate([a.arrays["REF_forces"] for a in frames])
    prior = np.concatenate([a.arrays["PRIOR_forces"] for a in frames])
    return {
        "n_atoms_range": [min(map(len, frames)), max(map(len, frames))],
        "ref_force_norm_mean_eV_per_A": round(float(np.linalg.norm(ref, axis=1).mean()), 6),
        "ref_prior_force_pearson": round(float(np.corrcoef(ref.ravel(), prior.ravel())[0, 1]), 6),
    }


def generate(out_dir, seed: int = 0, scale: float = 1.0, splits=None,
             progress: bool = True) -> dict[str, Path]:
    """Write <split>.xyz (+ .json provenance) for the chosen splits (default: all) to
    out_dir and return {split: path}. Splits already present with the same plan are kept."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    splits = list(SPLITS) if splits is None else list(splits)
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise ValueError(f"unknown splits {unknown}; choose from {list(SPLITS)}")
    seed, scale = int(seed), float(scale)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    paths = {}
    for split in splits:
        spec = SPLITS[split]
        plan = _plan(split, seed, scale)
        xyz, sidecar = out_dir / f"{split}.xyz", out_dir / f"{split}.json"
        paths[split] = xyz
        if _up_to_date(xyz, sidecar, seed, plan):
            if progress:
                print(f"{split}: up to date, skipped", file=sys.stderr)
            continue
        n_frames = sum(t["n_frames"] for t in plan)
        frames = []
        with tqdm(total=n_frames, desc=f"{split} MD", disable=not progress, leave=False) as bar:
            for traj in plan:
                frames += _run_trajectory(traj, on_frame=bar.update)
        labelled = label_frames(frames, progress=progress)
        write_atomically(xyz, lambda p: ase.io.write(p, labelled, format="extxyz"))
        meta = {
            "file": xyz.name,
            "split": split,
            "family": spec.family,
            "description": spec.description,
            "generator": "mlff_ttt.datasets.molecules",
            "seed": seed,
            "scale": scale,
            "n_frames": n_frames,
            "units": {"energy": "eV", "forces": "eV/Angstrom", "positions": "Angstrom"},
            "labels": {"info": ["REF_energy", "PRIOR_energy"], "arrays": ["REF_forces", "PRIOR_forces"]},
            "reference": REF_METHOD,
            "prior": PRIOR_METHOD,
            "smiles": {m: SMILES[m] for m in spec.molecules},
            "temperatures_K": sorted(set(spec.temperatures_K)),
            "compression_range": list(spec.compress) if spec.compress else None,
            "settings": _settings(),
            "statistics": _force_stats(labelled),
            "trajectories": plan,  # in file order
            "versions": _versions(),
            "xyz_sha256": _sha256(xyz),
        }
        write_atomically(sidecar, lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"))
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/data", help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiplies the number of frames of every split")
    parser.add_argument("--splits", nargs="+", default=None, metavar="SPLIT",
                        help=f"subset of splits (space or comma separated): {', '.join(SPLITS)}")
    args = parser.parse_args(argv)
    splits = None
    if args.splits:
        splits = [s for item in args.splits for s in item.split(",") if s]
    try:
        paths = generate(args.out, seed=args.seed, scale=args.scale, splits=splits)
    except ValueError as exc:
        parser.error(str(exc))
    for split, path in paths.items():
        print(f"{split}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
