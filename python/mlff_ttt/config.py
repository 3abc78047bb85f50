"""Training configuration read from YAML; unknown keys are errors, not silently ignored."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Optional

import yaml

TRAINING_MODES = ("reference", "joint", "pretrain-finetune")
# What the reference head learns: the reference labels themselves, or (delta learning) the
# reference minus the config's prior, which every prediction then adds back (docs/delta.md)
TARGETS = ("absolute", "delta")


@dataclass
class DataConfig:
    train: str = ""
    val: str = ""
    # prior-labelled structures (mlff-ttt data prior-md) the representation and the prior head
    # are pretrained on before the training proper (docs/pretraining.md); "" for none
    pretrain: str = ""


@dataclass
class ModelConfig:
    architecture: str = "schnet"
    elements: list = field(default_factory=list)
    cutoff: float = 5.0
    hidden: int = 64
    num_basis: int = 32
    shared_layers: int = 1
    head_layers: int = 1
    # PaiNN only: saturate the update block's vector invariants (models/painn.py, Update)
    bounded_invariants: bool = False
    # Angstrom below each element pair's closest distance in the training set over which a
    # ZBL core repulsion switches on (models/core_repulsion.py); 0: no core repulsion
    core_repulsion_width: float = 0.0


# the ModelConfig fields that are options of an architecture's blocks (its
# block_option_names), passed to the model only when set
BLOCK_OPTIONS = ("bounded_invariants",)


@dataclass
class TrainingConfig:
    mode: str = "joint"            # reference | joint | pretrain-finetune (see train.phases)
    target: str = "absolute"       # absolute | delta (TARGETS)
    epochs: int = 100              # epochs of the (final) training phase
    pretrain_epochs: int = 50      # pretrain-finetune or data.pretrain: epochs on prior labels first
    batch_size: int = 8
    lr: float = 2e-3
    min_lr: float = 1e-5
    lr_factor: float = 0.5
    lr_patience: int = 5
    early_stopping_patience: int = 20
    energy_weight: float = 1.0     # per-atom energy MSE weight
    force_weight: float = 10.0     # force-component MSE weight
    prior_weight: float = 1.0      # weight of the prior head's loss (joint mode)
    # weight of the prior loss on data.pretrain replayed in the joint phase, one pretraining
    # batch per training batch, so the joint phase does not undo the pretraining; 0: none
    pretrain_replay_weight: float = 0.0
    seed: int = 0
    threads: int = 0               # torch threads; 0 keeps torch's default


@dataclass
class Config:
    data: DataConfig
    model: ModelConfig
    training: TrainingConfig
    output: str = "runs/model"
    # the prior whose labels the data's PRIOR_* are, as a spec (docs/priors.md): export
    # records it in the model file as TTT's default prior; None: not named
    prior: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _build(cls, values: Optional[dict], where: str):
    values = values or {}
    if not isinstance(values, dict):
        raise ValueError(f"config section '{where}' must be a mapping")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in config section '{where}'; known: {sorted(known)}")
    for f in fields(cls):
        if f.name in values:
            values[f.name] = _checked(values[f.name], f.type, f"{where}.{f.name}")
    return cls(**values)


# The field annotations (strings under `from __future__ import annotations`) and what they take.
_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "list": (list,), "bool": (bool,)}


def _checked(value, annotation: str, where: str):
    """The value if it has the field's type (an int is a valid float; a bool is neither, and
    only true/false are a bool)."""
    accepted = _TYPES[annotation]
    if annotation == "float" and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-3 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if annotation == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"config key {where} must be true or false, not {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, accepted):
        raise ValueError(f"config key {where} must be a {annotation}, not {value!r}")
    return float(value) if annotation == "float" else value


# registry priors read from a file, and the parameter that names it
FILE_PARAMETERS = {"pair_fitted": "path", "sgdml": "model"}


def _prior(value, path) -> Optional[str]:
    """The config's prior (a spec text or a mapping with a name) as its canonical text, after
    checking that it makes a prior; a prior's file (pair_fitted's path, sgdml's model) is
    relative to the config's folder, as the data sets are."""
    if value is None:
        return None
    from .priors import get_prior, parse_prior_spec

    try:
        spec = parse_prior_spec(value)
        key = FILE_PARAMETERS.get(spec.name)
        if key and isinstance(spec.params.get(key), str):  # relative to the config's folder
            spec = type(spec)(spec.name, {**spec.params, key: str(
                (Path(path).resolve().parent / spec.params[key]).resolve())})
        get_prior(spec)
    except ValueError as exc:
        raise ValueError(f"config {path}: prior: {exc}") from None
    return str(spec)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ValueError(f"config {path} is not valid YAML: {detail}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"config {path} must be a mapping of sections (data, model, training, "
                         f"output), not a {type(raw).__name__}")
    unknown = sorted(set(raw) - {"data", "model", "training", "output", "prior"})
    if unknown:
        raise ValueError(f"unknown top-level key(s) {unknown} in {path}")
    config = Config(
        data=_build(DataConfig, raw.get("data"), "data"),
        model=_build(ModelConfig, raw.get("model"), "model"),
        training=_build(TrainingConfig, raw.get("training"), "training"),
        output=str(raw.get("output", "runs/model")),
        prior=_prior(raw.get("prior"), path),
    )
    # Relative dataset and output paths are relative to the config file's folder.
    base = path.resolve().parent
    for attr in ("train", "val"):
        value = getattr(config.data, attr)
        if not value:
            raise ValueError(f"config {path}: data.{attr} is required")
        setattr(config.data, attr, str((base / value).resolve()))
    if config.data.pretrain:
        config.data.pretrain = str((base / config.data.pretrain).resolve())
    config.output = str((base / config.output).resolve())
    if not config.model.elements:
        raise ValueError(f"config {path}: model.elements must list the elements")
    if config.model.core_repulsion_width < 0:
        raise ValueError(f"config {path}: model.core_repulsion_width must be >= 0 (0: no core "
                         f"repulsion), not {config.model.core_repulsion_width}")
    if config.training.mode not in TRAINING_MODES:
        raise ValueError(f"config {path}: training.mode must be one of {TRAINING_MODES}")
    if config.data.pretrain and config.training.mode == "reference":
        raise ValueError(f"config {path}: data.pretrain pretrains the representation through "
                         f"the prior head, which mode reference never trains or uses; use mode "
                         f"joint (or pretrain-finetune)")
    if config.data.pretrain and config.training.pretrain_epochs < 1:
        raise ValueError(f"config {path}: data.pretrain needs training.pretrain_epochs >= 1 "
                         f"(the reference head starts from the pretrained prior head)")
    if config.data.pretrain and config.prior is None:
        raise ValueError(f"config {path}: data.pretrain needs the top-level prior: the prior "
                         f"whose labels the pretraining and training sets carry (a spec, "
                         f"docs/priors.md), so that training can check they are the same")
    replay = config.training.pretrain_replay_weight
    if replay < 0:
        raise ValueError(f"config {path}: training.pretrain_replay_weight must be >= 0, not "
                         f"{replay}")
    if replay > 0 and not (config.data.pretrain and config.training.mode == "joint"):
        raise ValueError(f"config {path}: training.pretrain_replay_weight replays data.pretrain "
                         f"in the joint phase's prior loss: it needs data.pretrain and mode "
                         f"joint")
    if config.training.target not in TARGETS:
        raise ValueError(f"config {path}: training.target must be one of {TARGETS}, not "
                         f"{config.training.target!r}")
    if config.training.target == "delta" and config.prior is None:
        raise ValueError(f"config {path}: training.target delta needs the top-level prior: the "
                         f"prior whose labels the reference head learns the difference to, "
                         f"which every prediction adds back (a spec, docs/priors.md)")
    return config
