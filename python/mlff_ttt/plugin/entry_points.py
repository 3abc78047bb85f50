"""Every function the C++ plugin calls by name (cpp/python_entry_points.h lists them; a test
checks each exists): the TTT engine's create/update/save/optimizer state, the registry prior
and its labels, and the Python hook.

Test-time training inside a running MD engine, on a domain-decomposed graph:

The pair style calls :func:`update` every N steps on every MPI rank with that rank's graph
(owned atoms first, then ghosts), the prior's forces on its owned atoms and the prior's total
energy, and a communicator offering the engine's own forward and reverse communication and
MPI sums. The gradient is that of the global prior loss

    L = w_E ((E - E_prior) / N)^2 + w_F / (3N) sum_i |F_i - F_prior_i|^2

(the offline loss of :mod:`mlff_ttt.ttt` for one structure), not a per-rank approximation:
each rank's partial forces (its graph's -dE_rank/dx, ghosts included) are summed onto their
owners by reverse communication, the residuals F - F_prior are forward-communicated to the
ghosts, every rank back-propagates residual . partial forces (and its energy share times the
energy residual), and one sum over ranks gives dL/dtheta. Every rank then takes the same
optimizer step, and rank 0's parameters are broadcast so all ranks hold identical values.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Protocol

import numpy as np
import torch

from ..hooks import HookGraph
from ..model_calls import model_call_settings
from ..ttt import TTTSettings, load_module, make_optimizer


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
    reason: str = ""
    seconds: float = 0.0


@dataclass
class Adapter:
    """The TTT state of one pair-style instance: the module being adapted (the model file
    loaded again, in its own dtype), its optimizer, and the parameters of the last good
    update."""
    module: torch.jit.ScriptModule
    names: List[str]
    settings: MDSettings
    optimizer: torch.optim.Optimizer = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = dict(self.module.named_parameters())
        self.trainable = [self.parameters[n] for n in self.names]
        for name, p in self.parameters.items():
            p.requires_grad_(name in self.names)
        self.optimizer = make_optimizer(self.trainable, self.settings)

    def flat(self) -> np.ndarray:
        return torch.cat([p.detach().reshape(-1) for p in self.trainable]).double().numpy().copy()

    def assign(self, values: np.ndarray) -> None:
        with torch.no_grad():
            offset = 0
            for p in self.trainable:
                n = p.numel()
                p.copy_(torch.from_numpy(values[offset:offset + n]).reshape(p.shape).to(p.dtype))
                offset += n

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
        partial = torch.zeros((n_nodes, 3), dtype=g.dtype)
        partial = partial.index_add(0, edge_index[0], g).index_add(0, edge_index[1], -g)

        forces = partial.detach().double().numpy().copy()
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
            (2 * s.force_weight / (3 * n_atoms)) * (torch.from_numpy(residual).to(partial.dtype)
                                                    * partial).sum()
        grads = torch.autograd.grad(surrogate, self.trainable, allow_unused=True)
        flat = torch.cat([(torch.zeros_like(p) if gr is None else gr).reshape(-1)
                          for gr, p in zip(grads, self.trainable)]).double().numpy().copy()
        comm.sum(flat)
        return loss, flat

    def update(self, graph, prior_forces, prior_energy, n_atoms, comm, radius) -> UpdateRecord:
        """K optimizer steps on the current configuration, rolled back on failure."""
        start = time.perf_counter()
        s = self.settings
        good = self.flat()
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
            offset = 0
            for p in self.trainable:
                n = p.numel()
                p.grad = torch.from_numpy(gradient[offset:offset + n]).reshape(p.shape).to(p.dtype)
                offset += n
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


def create(model_path: str, settings: Dict[str, object]) -> Adapter:
    """The adapter the pair style holds: the model file loaded again (the same parameters as
    the C++ runner's module), and the names of the parameters it may update, in the order of
    the flat parameter vectors exchanged with the runner."""
    from ..export import metadata_of

    module = load_module(model_path)
    metadata = metadata_of(module, model_path)
    if not metadata.get("ttt_parameters"):
        raise ValueError(f"model file {model_path} names no representation parameters (no "
                         "prior head to adapt through)")
    names = [f"model.{n}" for n in metadata["ttt_parameters"]]
    return Adapter(module, names, MDSettings(**settings).check())


def update(adapter: Adapter, species, edge_index, edge_vec, n_local: int, prior_forces,
           prior_energy: float, n_atoms: int, radius: float, comm) -> Dict[str, object]:
    """One TTT update from the pair style (numpy arrays in); returns the record and the new
    values of the adapter's parameters, flattened in ``adapter.names`` order."""
    dtype = torch.float32 if adapter.module.dtype == "float32" else torch.float64
    graph = {"species": torch.from_numpy(species), "edge_index": torch.from_numpy(edge_index),
             "edge_vec": torch.from_numpy(edge_vec).to(dtype), "n_local": int(n_local)}
    cutoff = float(adapter.module.cutoff)
    with model_call_settings():
        record = adapter.update(graph, torch.from_numpy(prior_forces), float(prior_energy),
                                int(n_atoms), comm, None if radius >= cutoff else float(radius))
    return {"loss_before": record.loss_before, "loss_after": record.loss_after,
            "rolled_back": record.rolled_back, "reason": record.reason,
            "seconds": record.seconds, "values": adapter.flat()}


def save(adapter: Adapter, path: str, step: int) -> None:
    """The adapted parameters as a model file that LAMMPS runs like any other."""
    from ..ttt import save_adapted

    save_adapted(adapter.module, {"in_md": True, "step": int(step),
                                  "settings": {k: v for k, v in vars(adapter.settings).items()}},
                 path)


OPTIMIZER_STATE_FORMAT = 1


def save_optimizer(adapter: Adapter, path: str) -> None:
    """The optimizer's state (plain tensors and numbers: readable with weights_only=True) beside
    an adapted model, so a restarted run continues the same optimizer; written under a
    temporary name, then renamed."""
    from ..files import write_atomically

    state = {"format": OPTIMIZER_STATE_FORMAT, "names": list(adapter.names),
             "optimizer": type(adapter.optimizer).__name__,
             "state": adapter.optimizer.state_dict()}
    write_atomically(path, lambda partial: torch.save(state, partial))


def load_optimizer(adapter: Adapter, path: str) -> None:
    """Restores the optimizer state save_optimizer wrote (refused when it belongs to other
    parameters or another optimizer). Read with ``weights_only=True``: a file that pickles
    anything but tensors and plain values (an object whose unpickling would run code) is
    refused before any of it is built."""
    from ..files import load_plain_torch_file

    saved = load_plain_torch_file(path, "TTT optimizer state file")
    if not isinstance(saved, dict) or saved.get("format") != OPTIMIZER_STATE_FORMAT:
        raise ValueError(f"{path} is not an optimizer state file of this version")
    if saved.get("names") != list(adapter.names):
        raise ValueError(f"{path} holds the optimizer state of other parameters")
    if saved.get("optimizer") != type(adapter.optimizer).__name__:
        raise ValueError(f"{path} holds the state of {saved.get('optimizer')}, not of "
                         f"{type(adapter.optimizer).__name__} (the ttt optimizer keyword)")
    adapter.optimizer.load_state_dict(saved["state"])


def registry_prior(name: str, params: Dict[str, str]):
    """A prior for the pair style (``pair_coeff * * prior python NAME k=v``): a registry name,
    or ``module:Class`` for a prior of the user's own (a :class:`mlff_ttt.priors.Prior`
    subclass, or any callable returning one); values that read as numbers are passed as
    numbers."""
    import importlib

    from ..priors import get_prior

    def value(text: str):
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text

    kwargs = {key: value(v) for key, v in params.items()}
    if ":" not in name:
        return get_prior(name, **kwargs)
    module_name, _, attribute = name.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot find the prior {name} (module:Class on the Python path): "
                         f"{error}") from None
    prior = factory.create(**kwargs) if hasattr(factory, "create") else factory(**kwargs)
    if not callable(getattr(prior, "compute", None)):
        raise ValueError(f"{name} made {prior!r}, which has no compute(frames) method")
    return prior


class PriorTimeout(RuntimeError):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raises PriorTimeout in the block once ``seconds`` have passed (0: no limit), through
    SIGALRM: a prior looping in Python or waiting in a system call is stopped; one stuck
    inside compiled code is stopped when it next returns to Python. Only the main thread can
    take signals, so elsewhere the block runs without a limit."""
    import signal
    import threading

    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise PriorTimeout(f"the prior took longer than prior_timeout {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def prior_labels(prior, symbols, positions, cell, pbc, timeout: float = 0.0) -> Dict[str, object]:
    """The prior's energy (eV) and forces (eV/A) of one rank's whole structure, within
    ``timeout`` seconds (0: no limit)."""
    from ase import Atoms

    atoms = Atoms(symbols=list(symbols), positions=np.asarray(positions).reshape(-1, 3),
                  cell=np.asarray(cell).reshape(3, 3), pbc=[bool(p) for p in pbc])
    with time_limit(timeout):
        energies, forces = prior.compute([atoms])
    return {"energy": float(energies[0]), "forces": np.ascontiguousarray(forces[0], dtype=float)}


def invoke_hook(function: Callable[[HookGraph], object], positions: np.ndarray,
                species: np.ndarray, edge_index: np.ndarray, edge_vec: np.ndarray, n_local: int,
                step: int, rank: int, size: int) -> None:
    """`hook every N module:function`: the user's function sees the graph as torch tensors."""
    graph = HookGraph(
        positions=torch.from_numpy(positions),
        species=torch.from_numpy(species),
        edge_index=torch.from_numpy(edge_index),
        edge_vec=torch.from_numpy(edge_vec),
        n_local=int(n_local),
        step=int(step),
        rank=int(rank),
        size=int(size),
    )
    function(graph)
