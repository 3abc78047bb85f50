"""Labels for a user's own structures (`mlff-ttt label`): PRIOR_* from a prior spec and REF_*
from any ASE calculator or LAMMPS pair style, written atomically and resumable after an interruption.

Progress is kept in ``OUT.partial`` (rewritten atomically every ``checkpoint_every`` frames);
a later call with the same input and output continues from it, after checking that the frames
it holds are the input's first frames. The output appears only when every frame is labelled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from ase import Atoms
from ase.io import read, write
from tqdm import tqdm

from .data import PRIOR_ENERGY, PRIOR_FORCES, REF_ENERGY, REF_FORCES, read_frames
from .files import check_output, write_atomically
from .priors import get_prior
from .priors.spec import parse_prior_spec, read_value
from .user_objects import find_object


def reference_calculator(target: str, params: Optional[Dict[str, object]] = None):
    """An ASE calculator from ``module:Class`` and its keyword arguments."""
    module_name, colon, attribute = target.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"--reference {target!r} must look like module:Class "
                         "(for example ase.calculators.emt:EMT)")
    factory = find_object(target, "reference calculator")
    calculator = factory(**(params or {}))
    if not callable(getattr(calculator, "get_potential_energy", None)):
        raise ValueError(f"{target} made {calculator!r}, which is not an ASE calculator")
    return calculator


def reference_labeller(target: str, params: Optional[Dict[str, object]] = None):
    """``atoms -> (energy, forces)`` for REF_* labels: an ASE calculator (``module:Class`` and
    its keyword arguments) or a LAMMPS pair style (``lammps:pair_style=...,pair_coeff=...,
    elements=...``, evaluated as the prior of that name is: docs/priors.md)."""
    if target.startswith("lammps:") and "=" in target:
        if params:
            raise ValueError("--reference-param is for an ASE calculator; a LAMMPS pair style's "
                             "settings are in its spec (lammps:pair_style=...,pair_coeff=...)")
        pair_style = get_prior(parse_prior_spec(target))

        def evaluate(atoms):
            energies, forces = pair_style.compute([atoms])
            return float(energies[0]), np.asarray(forces[0], dtype=float)
        return evaluate
    calculator = reference_calculator(target, params)

    def evaluate(atoms):
        probe = atoms.copy()
        probe.calc = calculator
        return float(probe.get_potential_energy()), np.asarray(probe.get_forces(), dtype=float)
    return evaluate


def parse_keywords(pairs: Sequence[str]) -> Dict[str, object]:
    """``key=value`` words as keyword arguments; values that read as numbers are numbers."""
    out: Dict[str, object] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key:
            raise ValueError(f"{pair!r} must look like key=value")
        out[key] = read_value(text)
    return out


def _partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def _same_structure(a: Atoms, b: Atoms) -> bool:
    return (len(a) == len(b) and np.array_equal(a.numbers, b.numbers)
            and np.allclose(a.positions, b.positions, rtol=0, atol=1e-6)
            and np.allclose(a.cell.array, b.cell.array, rtol=0, atol=1e-6))


def _resumed(partial: Path, frames: List[Atoms]) -> List[Atoms]:
    """The labelled frames of an earlier, interrupted call (empty when there is none)."""
    if not partial.is_file():
        return []
    done = read(partial, index=":", format="extxyz")
    if len(done) > len(frames) or not all(_same_structure(d, f) for d, f in zip(done, frames)):
        raise ValueError(f"{partial} holds the progress of another input; remove it to start "
                         "over")
    return done


def _write(path: Path, frames: List[Atoms]) -> None:
    write_atomically(path, lambda tmp: write(tmp, frames, format="extxyz"))


def label(input_path: str | Path, output_path: str | Path, prior: Optional[str] = None,
          reference: Optional[str] = None, reference_params: Optional[Dict[str, object]] = None,
          checkpoint_every: int = 20, progress: bool = True) -> List[Atoms]:
    """Adds PRIOR_energy/PRIOR_forces (``prior``: a prior spec) and REF_energy/REF_forces
    (``reference``: ``module:Class`` of an ASE calculator, or ``lammps:pair_style=...``: see
    :func:`reference_labeller`) to every frame of ``input_path`` and
    writes ``output_path``. Energies are totals per structure (eV), forces per atom (eV/A)."""
    if prior is None and reference is None:
        raise ValueError("name what to label with: --prior SPEC and/or --reference module:Class "
                         "(or lammps:pair_style=...)")
    if checkpoint_every < 1:
        raise ValueError("checkpoint_every must be >= 1")
    output = Path(output_path)
    check_output(output)
    frames = read_frames(input_path)
    prior_model = get_prior(parse_prior_spec(prior)) if prior is not None else None
    reference_of = reference_labeller(reference, reference_params) if reference else None
    partial = _partial_path(output)
    labelled = _resumed(partial, frames)
    bar = tqdm(total=len(frames), initial=len(labelled), unit="frame", disable=not progress,
               desc=f"labelling {Path(input_path).name}")
    for index in range(len(labelled), len(frames)):
        atoms = frames[index].copy()
        if prior_model is not None:
            energies, forces = prior_model.compute([atoms])
            atoms.info[PRIOR_ENERGY] = float(energies[0])
            atoms.arrays[PRIOR_FORCES] = np.asarray(forces[0], dtype=float)
        if reference_of is not None:
            atoms.info[REF_ENERGY], atoms.arrays[REF_FORCES] = reference_of(atoms)
        labelled.append(atoms)
        bar.update(1)
        if len(labelled) % checkpoint_every == 0 and len(labelled) < len(frames):
            _write(partial, labelled)
    bar.close()
    _write(output, labelled)
    partial.unlink(missing_ok=True)
    return labelled
