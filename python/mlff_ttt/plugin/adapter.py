"""The MD adapter: test-time training inside a running MD engine, on a domain-decomposed graph.

The pair style calls :func:`mlff_ttt.plugin.entry_points.update` (which calls
:meth:`Adapter.update`) every N steps on every MPI rank with that rank's graph
(owned atoms first, then ghosts), the prior's forces on its owned atoms and the prior's total
energy, and a communicator offering the engine's own forward and reverse communication and
MPI sums. The gradient is that of the global prior loss

    L = w_E ((E - E_prior) / N)^2 + w_F / (3N) sum_i |F_i - F_prior_i|^2

(the offline loss of :mod:`mlff_ttt.refine.ttt` for one structure), not a per-rank
approximation: each rank's partial forces (its graph's -dE_rank/dx, ghosts included) are
summed onto their owners by reverse communication, the residuals F - F_prior are
forward-communicated to the ghosts, every rank back-propagates residual . partial forces (and
its energy share times the energy residual), and one sum over ranks gives dL/dtheta. Every rank then takes the same
optimizer step, and rank 0's parameters are broadcast so all ranks hold identical values.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Protocol

import numpy as np
import torch

from ..files import load_plain_torch_file, write_atomically
from ..model_calls import model_call_settings
from ..model_file import DTYPES, metadata_of
from ..refine.calibration import calibrated_settings
from ..refine.ttt import (TTTSettings, gate_message, gate_threshold, load_module,
                          make_optimizer, save_adapted, select_trainable, ttt_parameter_names)

# the version of the optimizer state files save_optimizer writes (beside restart files)
OPTIMIZER_STATE_FORMAT = 1


class Communicator(Protocol):
    """What the MD engine offers (arrays are float64 numpy arrays, modified in place)."""

    def reverse_sum(self, values: np.ndarray) -> None:
        """(n_nodes, 3): adds each ghost's row into its owner's row."""

    def forward(self, values: np.ndarray) -> None:
        """(n_nodes, 3): copies each owner's row into its ghosts' rows."""

    def sum(self, values: np.ndarray) -> None:
        """Sums over ranks, in place."""

    def broadcast(self, values: np.ndarray) -> None:
        """Rank 0's values to every rank, in place."""


class SerialCommunicator:
    """One process whose graph has no ghost atoms (a molecule, or a test)."""

    def reverse_sum(self, values):
        pass

    def forward(self, values):
        pass

    def sum(self, values):
        pass

    def broadcast(self, values):
        pass


@dataclass
class MDSettings(TTTSettings):
    max_change: float = 0.0        # bound on |dtheta| / |theta| per update (0: none)
    rise_factor: float = 10.0      # an update whose loss exceeds this x the loss before: undo


@dataclass
class UpdateRecord:
    loss_before: float
    loss_after: float
    rolled_back: bool
    reason: str = ""              # why it was rolled back, or the gate's decision
    seconds: float = 0.0
    skipped: bool = False         # the gate left the model alone (no step taken)


@dataclass
class Adapter:
    """The TTT state of one pair-style instance: the module being adapted (the model file
    loaded again, in its own dtype, on the pair style's device), its optimizer, and the
    parameters of the last good update. What crosses to the engine (forces for its
    communication, the flat parameter and gradient vectors) is float64 on the CPU."""
    module: torch.jit.ScriptModule
    names: List[str]
    settings: MDSettings
    model_prior: Optional[str] = None   # the model file's prior_name: what its prior head fits
    gate: Optional[float] = None        # TTT's gate (refine.ttt.gate_threshold); None: always
    optimizer: torch.optim.Optimizer = field(init=False)

    def __post_init__(self) -> None:
        self.parameters, self.trainable = select_trainable(self.module, self.names)
        self.optimizer = make_optimizer(self.trainable, self.settings)

    @property
    def device(self) -> torch.device:
        """Where the module is (the pair style's device; from_model_file moved it there)."""
        return self.trainable[0].device

    def flat(self) -> np.ndarray:
        flat = torch.cat([p.detach().reshape(-1) for p in self.trainable])
        return flat.double().cpu().numpy().copy()

    def unflatten(self, values: np.ndarray) -> List[torch.Tensor]:
        """A flat vector (flat()'s layout) as one tensor per trainable parameter, on its
        device and in its dtype."""
        pieces, offset = [], 0
        for p in self.trainable:
            n = p.numel()
            pieces.append(torch.from_numpy(values[offset:offset + n]).reshape(p.shape).to(p))
            offset += n
        return pieces

    def assign(self, values: np.ndarray) -> None:
        with torch.no_grad():
            for p, value in zip(self.trainable, self.unflatten(values)):
                p.copy_(value)

    def loss_and_gradient(self, graph: Dict[str, torch.Tensor], prior_forces: torch.Tensor,
                          prior_energy: float, n_atoms: int, comm: Communicator,
                          radius: Optional[float], gradient: bool = True):
        """The global prior loss and, summed over ranks, its gradient (flat numpy; None
        without ``gradient``, which skips the costly second-order backward pass)."""
        s = self.settings
        n_local, n_nodes = graph["n_local"], graph["species"].shape[0]
        edge_index = graph["edge_index"]
        edge_vec = graph["edge_vec"].detach().clone().requires_grad_(True)
        node_energy = self.module.prior_energies(graph["species"], edge_index, edge_vec, radius)
        local_energy = node_energy[:n_local].sum()
        (g,) = torch.autograd.grad(local_energy, edge_vec, create_graph=gradient)
        partial = torch.zeros((n_nodes, 3), dtype=g.dtype, device=g.device)
        partial = partial.index_add(0, edge_index[0], g).index_add(0, edge_index[1], -g)

        forces = partial.detach().double().cpu().numpy().copy()
        comm.reverse_sum(forces)
        residual = np.zeros((n_nodes, 3))
        residual[:n_local] = forces[:n_local] - prior_forces.numpy()
        comm.forward(residual)
        totals = np.array([float(local_energy.detach()), float((residual[:n_local] ** 2).sum())])
        comm.sum(totals)
        energy_error = (totals[0] - prior_energy) / n_atoms
        loss = s.energy_weight * energy_error ** 2 + s.force_weight * totals[1] / (3 * n_atoms)
        if not gradient:
            return loss, None

        surrogate = (2 * s.energy_weight * energy_error / n_atoms) * local_energy + \
            (2 * s.force_weight / (3 * n_atoms)) * (torch.from_numpy(residual).to(partial)
                                                    * partial).sum()
        grads = torch.autograd.grad(surrogate, self.trainable, allow_unused=True)
        flat = torch.cat([(torch.zeros_like(p) if gr is None else gr).reshape(-1)
                          for gr, p in zip(grads, self.trainable)]).double().cpu().numpy().copy()
        comm.sum(flat)
        return loss, flat

    @property
    def off_reason(self) -> str:
        """Why no update will ever change the model ("" when they can): the model file's
        calibration chose "off". The pair style then evaluates no prior at due steps."""
        if self.settings.steps == 0:
            return ("TTT's calibration in the model file chose off (mlff-ttt info shows its "
                    "evidence)")
        return ""

    def update(self, graph, prior_forces, prior_energy, n_atoms, comm, radius) -> UpdateRecord:
        """K optimizer steps on the current configuration, rolled back on failure."""
        start = time.perf_counter()
        s = self.settings
        if self.off_reason:    # the pair style asks no prior for an update that cannot be
            return UpdateRecord(loss_before=float("nan"), loss_after=float("nan"),
                                rolled_back=False, reason=self.off_reason,
                                seconds=time.perf_counter() - start, skipped=True)
        good = self.flat()
        if self.gate is not None:
            loss, _ = self.loss_and_gradient(graph, prior_forces, prior_energy, n_atoms, comm,
                                             radius, gradient=False)
            if loss <= self.gate:    # a NaN loss goes on, to be rolled back below
                message = gate_message({"skipped": True, "prior_loss_before": loss,
                                        "gate_threshold": self.gate})
                return UpdateRecord(loss_before=loss, loss_after=loss, rolled_back=False,
                                    reason=message, seconds=time.perf_counter() - start,
                                    skipped=True)
        state = copy.deepcopy(self.optimizer.state_dict())
        loss_before = None
        reason = ""
        for _ in range(s.steps):
            loss, gradient = self.loss_and_gradient(graph, prior_forces, prior_energy, n_atoms,
                                                    comm, radius)
            loss_before = loss if loss_before is None else loss_before
            if not (math.isfinite(loss) and np.all(np.isfinite(gradient))):
                reason = "non-finite prior loss or gradient"
                break
            self.optimizer.zero_grad()
            for p, grad in zip(self.trainable, self.unflatten(gradient)):
                p.grad = grad
            self.optimizer.step()
        if not reason:
            values = self.flat()
            if s.max_change > 0:
                change = np.linalg.norm(values - good) / max(np.linalg.norm(good), 1e-300)
                if change > s.max_change:
                    values = good + (values - good) * (s.max_change / change)
            comm.broadcast(values)
            self.assign(values)
            loss_after, _ = self.loss_and_gradient(graph, prior_forces, prior_energy, n_atoms,
                                                   comm, radius, gradient=False)
            if not math.isfinite(loss_after):
                reason = "non-finite prior loss after the update"
            elif loss_before is not None and loss_after > s.rise_factor * loss_before:
                reason = f"prior loss rose from {loss_before:.4g} to {loss_after:.4g}"
        if reason:
            self.assign(good)
            self.optimizer.load_state_dict(state)
            loss_after = loss_before if loss_before is not None and math.isfinite(loss_before) \
                else float("nan")
        for p in self.trainable:
            p.grad = None
        return UpdateRecord(loss_before=float("nan") if loss_before is None else loss_before,
                            loss_after=loss_after, rolled_back=bool(reason), reason=reason,
                            seconds=time.perf_counter() - start)

    @classmethod
    def from_model_file(cls, model_path: str, settings: Dict[str, object],
                        device: str = "cpu") -> "Adapter":
        """The model file loaded again (the same parameters as the C++ runner's module) onto
        ``device``, and the names of the parameters it may update, in the order of the flat
        parameter vectors exchanged with the runner."""
        module = load_module(model_path).to(torch.device(device))
        metadata = metadata_of(module, model_path)
        names = ttt_parameter_names(metadata, f"model file {model_path} names no representation "
                                    "parameters (no prior head to adapt through)")
        settings = dict(settings)
        if settings.pop("calibrated", False):    # ttt every N calibrated
            calibrated = calibrated_settings(metadata)
            settings.update(steps=calibrated.steps, lr=calibrated.lr)
        checked = MDSettings(**settings).check()
        return cls(module, names, checked, metadata.get("prior_name"),
                   gate_threshold(metadata, checked))

    def update_on(self, species: np.ndarray, edge_index: np.ndarray, edge_vec: np.ndarray,
                  n_local: int, prior_forces: np.ndarray, prior_energy: float, n_atoms: int,
                  radius: float, comm: Communicator) -> UpdateRecord:
        """:meth:`update` on the pair style's numpy graph, evaluated in the module's dtype at
        ``radius`` (the plain model at the trained cutoff and above), with the model called
        as the C++ runner calls it."""
        on = self.device
        graph = {"species": torch.from_numpy(species).to(on),
                 "edge_index": torch.from_numpy(edge_index).to(on),
                 "edge_vec": torch.from_numpy(edge_vec).to(on, DTYPES[self.module.dtype]),
                 "n_local": int(n_local)}
        cutoff = float(self.module.cutoff)
        with model_call_settings():
            return self.update(graph, torch.from_numpy(prior_forces), float(prior_energy),
                               int(n_atoms), comm, None if radius >= cutoff else float(radius))

    def save_model(self, path: str, step: int) -> None:
        """The adapted parameters as a model file that LAMMPS runs like any other."""
        save_adapted(self.module, {"in_md": True, "step": int(step),
                                   "settings": {k: v for k, v in vars(self.settings).items()}},
                     path)

    def save_optimizer(self, path: str) -> None:
        """The optimizer's state (plain tensors and numbers: readable with weights_only=True)
        beside an adapted model, so a restarted run continues the same optimizer; written
        under a temporary name, then renamed."""
        state = {"format": OPTIMIZER_STATE_FORMAT, "names": list(self.names),
                 "optimizer": type(self.optimizer).__name__,
                 "state": self.optimizer.state_dict()}
        write_atomically(path, lambda partial: torch.save(state, partial))

    def load_optimizer(self, path: str) -> None:
        """Restores the optimizer state save_optimizer wrote (refused when it belongs to other
        parameters or another optimizer). Read with ``weights_only=True``: a file that pickles
        anything but tensors and plain values (an object whose unpickling would run code) is
        refused before any of it is built."""
        saved = load_plain_torch_file(path, "TTT optimizer state file")
        if not isinstance(saved, dict) or saved.get("format") != OPTIMIZER_STATE_FORMAT:
            raise ValueError(f"{path} is not an optimizer state file of this version")
        if saved.get("names") != list(self.names):
            raise ValueError(f"{path} holds the optimizer state of other parameters")
        if saved.get("optimizer") != type(self.optimizer).__name__:
            raise ValueError(f"{path} holds the state of {saved.get('optimizer')}, not of "
                             f"{type(self.optimizer).__name__} (the ttt optimizer keyword)")
        self.optimizer.load_state_dict(saved["state"])
