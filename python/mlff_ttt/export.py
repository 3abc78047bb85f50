"""Checkpoint -> model file: the float64 model of a training checkpoint (or of a model file, to
add or refresh its statistics), its metadata, and the TorchScript module written by
:func:`mlff_ttt.model_file.write_model_file`. What the file holds and how it is checked is
:mod:`mlff_ttt.model_file`'s.
"""

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from .delta import delta_attributes
from .model_file import (DTYPES, MODEL_FORMAT_VERSION, is_model_file, load_model_file,
                         metadata_of, write_model_file)
from .models import build_model
from .refine.rr import check_grid, default_grid, reference_statistics


class ExportedModel(nn.Module):
    format_version: int
    architecture: str
    cutoff: float
    num_layers: int
    elements: List[str]
    units: str
    dtype: str
    metadata_json: str
    rr_radii: List[float]
    rr_moments: List[List[float]]
    rr_moment_std: List[List[float]]
    rr_distance_mean: List[float]
    rr_distance_std: List[float]
    force_norm_mean: float
    force_norm_std: float
    delta_prior: str
    delta_prior_style: str

    def __init__(self, model: nn.Module, metadata: Dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.format_version = int(metadata["format_version"])
        self.architecture = str(metadata["architecture"])
        self.cutoff = float(metadata["cutoff"])
        self.num_layers = int(metadata["num_layers"])
        self.elements = list(metadata["elements"])
        self.units = str(metadata["units"])
        self.dtype = str(metadata["dtype"])
        self.metadata_json = json.dumps(metadata, sort_keys=True)
        stats = metadata.get("reference_statistics") or {}
        self.rr_radii = [float(r) for r in stats.get("radii", [])]
        self.rr_moments = [[float(m) for m in row] for row in stats.get("moments", [])]
        self.rr_moment_std = [[float(m) for m in row] for row in stats.get("moment_std", [])]
        self.rr_distance_mean = [float(d) for d in stats.get("distance_mean", [])]
        self.rr_distance_std = [float(d) for d in stats.get("distance_std", [])]
        self.force_norm_mean = float(stats.get("force_norm_mean", 0.0))
        self.force_norm_std = float(stats.get("force_norm_std", 0.0))
        delta = delta_attributes(metadata.get("delta_prior"))
        self.delta_prior = delta["delta_prior"]
        self.delta_prior_style = delta["delta_prior_style"]

    def forward(self, species: torch.Tensor, edge_index: torch.Tensor,
                edge_vec: torch.Tensor, radius: Optional[float] = None,
                layer_edges: Optional[List[int]] = None) -> torch.Tensor:
        """Per-atom energies (eV) from the reference head (of a delta model, ``delta_prior``
        not empty: the reference minus that prior); ``radius`` (RR) cuts the graph
        smoothly below the trained cutoff; ``layer_edges`` (format version 3) lets each layer
        use only the leading edges it needs (see models.layers.layer_edge_count)."""
        return self.model(species, edge_index, edge_vec, radius, layer_edges)

    @torch.jit.export
    def prior_energies(self, species: torch.Tensor, edge_index: torch.Tensor,
                       edge_vec: torch.Tensor, radius: Optional[float] = None) -> torch.Tensor:
        """Per-atom energies (eV) from the prior head."""
        return self.model.prior_energies(species, edge_index, edge_vec, radius)

    # The reference head's energies one message-passing layer at a time, for a caller that
    # exchanges the features of its ghost nodes between layers (the pair style on several
    # ranks): see the architectures' methods of the same names.

    @torch.jit.export
    def exchange_width(self) -> int:
        return self.model.exchange_width()

    @torch.jit.export
    def initial_features(self, species: torch.Tensor) -> torch.Tensor:
        return self.model.initial_features(species)

    @torch.jit.export
    def edge_terms(self, edge_vec: torch.Tensor,
                   radius: Optional[float] = None) -> List[torch.Tensor]:
        return self.model.edge_terms(edge_vec, radius)

    @torch.jit.export
    def layer_features(self, layer: int, features: torch.Tensor, edge_index: torch.Tensor,
                       terms: List[torch.Tensor], n_out: int) -> torch.Tensor:
        return self.model.layer_features(layer, features, edge_index, terms, n_out)

    @torch.jit.export
    def features_energies(self, features: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        return self.model.features_energies(features, species)

    @torch.jit.export
    def core_energies(self, species: torch.Tensor, edge_index: torch.Tensor,
                      edge_vec: torch.Tensor, n_out: int) -> torch.Tensor:
        """The reference energies' core repulsion of nodes [0, n_out) (zeros for a model
        without one), which ``features_energies`` leaves out."""
        return self.model.core(species, edge_index, edge_vec, n_out)

    @torch.jit.export
    def core_reach(self) -> float:
        """The longest distance (A) at which the core repulsion acts; 0: the model has none."""
        return self.model.core.reach


def model_from_checkpoint(path: Union[str, Path]):
    """The float64 model and a checkpoint-like record (architecture, hparams, parameter groups,
    config) from a training checkpoint or from a model file written by this module."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if is_model_file(path):
        module = load_model_file(path)
        metadata = metadata_of(module, path)
        state = {name[len("model."):]: value for name, value in module.state_dict().items()}
        try:
            model = build_model(metadata["architecture"], **metadata["hparams"]).to(torch.float64)
            model.load_state_dict({k: v.to(torch.float64) for k, v in state.items()})
        except (TypeError, KeyError, RuntimeError) as exc:
            raise ValueError(f"model file {path}: its metadata 'hparams' do not rebuild its "
                             f"model ({str(exc).splitlines()[0][:200]})") from None
        ckpt = {"architecture": metadata["architecture"], "hparams": metadata["hparams"],
                "parameter_groups": model.parameter_groups(), "exported_metadata": metadata}
        return model.eval(), ckpt
    from .train import load_checkpoint

    ckpt = load_checkpoint(path)
    model = build_model(ckpt["architecture"], **ckpt["hparams"]).to(torch.float64)
    model.load_state_dict(ckpt["model_state"])
    return model.eval(), ckpt


def _dataset(given, *recorded) -> Optional[str]:
    """The data set to use: the one given (it must exist; reading it says so), else the first
    recorded one that exists here."""
    if given is not None:
        return str(given)
    return next((str(p) for p in recorded if p is not None and Path(p).is_file()), None)


def prior_spec_text(prior) -> str:
    """A prior spec's canonical text (what ``prior_name`` records), after checking that it
    makes a prior: its name, its parameters (none missing, none unknown), its files."""
    from .priors import get_prior, parse_prior_spec

    spec = parse_prior_spec(prior)
    get_prior(spec)
    return str(spec)


def _delta_prior(ckpt: dict, earlier: dict) -> Optional[str]:
    """The prior a delta-learned model adds back (its training config's; an exported file's
    own), else None."""
    config = ckpt.get("config", {})
    if config.get("training", {}).get("target") == "delta":
        return prior_spec_text(config["prior"])
    return earlier.get("delta_prior")


def export_checkpoint(checkpoint: Union[str, Path], output: Union[str, Path],
                      dtype: Optional[str] = None, train: Optional[Union[str, Path]] = None,
                      rr_grid: Optional[Sequence[float]] = None,
                      prior=None,
                      val: Optional[Union[str, Path]] = None,
                      calibration: Optional[Sequence[Union[str, Path]]] = None,
                      calibrate: Optional[bool] = None) -> Dict[str, Any]:
    """Writes the model file. The prior-loss statistics of TTT's gate come from the validation
    set ``val`` (default: the checkpoint's, or the one an exported file's came from). The
    reference statistics of RR and the monitor come from ``train`` (default: the
    training set named in the checkpoint's config or in an exported file's metadata, else the
    set an exported file's statistics came from); without any training set the file has none,
    and RR and the monitor refuse it. ``dtype`` defaults to an exported file's own (a
    float32 file stays float32 when its statistics are refreshed), else float64.

    TTT's calibration (:mod:`mlff_ttt.refine.calibration`): on the labelled sets
    ``calibration`` (each one group, as a benchmark split), else on the pseudo-OOD part of
    the validation set (for a model with a trained prior head, on a set with REF and PRIOR
    labels). ``calibrate`` None (the default): a training checkpoint is calibrated, a model
    file keeps its own calibration (its weights are unchanged); True: calibrated again; False:
    the written file has none."""
    from .data import PRIOR_FORCES, read_frames
    from .refine.ttt import training_prior_loss

    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
    prior = None if prior is None else prior_spec_text(prior)
    model, ckpt = model_from_checkpoint(checkpoint)
    earlier = ckpt.get("exported_metadata", {})
    if prior is None and ckpt.get("config", {}).get("prior"):
        prior = prior_spec_text(ckpt["config"]["prior"])
    delta_prior = _delta_prior(ckpt, earlier)
    if delta_prior is not None and prior is not None and prior != delta_prior:
        raise ValueError(f"{checkpoint} is delta-learned on the prior {delta_prior}: its prior "
                         f"head and its predictions use that prior, not {prior}")
    dtype = dtype or earlier.get("dtype", "float64")
    config = ckpt.get("config", {})
    mode = config.get("training", {}).get("mode", earlier.get("training_mode"))
    training_data = config.get("data", {}).get("train", earlier.get("training_data"))
    # the grid given, else an exported file's own, else the default one
    earlier_grid = (earlier.get("reference_statistics") or {}).get("radii")
    radii = check_grid(rr_grid if rr_grid is not None else
                       earlier_grid or default_grid(model.cutoff), model.cutoff)
    # the statistics' set: --train, else the training set, else the one an earlier export used
    source = _dataset(train, training_data,
                      (earlier.get("reference_statistics") or {}).get("source"))
    statistics = None
    if source is not None:
        statistics = reference_statistics(read_frames(source), radii, source).to_dict()
    # TTT's gate compares with held-out in-distribution structures (the validation set): on
    # the training structures themselves the prior head's loss is lower than on any new ones
    val_source = _dataset(val, config.get("data", {}).get("val"),
                          (earlier.get("ttt_reference") or {}).get("source"))
    ttt_reference = None
    if val_source is not None:
        frames = read_frames(val_source)
        if all(PRIOR_FORCES in atoms.arrays for atoms in frames):
            ttt_reference = dict(training_prior_loss(model, frames), source=val_source)
    model = model.to(DTYPES[dtype])
    if calibrate is False and calibration:
        raise ValueError("calibration sets given with calibrate=False (--no-calibration)")
    keep_calibration = calibrate is None and not calibration and "exported_metadata" in ckpt
    calibrate = calibrate is not False and not keep_calibration
    metadata = {
        "format_version": MODEL_FORMAT_VERSION,
        "architecture": ckpt["architecture"],
        "cutoff": model.cutoff,
        "num_layers": model.num_layers,
        "receptive_field": model.cutoff * model.num_layers,
        "elements": model.elements,
        "units": "metal",
        "dtype": dtype,
        "hparams": ckpt["hparams"],
        "training_mode": mode,
        "training_data": training_data,
        "ttt_parameters": ckpt["parameter_groups"]["representation"],
        "prior": "PRIOR_energy/PRIOR_forces labels of the training data"
        if mode == "joint" else None,
        "prior_name": prior if prior is not None else earlier.get("prior_name"),
        "delta_prior": delta_prior,
        "reference_statistics": statistics,
        "ttt_reference": ttt_reference,
        "ttt_calibration": earlier.get("ttt_calibration") if keep_calibration else None,
        "mlff_ttt_version": __import__("mlff_ttt").__version__,
        "torch_version": torch.__version__,
    }
    module = torch.jit.script(ExportedModel(model, metadata))
    if calibrate:
        groups, rule = _calibration_groups(module, calibration, val_source, mode)
        if groups:
            from .refine.calibration import calibrate as calibrate_ttt

            metadata["ttt_calibration"] = dict(calibrate_ttt(module, groups, str(checkpoint)),
                                               rule=rule)
            module = torch.jit.script(ExportedModel(model, metadata))
    write_model_file(module, output)
    return metadata


def _calibration_groups(module, calibration, val_source, mode):
    """The labelled groups TTT's calibration adapts on, and how they were chosen: the given
    sets, else the validation set's pseudo-OOD part (when the model has a trained prior head
    and the set REF and PRIOR labels); ({}, None) when there is nothing to calibrate on."""
    from .data import PRIOR_FORCES, REF_FORCES, read_frames
    from .refine.calibration import PSEUDO_OOD_FRACTION, carve_pseudo_ood

    if calibration:
        return ({Path(p).stem: read_frames(p) for p in calibration},
                "the given calibration sets, each adapted on alone")
    if val_source is None or mode not in ("joint", "pretrain-finetune"):
        return {}, None
    frames = read_frames(val_source)
    if not all(PRIOR_FORCES in a.arrays and REF_FORCES in a.arrays for a in frames):
        return {}, None
    return ({"pseudo_ood": carve_pseudo_ood(module, frames)},
            f"the {PSEUDO_OOD_FRACTION:.0%} of {val_source}'s structures with the highest "
            f"prior-head loss")
