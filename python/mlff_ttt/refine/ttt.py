"""Test-time training (TTT, Fix 2 of Kreiman & Krishnapriyan 2025), offline.

Given an exported model, new structures and a cheap prior's energies and forces for them (no
reference labels), take K optimizer steps on the prior loss through the prior head, updating
only the shared representation (the parameters the model file names in ``ttt_parameters``),
then predict with the reference head. The engine works on the loaded TorchScript module
itself, so the adapted module can be saved as a model file that LAMMPS runs like any other.

The loss is the training loss's form on the prior head: energy_weight x MSE of the energy
per atom + force_weight x MSE of the force components. The paper used SGD (lr 1e-5,
momentum 0.9, weight decay 1e-3, 500 steps) with energy MAE + 1000 x force MAE on GemNet-dT;
``TTTSettings.paper()`` gives those settings, the defaults are ours (see the README).
"""

from __future__ import annotations

import json
import math
import random
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from ase import Atoms

from ..data import PRIOR_ENERGY, PRIOR_FORCES, Frame, collate, graph_frame
from ..forces import evaluate
from ..model_calls import model_call_settings
from ..model_file import DTYPES, load_model_file, metadata_of, write_model_file
from ..priors import Prior, get_prior

OPTIMIZERS = ("sgd", "adam")
# The prior "name" that means: use the PRIOR_energy/PRIOR_forces the structures carry.
STORED_LABELS = "labels"


@dataclass
class TTTSettings:
    """How TTT adapts a model, offline and (with :class:`mlff_ttt.plugin.adapter.MDSettings`'
    bounds) in MD; the defaults are ours, :meth:`paper` gives the paper's."""

    steps: int = 50
    """Optimizer steps per adaptation (in MD: per update)."""
    lr: float = 1e-3
    optimizer: str = "adam"
    """One of OPTIMIZERS; ``momentum`` is SGD's only."""
    momentum: float = 0.9
    weight_decay: float = 0.0
    energy_weight: float = 100.0
    """The prior loss: energy_weight x MSE of the energy per atom + force_weight x MSE of the
    force components (the model's prior head against the prior's labels)."""
    force_weight: float = 10.0
    batch_size: int = 8
    """Structures per optimizer step (offline; drawn in a seeded random order)."""
    seed: int = 0
    # Adapt only when the prior head's loss on the new structures exceeds its validation
    # structures' mean + gate_std standard deviations (0: always; the statistics are in the
    # model file). Out-of-distribution splits lie 50-1600 std out.
    gate_std: float = 2.0
    # The stop rule: an adaptation stops once a step's prior loss is at or below the
    # validation mean + stop_std std (0: none, all `steps`); label-free, as the gate.
    stop_std: float = 0.0

    @classmethod
    def paper(cls) -> "TTTSettings":
        """The paper's settings (GemNet-dT; its loss used MAEs, ours uses MSEs)."""
        return cls(steps=500, lr=1e-5, optimizer="sgd", momentum=0.9, weight_decay=1e-3,
                   energy_weight=1.0, force_weight=1000.0, gate_std=0.0)

    def check(self) -> "TTTSettings":
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TTT optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        if self.steps < 0 or self.batch_size < 1 or self.gate_std < 0 or self.stop_std < 0:
            raise ValueError("TTT needs steps >= 0, batch_size >= 1, gate_std >= 0 and "
                             "stop_std >= 0")
        if not (self.lr >= 0 and math.isfinite(self.lr)):
            raise ValueError(f"TTT learning rate must be finite and >= 0, got {self.lr}")
        return self


def default_prior(metadata: Dict[str, object]) -> str:
    """The prior the model's prior head was trained on, as the spec its file records (a
    plain name such as "tersoff" in files of earlier versions); else the structures' own
    prior labels."""
    return str(metadata.get("prior_name") or STORED_LABELS)


def resolve_prior(prior) -> Union[Prior, str]:
    """``prior`` as TTT uses it: STORED_LABELS for None or "labels", a prior object as it is,
    else the prior a spec (text, mapping, PriorSpec; :func:`mlff_ttt.priors.get_prior`)
    makes, its parameters checked."""
    if prior is None or (isinstance(prior, str) and prior.strip() == STORED_LABELS):
        return STORED_LABELS
    if callable(getattr(prior, "compute", None)):
        return prior
    return get_prior(prior)


def prior_text(prior) -> str:
    """How a record names the prior: its canonical spec, "labels", or the class name."""
    if isinstance(prior, str):
        return prior
    spec = getattr(prior, "spec", None)
    return str(spec) if spec is not None else type(prior).__name__


def label_with_prior(frames: Sequence[Atoms], prior=None, **prior_params) -> List[Atoms]:
    """Copies of the frames carrying prior labels: computed by ``prior`` (a spec, or a prior
    object), or, with ``prior`` None or "labels", the frames' own PRIOR_energy/PRIOR_forces.
    A prior that has no parameters for an element of the frames is refused first."""
    frames = [atoms.copy() for atoms in frames]
    if prior_params:
        prior = get_prior(prior, **prior_params)
    prior = resolve_prior(prior)
    if prior == STORED_LABELS:
        for index, atoms in enumerate(frames):
            if PRIOR_ENERGY not in atoms.info or PRIOR_FORCES not in atoms.arrays:
                raise ValueError(f"frame {index} has no {PRIOR_ENERGY}/{PRIOR_FORCES} labels; "
                                 "name a prior with its parameters (--prior SPEC, e.g. "
                                 "morse:D=...,a=...,r0=...,cutoff=...; see docs/priors.md)")
        return frames
    if hasattr(prior, "check_elements"):
        prior.check_elements(frames)
    energies, forces = prior.compute(frames)
    for atoms, energy, f in zip(frames, energies, forces):
        atoms.info[PRIOR_ENERGY] = float(energy)
        atoms.arrays[PRIOR_FORCES] = f
    return frames


def prior_frames(structures: Sequence[Atoms], cutoff: float, elements: List[str]) -> List[Frame]:
    """Radius graphs of structures carrying prior labels, with those labels."""
    return [graph_frame(atoms, cutoff, elements, index,
                        prior_energy=float(atoms.info[PRIOR_ENERGY]),
                        prior_forces=torch.tensor(atoms.arrays[PRIOR_FORCES], dtype=torch.float64))
            for index, atoms in enumerate(structures)]


def prior_loss(energy_fn, batch, settings: TTTSettings, create_graph: bool) -> torch.Tensor:
    """energy_weight x MSE of the energy per atom + force_weight x MSE of the force
    components, of the prior head ``energy_fn`` against the batch's prior labels."""
    n = batch.species.shape[0]
    out = evaluate(energy_fn, batch.species, batch.edge_index, batch.edge_vec, n, batch.batch,
                   batch.num_structures, create_graph)
    n_atoms = batch.n_atoms.to(out["energy"].dtype)
    e_err = (out["energy"] - batch.prior_energy.to(out["energy"].dtype)) / n_atoms
    f_err = out["forces"] - batch.prior_forces.to(out["forces"].dtype)
    return settings.energy_weight * e_err.pow(2).mean() + \
        settings.force_weight * f_err.pow(2).mean()


def make_optimizer(parameters: List[torch.Tensor], settings: TTTSettings):
    if settings.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=settings.lr, momentum=settings.momentum,
                               weight_decay=settings.weight_decay)
    return torch.optim.Adam(parameters, lr=settings.lr, weight_decay=settings.weight_decay)


def ttt_parameter_names(metadata: Dict[str, object], missing: str) -> List[str]:
    """The module's names of the parameters TTT updates: the shared representation, which the
    model file lists in ``ttt_parameters``, in the file's order (the order of the flat
    parameter vectors exchanged with the C++ runner). ValueError ``missing`` when it lists
    none (no prior head to adapt through)."""
    if not metadata.get("ttt_parameters"):
        raise ValueError(missing)
    return [f"model.{name}" for name in metadata["ttt_parameters"]]


def select_trainable(module: torch.jit.ScriptModule, names: Sequence[str]
                     ) -> Tuple[Dict[str, torch.nn.Parameter], List[torch.nn.Parameter]]:
    """Every parameter of ``module`` by name, and those named (in ``names``' order), which
    alone keep requires_grad: the rest of the module is frozen."""
    parameters, chosen = dict(module.named_parameters()), set(names)
    for name, p in parameters.items():
        p.requires_grad_(name in chosen)
    return parameters, [parameters[name] for name in names]


class TTTEngine:
    """K optimizer steps on the prior loss of a TorchScript model file's module."""

    def __init__(self, module: torch.jit.ScriptModule, settings: TTTSettings) -> None:
        self.module = module
        self.settings = settings.check()
        # also checks that the TTT parameters it names exist
        self.metadata = metadata_of(module, "(the module to adapt)")
        names = ttt_parameter_names(self.metadata,
                                    "the model file names no representation parameters for TTT")
        self.parameters, self.trainable = select_trainable(module, names)
        self.dtype = DTYPES[self.metadata["dtype"]]
        self.cutoff = float(self.metadata["cutoff"])
        self.elements = list(self.metadata["elements"])

    def state(self) -> Dict[str, torch.Tensor]:
        return {name: p.detach().clone() for name, p in self.parameters.items()}

    def restore(self, state: Dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, p in self.parameters.items():
                p.copy_(state[name])

    def _frames(self, structures: Sequence[Atoms]) -> List[Frame]:
        return prior_frames(structures, self.cutoff, self.elements)

    def prior_loss(self, batch, create_graph: bool) -> torch.Tensor:
        return prior_loss(self.module.prior_energies, batch, self.settings, create_graph)

    def loss_on(self, frames: List[Frame]) -> float:
        """The prior loss over all frames (batched as in adaptation), without gradients of
        the parameters."""
        total, count = 0.0, 0
        for start in range(0, len(frames), self.settings.batch_size):
            chunk = frames[start:start + self.settings.batch_size]
            total += float(self.prior_loss(collate(chunk, self.dtype), False).detach()) * len(chunk)
            count += len(chunk)
        return total / count

    def prior_residuals(self, structures: Sequence[Atoms]) -> List[np.ndarray]:
        """Per atom of each structure (carrying prior labels, as for :meth:`adapt`):
        |F_prior head - F_prior| in eV/A, the per-atom force term of the prior loss. Needs no
        reference labels: the label-free error signal (in LAMMPS, ``fix ID all pair N mlff_ttt
        prior_residual 1``; docs/ttt.md)."""
        residuals = []
        for frame in self._frames(structures):
            batch = collate([frame], self.dtype)
            forces = evaluate(self.module.prior_energies, batch.species, batch.edge_index,
                              batch.edge_vec, batch.species.shape[0])["forces"]
            residual = (forces.detach().double() - batch.prior_forces.double()).norm(dim=1)
            residuals.append(residual.numpy())
        return residuals

    def adapt(self, structures: Sequence[Atoms]) -> Dict[str, object]:
        """Adapts the module in place on structures carrying prior labels; returns the
        prior loss before and after and per step. A non-finite loss or gradient rolls the
        parameters back to the last good state (the last one whose loss was finite) and
        stops, with a warning; the record then says ``rolled_back``, and its ``steps`` and
        ``history`` count only the steps still in effect, as a run of that many steps would.
        The model is called as in MD (model_call_settings): with TorchScript's optimizing
        executor the loss of unchanged parameters differed by an ulp between calls."""
        with model_call_settings():
            return self._adapt(structures)

    def _adapt(self, structures: Sequence[Atoms]) -> Dict[str, object]:
        s = self.settings
        frames = self._frames(structures)
        rng = random.Random(s.seed)
        optimizer = make_optimizer(self.trainable, s)
        before = self.loss_on(frames)
        threshold = self.gate_threshold()
        if threshold is not None and before <= threshold:
            return {"prior_loss_before": before, "prior_loss_after": before, "history": [],
                    "steps": 0, "n_structures": len(frames), "skipped": True,
                    "rolled_back": False, "gate_threshold": threshold}
        good, history, order, rolled_back = self.state(), [], [], False
        stop_level = self.stop_level()
        for step in range(s.steps):
            if len(order) < s.batch_size:
                order += rng.sample(range(len(frames)), len(frames))
            chunk, order = order[:s.batch_size], order[s.batch_size:]
            optimizer.zero_grad()
            loss = self.prior_loss(collate([frames[k] for k in chunk], self.dtype), True)
            loss.backward()
            finite = torch.isfinite(loss) and all(
                p.grad is None or bool(torch.isfinite(p.grad).all()) for p in self.trainable)
            if not finite:
                warnings.warn(f"TTT step {step}: non-finite loss or gradient; parameters rolled "
                              "back to the last good state")
                self.restore(good)
                rolled_back = True
                break
            if stop_level is not None and float(loss.detach()) <= stop_level:
                break    # at the validation level: further steps would fit the prior itself
            good = self.state()
            optimizer.step()
            history.append(float(loss.detach()))
        for p in self.parameters.values():
            p.grad = None
            p.requires_grad_(False)
        after = self.loss_on(frames)
        if not math.isfinite(after):
            warnings.warn("TTT: non-finite prior loss after the last step; rolled back")
            self.restore(good)
            rolled_back = True
            after = self.loss_on(frames)
        if rolled_back and history:
            # `good` is the state before the last recorded step: that step is undone
            history.pop()
        return {"prior_loss_before": before, "prior_loss_after": after, "history": history,
                "steps": len(history), "n_structures": len(frames), "skipped": False,
                "rolled_back": rolled_back, "gate_threshold": threshold}

    def gate_threshold(self) -> Optional[float]:
        return gate_threshold(self.metadata, self.settings)

    def stop_level(self) -> Optional[float]:
        """The stop rule's prior-loss level (None: no rule)."""
        if self.settings.stop_std <= 0:
            return None
        return gate_threshold(self.metadata, replace(self.settings,
                                                     gate_std=self.settings.stop_std))


def gate_threshold(metadata: Dict[str, object], settings: TTTSettings) -> Optional[float]:
    """TTT's gate, offline and in MD alike: the validation prior loss's mean + gate_std std
    (``ttt_reference`` in the model file), when the file has it for this loss (same weights);
    None: adapt always."""
    reference = metadata.get("ttt_reference") or {}
    s = settings
    if s.gate_std <= 0 or not reference:
        return None
    try:
        weights = float(reference["energy_weight"]), float(reference["force_weight"])
        mean, std = float(reference["prior_loss_mean"]), float(reference["prior_loss_std"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("the model file's ttt_reference (the statistics of TTT's gate) is "
                         "damaged; export the model again with --val") from None
    if weights != (s.energy_weight, s.force_weight):
        return None
    return mean + s.gate_std * std


def structure_prior_losses(model, structures: Sequence[Atoms],
                           dtype: torch.dtype = torch.float64) -> List[float]:
    """The prior loss (default weights) of a model's prior head on each structure's PRIOR
    labels, the measure TTT's gate reads. ``model``: a model of :mod:`mlff_ttt.models` or a
    model file's module, computing in ``dtype``."""
    settings = TTTSettings()
    frames = prior_frames(label_with_prior(structures, STORED_LABELS), float(model.cutoff),
                          list(model.elements))
    return [float(prior_loss(model.prior_energies, collate([frame], dtype), settings,
                             False).detach()) for frame in frames]


def training_prior_loss(model, structures: Sequence[Atoms]) -> Dict[str, float]:
    """Mean and std of the per-structure prior loss (default weights) of a model's prior head
    on held-out in-distribution structures' PRIOR labels: what the TTT gate compares new
    structures with. ``model`` is a (float64) model of :mod:`mlff_ttt.models`."""
    settings = TTTSettings()
    losses = torch.tensor(structure_prior_losses(model, structures))
    return {"prior_loss_mean": float(losses.mean()), "prior_loss_std": float(losses.std(unbiased=False)),
            "energy_weight": settings.energy_weight, "force_weight": settings.force_weight,
            "n_structures": len(structures)}


def load_module(model_path: Union[str, Path]) -> torch.jit.ScriptModule:
    """A model file, checked (its metadata is checked where it is read: TTTEngine)."""
    return load_model_file(model_path)


def adapt_model(model_path: Union[str, Path], structures: Sequence[Atoms],
                settings: TTTSettings, prior=None):
    """A freshly loaded module adapted on ``structures`` (labelled by ``prior``, a spec or a
    prior object; default: the model file's prior), and the record of the adaptation. The
    prior and its labels are made before the module changes, so a bad spec or an element
    the prior does not cover leaves nothing half done."""
    module = load_module(model_path)
    engine = TTTEngine(module, settings)
    prior = resolve_prior(prior if prior is not None else default_prior(engine.metadata))
    record = engine.adapt(label_with_prior(structures, prior))
    record.update(settings=asdict(settings), prior=prior_text(prior))
    return module, record


def gate_message(record: Dict[str, object]) -> Optional[str]:
    """The gate's decision in words when it skipped adaptation, else None."""
    if not record.get("skipped"):
        return None
    return (f"TTT skipped: prior-head loss {record['prior_loss_before']:.6g} below the gate "
            f"{record['gate_threshold']:.6g}")


def save_adapted(module: torch.jit.ScriptModule, record: Dict[str, object],
                 output: Union[str, Path]) -> None:
    """Writes the adapted module as a model file (metadata gains a ``ttt`` record) with the one
    model-file writer (checksums, atomic; ModelFileWriteError on failure)."""
    metadata = json.loads(module.metadata_json)
    metadata["ttt"] = {k: v for k, v in record.items() if k != "history"}
    module.metadata_json = json.dumps(metadata, sort_keys=True)
    write_model_file(module, output)


__all__ = ["TTTSettings", "TTTEngine", "label_with_prior", "adapt_model", "save_adapted",
           "gate_threshold",
           "resolve_prior", "gate_message",
           "load_module", "OPTIMIZERS"]
