"""What the TTT engines promise about a single update, checked in numbers:

* ``max_change D`` (MD engine): an update moves the flat vector of the TTT parameters by at
  most D times its norm, |theta_after - theta_before| / |theta_before| <= D, and leaves an
  update within the bound untouched;
* the roll-back (MD engine): an update whose prior loss rises more than ``rise_factor`` (10)
  fold, or turns non-finite, leaves the parameters and the optimizer's state as they were,
  bit for bit, and says so; the offline engine rolls back a non-finite step to the last good
  state and its record counts only the steps still in effect;
* SGD momentum: the momentum buffer lives on across the steps of an update and across
  updates, so several updates equal the explicit heavy-ball recursion on the loss's
  gradient, computed here by the offline loss (an independent path), to 1e-12.

The updates run through ``entry_points.create`` and ``entry_points.update``, the calls the pair style
makes, on one process (the graph of a periodic cell holds its images as edges, no ghosts).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

from helpers import ROOT
from mlff_ttt.plugin import entry_points
from mlff_ttt.plugin.adapter import SerialCommunicator
from mlff_ttt.data import collate, read_frames
from mlff_ttt.graph import radius_graph
from mlff_ttt.refine.ttt import TTTEngine, TTTSettings, label_with_prior, load_module, prior_frames, \
    prior_loss

MODEL_F32 = ROOT / "examples" / "models" / "si_schnet_f32.pt"
TOL = 1e-12


@pytest.fixture(scope="module")
def liquid():
    """Three 64-atom liquid-silicon frames with Tersoff/mod prior labels."""
    return read_frames(ROOT / "examples" / "data" / "si_ood_liquid.xyz")[:3]


def md_update(adapter, atoms, prior_energy=None):
    """One TTT update on ``atoms`` as the pair style calls it (full cutoff, one rank)."""
    cutoff = float(adapter.module.cutoff)
    graph = radius_graph(atoms, cutoff, ["Si"])
    energy = atoms.info["PRIOR_energy"] if prior_energy is None else prior_energy
    return entry_points.update(adapter, graph.species, graph.edge_index, graph.edge_vec, len(atoms),
                         np.asarray(atoms.arrays["PRIOR_forces"]), energy, len(atoms), cutoff,
                         SerialCommunicator())


def relative_change(after, before):
    return np.linalg.norm(after - before) / np.linalg.norm(before)


def optimizer_state(adapter):
    """The optimizer's per-parameter state as numpy copies (momentum buffers, Adam moments)."""
    return [{key: value.detach().numpy().copy() for key, value in adapter.optimizer.state[p].items()}
            for p in adapter.trainable]


def assert_same_state(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)


# ----------------------------------------------------------------------------- max_change

def test_max_change_bounds_every_update_and_leaves_smaller_ones_alone(model_file, liquid):
    settings = {"steps": 2, "lr": 1e-3, "optimizer": "adam"}
    free = entry_points.create(str(model_file), settings)
    start = free.flat()
    free_values, free_changes = [], []
    for atoms in liquid:
        before = free.flat()
        free_values.append(md_update(free, atoms)["values"])
        free_changes.append(relative_change(free_values[-1], before))

    # a bound a quarter of the smallest free step: every update is cut down to exactly D
    bound = min(free_changes) / 4
    bounded = entry_points.create(str(model_file), dict(settings, max_change=bound))
    for k, atoms in enumerate(liquid):
        before = bounded.flat()
        record = md_update(bounded, atoms)
        assert not record["rolled_back"]
        assert np.array_equal(record["values"], bounded.flat())
        change = relative_change(bounded.flat(), before)
        assert change <= bound * (1 + TOL), (k, change / bound)
        assert change >= bound * (1 - 1e-9), (k, change / bound)   # cut to D, not frozen
        if k == 0:  # same start as the free run: the step is the free one scaled down
            expected = start + (free_values[0] - start) * (bound / free_changes[0])
            assert np.abs(bounded.flat() - expected).max() <= TOL * np.abs(start).max()

    # a bound above every free step changes nothing, bit for bit
    loose = entry_points.create(str(model_file), dict(settings, max_change=2 * max(free_changes)))
    for atoms, values in zip(liquid, free_values):
        assert np.array_equal(md_update(loose, atoms)["values"], values)


def test_max_change_holds_in_float32_to_its_rounding(liquid):
    """A float32 model: the bound is applied in float64 and each parameter then rounded to
    float32, which moves |dtheta| / |theta| by at most 2^-24."""
    settings = {"steps": 2, "lr": 1e-3, "optimizer": "adam"}
    free = entry_points.create(str(MODEL_F32), settings)
    assert free.module.dtype == "float32"
    start = free.flat()
    change = relative_change(md_update(free, liquid[0])["values"], start)
    for bound in (change / 10, change / 1000):
        bounded = entry_points.create(str(MODEL_F32), dict(settings, max_change=bound))
        got = relative_change(md_update(bounded, liquid[0])["values"], start)
        assert abs(got - bound) <= 2.0 ** -24 * (1 + bound), (bound, got)


# ----------------------------------------------------------------------------- roll-back

def good_then_bad_then_good(model_file, liquid, bad_settings, prior_energy=None):
    """Update 1 (good, lr 1e-3), update 2 with ``bad_settings`` (expected to be rolled back),
    update 3 (good again). Returns the bad record, what it had to leave unchanged, and the
    parameters after update 3."""
    adapter = entry_points.create(str(model_file), {"steps": 2, "lr": 1e-3, "optimizer": "sgd"})
    md_update(adapter, liquid[0])
    params = {name: p.detach().clone() for name, p in adapter.module.named_parameters()}
    state = optimizer_state(adapter)
    assert state[0]["momentum_buffer"].any()  # a real buffer to lose

    adapter.settings.steps = bad_settings.get("steps", 2)
    group = adapter.optimizer.param_groups[0]
    group["lr"] = bad_settings.get("lr", 1e-3)
    record = md_update(adapter, liquid[1], prior_energy)
    kept = {"params": all(torch.equal(p, params[name])
                          for name, p in adapter.module.named_parameters()),
            "values": adapter.flat()}
    assert_same_state(optimizer_state(adapter), state)
    assert adapter.optimizer.param_groups[0]["lr"] == group["lr"]

    adapter.settings.steps = 2
    adapter.optimizer.param_groups[0]["lr"] = 1e-3
    md_update(adapter, liquid[2])
    return record, kept, adapter.flat()


def reference_without_the_bad_update(model_file, liquid):
    adapter = entry_points.create(str(model_file), {"steps": 2, "lr": 1e-3, "optimizer": "sgd"})
    after_first = md_update(adapter, liquid[0])["values"]
    return after_first, md_update(adapter, liquid[2])["values"]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the diverging ones
@pytest.mark.parametrize("bad, reason", [
    pytest.param({"lr": 0.1}, r"prior loss rose from (\S+) to (\S+)", id="loss-rises"),
    pytest.param({"lr": 10.0, "steps": 3}, "non-finite prior loss or gradient",
                 id="non-finite-during-the-steps"),
    pytest.param({"lr": 10.0}, "non-finite prior loss after the update",
                 id="non-finite-after-the-steps"),
    pytest.param({"prior_energy": float("nan")}, "non-finite prior loss or gradient",
                 id="non-finite-prior"),
])
def test_a_rolled_back_update_leaves_no_trace(model_file, liquid, bad, reason):
    """The parameters (all of them) and the momentum buffers after a rolled-back update are
    those before it, bit for bit, and the next update is the one it would have been without
    the bad one."""
    bad = dict(bad)
    record, kept, final = good_then_bad_then_good(model_file, liquid, bad,
                                                  bad.pop("prior_energy", None))
    after_first, reference_final = reference_without_the_bad_update(model_file, liquid)
    assert record["rolled_back"], record
    found = re.fullmatch(reason, record["reason"])
    assert found, record["reason"]
    if found.groups():  # the rise is real and more than 10-fold
        before, after = map(float, found.groups())
        assert before == pytest.approx(record["loss_before"], rel=1e-3) and after > 10 * before
    if np.isfinite(record["loss_before"]):
        assert record["loss_after"] == record["loss_before"]
    else:
        assert np.isnan(record["loss_after"])
    assert kept["params"]
    assert np.array_equal(kept["values"], after_first)
    assert np.array_equal(record["values"], after_first)
    assert np.array_equal(final, reference_final)


def test_the_rise_rule_is_exactly_a_rise_factor_fold_loss(model_file, liquid):
    """One SGD update at lr 0.1 raises the loss by a factor q: rise_factor just above q keeps
    it, just below q rolls it back; the default rise_factor is 10 < q."""
    settings = {"steps": 2, "lr": 0.1, "optimizer": "sgd"}
    free = md_update(entry_points.create(str(model_file), dict(settings, rise_factor=np.inf)),
                     liquid[0])
    assert not free["rolled_back"] and np.isfinite(free["loss_after"])
    q = free["loss_after"] / free["loss_before"]
    assert q > 10
    above = md_update(entry_points.create(str(model_file), dict(settings, rise_factor=q * (1 + 1e-9))),
                      liquid[0])
    assert not above["rolled_back"] and np.array_equal(above["values"], free["values"])
    for rise_factor in (q * (1 - 1e-9), None):
        adapter = entry_points.create(str(model_file), settings if rise_factor is None
                                else dict(settings, rise_factor=rise_factor))
        start = adapter.flat()
        below = md_update(adapter, liquid[0])
        assert below["rolled_back"] and below["reason"].startswith("prior loss rose")
        assert np.array_equal(below["values"], start)


def test_offline_roll_back_keeps_the_last_good_state(model_file, liquid):
    """SGD at lr 3e-3 diverges after a few steps: the loss of step k is non-finite, the
    parameters go back to those the loss was last finite at, and the record says rolled back
    and counts the steps in effect: it equals a run of that many steps, bit for bit."""
    frames = label_with_prior(liquid[:2], "labels")
    settings = dict(lr=3e-3, optimizer="sgd", batch_size=2, gate_std=0.0)
    module = load_module(model_file)
    with pytest.warns(UserWarning, match="rolled back to the last good state"):
        record = TTTEngine(module, TTTSettings(steps=12, **settings)).adapt(frames)
    assert record["rolled_back"] and 0 < record["steps"] < 12
    assert len(record["history"]) == record["steps"]

    clean = load_module(model_file)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reference = TTTEngine(clean, TTTSettings(steps=record["steps"], **settings)).adapt(frames)
    assert not reference["rolled_back"]
    assert not [w for w in caught if "rolled back" in str(w.message)]
    for (name, p), q in zip(module.named_parameters(), clean.parameters()):
        assert torch.equal(p, q), name
    assert record["history"] == reference["history"]
    assert record["prior_loss_after"] == reference["prior_loss_after"]


# ----------------------------------------------------------------------------- SGD momentum

class OfflineGradient:
    """The prior loss's gradient of the TTT parameters at given values, by the offline
    engine's loss (ttt.prior_loss, with create_graph), on a model loaded on its own."""

    def __init__(self, model_file, names, settings):
        self.module, self.settings = load_module(model_file), settings
        params = dict(self.module.named_parameters())
        self.trainable = [params[n] for n in names]
        for p in self.module.parameters():
            p.requires_grad_(False)
        for p in self.trainable:
            p.requires_grad_(True)

    def __call__(self, theta, frames):
        with torch.no_grad():
            offset = 0
            for p in self.trainable:
                p.copy_(torch.from_numpy(theta[offset:offset + p.numel()]).reshape(p.shape))
                offset += p.numel()
        batch = collate(prior_frames(frames, float(self.module.cutoff), ["Si"]), torch.float64)
        loss = prior_loss(self.module.prior_energies, batch, self.settings, True)
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, self.trainable)]) \
            .numpy()


def heavy_ball(theta, buffer, gradient, lr, momentum, weight_decay=0.0):
    """torch.optim.SGD's step (dampening 0, no Nesterov): b = mu b + g (b = g at the first
    step), theta -= lr b."""
    gradient = gradient + weight_decay * theta
    buffer = gradient if buffer is None else momentum * buffer + gradient
    return theta - lr * buffer, buffer


def test_sgd_momentum_carries_across_steps_and_updates(model_file, liquid):
    """Three updates of two steps on three configurations: the parameters after each equal
    the heavy-ball recursion with one buffer through all six steps, to 1e-12; a buffer reset
    at each update would be off by more than 1e-3."""
    lr, steps = 1e-3, 2
    adapter = entry_points.create(str(model_file), {"steps": steps, "lr": lr, "optimizer": "sgd"})
    momentum = adapter.settings.momentum
    assert momentum == 0.9 and adapter.settings.weight_decay == 0.0
    gradient = OfflineGradient(model_file, adapter.names, adapter.settings)
    theta = reset = adapter.flat()
    buffer = None
    for atoms in liquid:
        values = md_update(adapter, atoms)["values"]
        reset_buffer = None
        for _ in range(steps):
            theta, buffer = heavy_ball(theta, buffer, gradient(theta, [atoms]), lr, momentum)
            reset, reset_buffer = heavy_ball(reset, reset_buffer, gradient(reset, [atoms]), lr,
                                             momentum)
        assert np.abs(values - theta).max() <= TOL
    assert np.abs(values - reset).max() > 1e-3


def test_offline_sgd_momentum_and_weight_decay_over_several_steps(model_file, liquid):
    """The offline engine with the paper's optimizer (SGD, momentum 0.9, weight decay) for
    four steps on all structures at once: the explicit recursion, to 1e-12."""
    frames = label_with_prior(liquid[:2], "labels")
    settings = TTTSettings(steps=4, lr=1e-3, optimizer="sgd", momentum=0.9, weight_decay=1e-3,
                           batch_size=len(frames), gate_std=0.0)
    module = load_module(model_file)
    engine = TTTEngine(module, settings)
    names = [name for name, p in module.named_parameters() if p.requires_grad]
    gradient = OfflineGradient(model_file, names, settings)
    start = torch.cat([p.detach().reshape(-1) for p in engine.trainable]).numpy().copy()
    record = engine.adapt(frames)
    assert record["steps"] == 4 and not record["rolled_back"]
    theta, buffer = start, None
    for _ in range(settings.steps):
        theta, buffer = heavy_ball(theta, buffer, gradient(theta, frames), settings.lr,
                                   settings.momentum, settings.weight_decay)
    adapted = torch.cat([p.detach().reshape(-1) for p in engine.trainable]).numpy()
    assert np.abs(adapted - theta).max() <= TOL
    # without momentum (each step plain gradient descent) the result is far off
    plain = start
    for _ in range(settings.steps):
        plain, _ = heavy_ball(plain, None, gradient(plain, frames), settings.lr, 0.0,
                              settings.weight_decay)
    assert np.abs(adapted - plain).max() > 1e-3
