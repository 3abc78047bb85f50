"""Training loop: energy + force losses on the reference head (and the prior head in joint
mode), validation, learning-rate schedule, early stopping, checkpoints and resume."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import torch
from tqdm import tqdm

from .files import load_plain_torch_file, write_atomically, write_text_atomically
from .config import BLOCK_OPTIONS, Config
from .data import Frame, collate, fit_element_energies, force_rms, load_frames, read_frames
from .delta import FRAMES_CHECKED, check_prior_labels, subtract_prior_labels
from .forces import evaluate
from .models import architecture_class, build_model
from .models.core_repulsion import closest_pair_distances

CHECKPOINT_VERSION = 1


def load_checkpoint(path: Path) -> dict:
    """A training checkpoint, read with ``weights_only=True``: only tensors and plain values
    are unpickled, so opening a checkpoint from someone else cannot run code. ValueError
    naming the problem for anything else."""
    ckpt = load_plain_torch_file(path, "mlff-ttt training checkpoint")
    if not isinstance(ckpt, dict) or "model_state" not in ckpt:
        raise ValueError(f"{path} is not an mlff-ttt training checkpoint or model file")
    version = ckpt.get("checkpoint_version", 1)
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise ValueError(f"{path} has checkpoint version {version}; this mlff-ttt reads "
                         f"versions up to {CHECKPOINT_VERSION}: update mlff-ttt")
    return ckpt


def save_atomic(obj, path: Path) -> None:
    """A checkpoint written so that an interrupted save never corrupts `path`."""
    write_atomically(path, lambda partial: torch.save(obj, partial))


def _loss_terms(out, energy, forces, n_atoms):
    e_err = (out["energy"] - energy) / n_atoms
    f_err = out["forces"] - forces
    return e_err.pow(2).mean(), f_err.pow(2).mean(), e_err.abs().mean(), f_err.abs().mean()


def batch_losses(model, batch, loss: str, weights, create_graph: bool) -> Dict[str, torch.Tensor]:
    """Losses of one batch. ``loss``: "reference" (reference head on REF labels), "prior"
    (prior head on PRIOR labels) or "joint" (both, the prior term scaled by prior_weight).
    ``energy_mae``/``force_mae`` are those of the head the loss trains (the reference head
    in joint mode)."""
    n = batch.species.shape[0]
    dtype = batch.edge_vec.dtype  # pretraining frames have no reference energy
    n_atoms = batch.n_atoms.to(dtype)
    result: Dict[str, torch.Tensor] = {}
    total = torch.zeros((), dtype=dtype)
    # The heads have separate targets, so each needs its own force gradient.
    if loss in ("reference", "joint"):
        out = evaluate(model, batch.species, batch.edge_index, batch.edge_vec, n,
                       batch.batch, batch.num_structures, create_graph)
        e_mse, f_mse, e_mae, f_mae = _loss_terms(out, batch.energy, batch.forces, n_atoms)
        total = total + weights.energy_weight * e_mse + weights.force_weight * f_mse
        result.update(energy_mae=e_mae, force_mae=f_mae)
    if loss in ("prior", "joint"):
        out = evaluate(model.prior_energies, batch.species, batch.edge_index, batch.edge_vec,
                       n, batch.batch, batch.num_structures, create_graph)
        e_mse, f_mse, e_mae, f_mae = _loss_terms(out, batch.prior_energy, batch.prior_forces,
                                                 n_atoms)
        scale = weights.prior_weight if loss == "joint" else 1.0
        total = total + scale * (weights.energy_weight * e_mse + weights.force_weight * f_mse)
        result.update(prior_energy_mae=e_mae, prior_force_mae=f_mae)
        if loss == "prior":
            result.update(energy_mae=e_mae, force_mae=f_mae)
    result["loss"] = total
    return result


def _batches(frames: Sequence[Frame], size: int, shuffle: bool, rng: random.Random, dtype):
    order = list(range(len(frames)))
    if shuffle:
        rng.shuffle(order)
    for start in range(0, len(order), size):
        yield collate([frames[k] for k in order[start:start + size]], dtype)


def replay_batches(frames: Sequence[Frame], size: int, seed: int, epoch: int, dtype):
    """Endless shuffled batches of the pretraining set for the joint phase's replay term. The
    order depends on (seed, epoch) only, so a resumed run replays what a straight run would."""
    rng = random.Random(f"replay-{seed}-{epoch}")
    while True:
        yield from _batches(frames, size, True, rng, dtype)


def validate(model, frames, loss: str, config: Config, dtype) -> Dict[str, float]:
    sums: Dict[str, float] = {}
    count = 0
    for batch in _batches(frames, config.training.batch_size, False, random.Random(0), dtype):
        out = batch_losses(model, batch, loss, config.training, create_graph=False)
        for key, value in out.items():
            sums[key] = sums.get(key, 0.0) + value.item() * batch.num_structures
        count += batch.num_structures
    return {key: value / count for key, value in sums.items()}


def phases(config: Config) -> List[Tuple[str, int]]:
    """(loss, epochs) of each training phase of the configured mode."""
    t = config.training
    if t.mode == "pretrain-finetune":
        # pre-train everything on the prior's labels, then freeze the representation
        # and fit the reference head on reference labels (the paper's second recipe)
        return [("prior", t.pretrain_epochs), ("reference", t.epochs)]
    if config.data.pretrain:  # broad prior pretraining, then the joint training proper
        return [("prior", t.pretrain_epochs), (t.mode, t.epochs)]
    return [(t.mode, t.epochs)]


# every PRETRAIN_VALIDATION_STRIDE-th pretraining structure validates the pretraining phase
PRETRAIN_VALIDATION_STRIDE = 10


def phase_frames(config: Config, loss: str, train_frames, val_frames, pretrain_frames):
    """(training, validation) frames of a phase: a prior phase with ``data.pretrain`` learns
    from the pretraining set and stops early on its held-out part (every
    PRETRAIN_VALIDATION_STRIDE-th structure), not on the in-distribution validation set it is
    meant to reach beyond."""
    if loss == "prior" and pretrain_frames:
        if len(pretrain_frames) < 2:
            raise ValueError(f"{config.data.pretrain} holds {len(pretrain_frames)} structure; "
                             f"pretraining needs at least 2 (every "
                             f"{PRETRAIN_VALIDATION_STRIDE}th validates the phase)")
        held_out = set(range(0, len(pretrain_frames), PRETRAIN_VALIDATION_STRIDE))
        return ([f for k, f in enumerate(pretrain_frames) if k not in held_out],
                [pretrain_frames[k] for k in sorted(held_out)])
    return train_frames, val_frames


def trainable_parameters(model, config: Config, phase: int) -> List[torch.nn.Parameter]:
    """All parameters, except in the fine-tuning phase: only the reference head's."""
    if config.training.mode == "pretrain-finetune" and phase == 1:
        names = set(model.parameter_groups()["reference_head"])
        for name, param in model.named_parameters():
            param.requires_grad_(name in names)
    return [p for p in model.parameters() if p.requires_grad]


def warm_start_reference_head(model) -> None:
    """After pre-training: the reference head starts from the pre-trained prior head's weights
    (the whole network was pre-trained, as in the paper), so fine-tuning adapts a head that
    already reads the representation instead of learning one from random weights. The
    per-element shift and the scale stay those fitted to the reference labels. Not for delta
    targets: a head that learns reference minus prior should start small, not at the prior."""
    with torch.no_grad():
        prior = dict(model.prior_head.named_parameters())
        for name, param in model.reference_head.named_parameters():
            param.copy_(prior[name])


def _initialise_heads(model, frames: List[Frame], need_prior: bool) -> None:
    n_el = len(model.elements)
    with torch.no_grad():
        model.reference_head.shift.copy_(fit_element_energies(frames, n_el))
        model.reference_head.scale.fill_(force_rms(frames))
        if need_prior:
            model.prior_head.shift.copy_(fit_element_energies(frames, n_el, prior=True))
            model.prior_head.scale.fill_(force_rms(frames, prior=True))


def plot_log(log_path: Path, png_path: Path) -> None:
    """Training and validation loss, and validation force MAE, per epoch (all phases)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(log_path) as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    x = range(1, len(rows) + 1)
    fig, (ax_loss, ax_force) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("train_loss", "val_loss"):
        ax_loss.semilogy(x, [float(r[key]) for r in rows], label=key)
    ax_force.semilogy(x, [float(r["val_force_mae"]) for r in rows])
    for k in range(1, len(rows)):  # mark phase changes (pretrain-finetune)
        if rows[k]["phase"] != rows[k - 1]["phase"]:
            for ax in (ax_loss, ax_force):
                ax.axvline(k + 0.5, color="gray", ls="--", lw=1)
    ax_loss.set_xlabel("epoch")
    ax_loss.legend()
    ax_force.set_xlabel("epoch")
    ax_force.set_ylabel("validation force MAE (eV/A)")
    fig.tight_layout()
    write_atomically(png_path, lambda partial: fig.savefig(partial, dpi=100))
    plt.close(fig)


def train(config: Config, resume: bool = False, overwrite: bool = False) -> Path:
    """Trains and returns the path of the best checkpoint (best validation loss of the last
    phase). Writes last.pt every epoch (for --resume), pretrained.pt after a pre-training
    phase, log.csv and summary.json. A fresh run (neither ``resume`` nor ``overwrite``) refuses
    an output folder that holds an earlier run's checkpoints rather than replace them."""
    t = config.training
    m = config.model
    # block options only when set, so a config without them builds (and records) what it did;
    # checked before the output folder is touched
    options = {name: getattr(m, name) for name in BLOCK_OPTIONS if getattr(m, name)}
    try:
        architecture_class(m.architecture).check_block_options(options)
    except ValueError as exc:
        raise ValueError(f"model: {exc}") from None
    torch.manual_seed(t.seed)
    rng = random.Random(t.seed)
    if t.threads > 0:
        torch.set_num_threads(t.threads)
    dtype = torch.float64
    out_dir = Path(config.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if not (resume or overwrite) and (last_path.is_file() or best_path.is_file()):
        raise FileExistsError(
            f"{out_dir} holds the checkpoints of an earlier run; continue it with --resume, "
            f"start again with --overwrite, or set another output folder")
    if overwrite and not resume:  # no stale checkpoint of the earlier run may outlive this one
        for name in ("best.pt", "last.pt", "pretrained.pt"):
            (out_dir / name).unlink(missing_ok=True)

    delta = t.target == "delta"
    need_prior = t.mode in ("joint", "pretrain-finetune") or delta
    train_frames = load_frames(config.data.train, m.elements, m.cutoff, need_prior)
    val_frames = load_frames(config.data.val, m.elements, m.cutoff, need_prior)
    pretrain_frames = load_frames(config.data.pretrain, m.elements, m.cutoff, need_prior=True,
                                  need_reference=False) if config.data.pretrain else []
    # delta learning adds the prior back at every prediction; pretraining's prior head must
    # learn the same prior the training set's PRIOR labels are: both labels are checked
    checked_sources = [config.data.train] if delta else []
    if config.data.pretrain:
        checked_sources = [config.data.train, config.data.pretrain]
    for source in checked_sources:
        check_prior_labels(config.prior, read_frames(source, index=slice(0, FRAMES_CHECKED)),
                           source)
    if delta:  # the reference head learns reference minus prior (docs/delta.md)
        subtract_prior_labels(train_frames)
        subtract_prior_labels(val_frames)

    if m.core_repulsion_width > 0:  # where the reference data's pairs end (recorded)
        options["core_repulsion"] = {"switch_width": m.core_repulsion_width,
                                     "onset": closest_pair_distances(train_frames,
                                                                     len(m.elements))}
        print(f"core repulsion: ZBL switched on over {m.core_repulsion_width} A below the "
              f"training set's closest pairs {options['core_repulsion']['onset']} A")
        absent = [f"{a}-{b}" for i, a in enumerate(m.elements) for j, b in enumerate(m.elements)
                  if i <= j and options["core_repulsion"]["onset"][i][j] == 0]
        if absent:
            print(f"core repulsion: no {', '.join(absent)} pair within the cutoff in the "
                  f"training set, so these pairs get none")
    model = build_model(m.architecture, elements=m.elements, cutoff=m.cutoff, hidden=m.hidden,
                        num_basis=m.num_basis, shared_layers=m.shared_layers,
                        head_layers=m.head_layers, **options).to(dtype)
    plan = phases(config)
    state = {"phase": 0, "epoch": 0, "best_val": math.inf, "epochs_since_best": 0}
    ckpt = None
    if resume and last_path.is_file():
        ckpt = load_checkpoint(last_path)
        model.load_state_dict(ckpt["model_state"])
        state = ckpt["train_state"]
        rng.setstate(ckpt["rng_state"])
        torch.set_rng_state(ckpt["torch_rng_state"])
        print(f"resuming from {last_path}: phase {state['phase'] + 1}, epoch {state['epoch']}")
    else:
        _initialise_heads(model, train_frames, need_prior)

    log_path = out_dir / "log.csv"
    if not (resume and log_path.is_file()):
        with open(log_path, "w", newline="") as fh:
            csv.writer(fh).writerow(["phase", "epoch", "lr", "train_loss", "val_loss",
                                     "val_energy_mae", "val_force_mae"])

    def checkpoint(optimizer, scheduler) -> dict:
        return {
            "checkpoint_version": CHECKPOINT_VERSION,
            "architecture": m.architecture,
            "hparams": model.hparams,
            "model_state": model.state_dict(),
            "optimizer_state": optimizer.state_dict(),
            "scheduler_state": scheduler.state_dict(),
            "train_state": dict(state),
            "rng_state": rng.getstate(),
            "torch_rng_state": torch.get_rng_state(),
            "config": config.to_dict(),
            "parameter_groups": model.parameter_groups(),
        }

    for phase in range(state["phase"], len(plan)):
        loss, epochs = plan[phase]
        fitted, checked = phase_frames(config, loss, train_frames, val_frames, pretrain_frames)
        optimizer = torch.optim.Adam(trainable_parameters(model, config, phase), lr=t.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=t.lr_factor, patience=t.lr_patience, min_lr=t.min_lr)
        if ckpt is not None and ckpt["optimizer_state"] is not None:  # resuming mid-phase
            optimizer.load_state_dict(ckpt["optimizer_state"])
            scheduler.load_state_dict(ckpt["scheduler_state"])
        ckpt = None
        final_phase = phase == len(plan) - 1
        # replay keeps the pretraining set in the joint phase's prior loss (training only: the
        # phase still stops early and is selected on the in-distribution validation set)
        replayed = []
        if loss == "joint" and t.pretrain_replay_weight > 0:
            replayed = phase_frames(config, "prior", train_frames, val_frames, pretrain_frames)[0]

        progress = tqdm(range(state["epoch"], epochs), unit="epoch", initial=state["epoch"],
                        total=epochs, desc=f"training ({loss})")
        for epoch in progress:
            model.train()
            train_loss, seen = 0.0, 0
            replay = replay_batches(replayed, t.batch_size, t.seed, epoch, dtype) if replayed \
                else None
            for batch in _batches(fitted, t.batch_size, True, rng, dtype):
                optimizer.zero_grad()
                total = batch_losses(model, batch, loss, t, create_graph=True)["loss"]
                if replay is not None:
                    replay_loss = batch_losses(model, next(replay), "prior", t, create_graph=True)
                    total = total + t.pretrain_replay_weight * replay_loss["loss"]
                if not torch.isfinite(total):
                    raise FloatingPointError(
                        f"non-finite training loss at epoch {epoch + 1}; checkpoints in "
                        f"{out_dir} are left as they were (lower training.lr?)")
                total.backward()
                optimizer.step()
                train_loss += total.item() * batch.num_structures
                seen += batch.num_structures
            model.eval()
            val = validate(model, checked, loss, config, dtype)
            scheduler.step(val["loss"])
            state["epoch"] = epoch + 1
            improved = val["loss"] < state["best_val"]
            if improved:
                state["best_val"], state["epochs_since_best"] = val["loss"], 0
            else:
                state["epochs_since_best"] += 1
            lr = optimizer.param_groups[0]["lr"]
            with open(log_path, "a", newline="") as fh:
                csv.writer(fh).writerow([loss, epoch + 1, lr, train_loss / seen, val["loss"],
                                         val["energy_mae"], val["force_mae"]])
            progress.set_postfix(val_force_mae=f"{val['force_mae']:.4f}", lr=f"{lr:.1e}")
            current = checkpoint(optimizer, scheduler)
            if improved and final_phase:
                save_atomic(current, best_path)
            save_atomic(current, last_path)
            if state["epochs_since_best"] >= t.early_stopping_patience:
                print(f"early stopping after epoch {epoch + 1} of phase {phase + 1}")
                break
        if not final_phase:
            if not delta:
                warm_start_reference_head(model)
            save_atomic(checkpoint(optimizer, scheduler), out_dir / "pretrained.pt")
            state.update(phase=phase + 1, epoch=0, best_val=math.inf, epochs_since_best=0)
            boundary = checkpoint(optimizer, scheduler)  # the next phase starts with a fresh optimizer
            boundary["optimizer_state"] = boundary["scheduler_state"] = None
            save_atomic(boundary, last_path)

    plot_log(log_path, out_dir / "log.png")
    summary = {"best_val_loss": state["best_val"], "epochs": state["epoch"],
               "phases": [name for name, _ in plan], "best": str(best_path)}
    write_text_atomically(out_dir / "summary.json", json.dumps(summary, indent=2))
    return best_path
