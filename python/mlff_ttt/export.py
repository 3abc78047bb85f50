"""Export a training checkpoint to a TorchScript model file with its metadata.

The file loads from C++ without Python. Typed attributes carry what the C++ core checks
(format version, cutoff, layers, elements, units, dtype) and, from format version 2, the
training-set reference statistics of radius refinement and the shift monitor (``rr_*``,
``force_norm_*``; empty when the export had no training set), from version 3 the per-layer
edge counts of ``forward``, from version 4 statistics of envelope-weighted graphs (older
ones are refused by RR and the monitor: re-export); ``metadata_json`` carries the
full record shown by ``mlff-ttt info``. An exported file can be exported again (to add or
refresh the statistics) like a checkpoint.
"""

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from . import _core
from .files import write_atomically
from .models import build_model
from .rr import ReferenceStatistics, check_grid, default_grid, reference_statistics

# the format this package writes: the C++ core's, which reads every version since the first
MODEL_FORMAT_VERSION = _core.MODEL_FORMAT_VERSION
DTYPES = {"float32": torch.float32, "float64": torch.float64}


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

    def forward(self, species: torch.Tensor, edge_index: torch.Tensor,
                edge_vec: torch.Tensor, radius: Optional[float] = None,
                layer_edges: Optional[List[int]] = None) -> torch.Tensor:
        """Per-atom energies (eV) from the reference head; ``radius`` (RR) cuts the graph
        smoothly below the trained cutoff; ``layer_edges`` (format version 3) lets each layer
        use only the leading edges it needs (see models.layers.layer_edge_count)."""
        return self.model(species, edge_index, edge_vec, radius, layer_edges)

    @torch.jit.export
    def prior_energies(self, species: torch.Tensor, edge_index: torch.Tensor,
                       edge_vec: torch.Tensor, radius: Optional[float] = None) -> torch.Tensor:
        """Per-atom energies (eV) from the prior head."""
        return self.model.prior_energies(species, edge_index, edge_vec, radius)


def weights_checksum(module: torch.jit.ScriptModule) -> int:
    """CRC-32 (zlib's) over the names and raw bytes of every parameter and buffer, in name
    order; the C++ runner computes the same at load. TorchScript archives do not check their
    tensor data, so without it a damaged file could load and return wrong numbers."""
    import zlib

    crc = 0
    for name, tensor in sorted(module.state_dict().items()):
        crc = zlib.crc32(name.encode(), crc)
        crc = zlib.crc32(tensor.detach().cpu().contiguous().numpy().tobytes(), crc)
    return crc


# The typed attributes the C++ runner reads (in this order): a damaged or edited cutoff, element
# list or statistics would otherwise load and silently change the numbers.
CHECKED_ATTRIBUTES = ("format_version", "architecture", "cutoff", "num_layers", "elements",
                      "units", "dtype", "metadata_json", "rr_radii", "rr_moments",
                      "rr_moment_std", "rr_distance_mean", "rr_distance_std", "force_norm_mean",
                      "force_norm_std")


def _attribute_bytes(value) -> bytes:
    """An attribute's value as the runner hashes it: int64 and float64 little-endian, strings
    as UTF-8, lists element by element."""
    import struct

    if isinstance(value, bool):
        raise TypeError("boolean attributes are not checked")
    if isinstance(value, int):
        return struct.pack("<q", value)
    if isinstance(value, float):
        return struct.pack("<d", value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (list, tuple)):
        return b"".join(_attribute_bytes(v) for v in value)
    raise TypeError(f"cannot checksum an attribute of type {type(value).__name__}")


def attributes_checksum(module: torch.jit.ScriptModule) -> int:
    """CRC-32 over the names and values of the CHECKED_ATTRIBUTES the module has."""
    import zlib

    crc = 0
    for name in CHECKED_ATTRIBUTES:
        if hasattr(module, name):
            crc = zlib.crc32(name.encode(), crc)
            crc = zlib.crc32(_attribute_bytes(getattr(module, name)), crc)
    return crc


def stamp_checksum(module: torch.jit.ScriptModule) -> None:
    """Sets the module's ``weights_crc32`` and ``attributes_crc32`` (adding them to a file of an
    earlier release); call it after the last change to the module."""
    for name, crc in (("weights_crc32", weights_checksum(module)),
                      ("attributes_crc32", attributes_checksum(module))):
        if hasattr(module, name):
            setattr(module, name, crc)
        else:
            module._c._register_attribute(name, torch._C.IntType.get(), crc)


def model_from_checkpoint(path: Union[str, Path]):
    """The float64 model and a checkpoint-like record (architecture, hparams, parameter groups,
    config) from a training checkpoint or from a model file written by this module."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if _is_model_file(path):
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


def _is_model_file(path: Path) -> bool:
    """TorchScript archives hold a code/ folder; training checkpoints do not."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def _dataset(given, *recorded) -> Optional[str]:
    """The data set to use: the one given (it must exist; reading it says so), else the first
    recorded one that exists here."""
    if given is not None:
        return str(given)
    return next((str(p) for p in recorded if p is not None and Path(p).is_file()), None)


def export_checkpoint(checkpoint: Union[str, Path], output: Union[str, Path],
                      dtype: Optional[str] = None, train: Optional[Union[str, Path]] = None,
                      rr_grid: Optional[Sequence[float]] = None,
                      prior: Optional[str] = None,
                      val: Optional[Union[str, Path]] = None) -> Dict[str, Any]:
    """Writes the model file. The prior-loss statistics of TTT's gate come from the validation
    set ``val`` (default: the checkpoint's, or the one an exported file's came from). The
    reference statistics of RR and the monitor come from ``train`` (default: the
    training set named in the checkpoint's config or in an exported file's metadata, else the
    set an exported file's statistics came from); without any training set the file has none,
    and RR and the monitor refuse it. ``dtype`` defaults to an exported file's own (a
    float32 file stays float32 when its statistics are refreshed), else float64."""
    from .data import PRIOR_FORCES, read_frames
    from .priors import available
    from .ttt import training_prior_loss

    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
    if prior is not None and prior not in available():
        raise ValueError(f"unknown prior {prior!r}; known priors: {', '.join(available())}")
    model, ckpt = model_from_checkpoint(checkpoint)
    earlier = ckpt.get("exported_metadata", {})
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
        "reference_statistics": statistics,
        "ttt_reference": ttt_reference,
        "mlff_ttt_version": __import__("mlff_ttt").__version__,
        "torch_version": torch.__version__,
    }
    scripted = torch.jit.script(ExportedModel(model, metadata))
    stamp_checksum(scripted)
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = Path(exc.filename or output.parent)
        reason = (f"{blocker} is a file, not a folder" if blocker.is_file() else
                  f"{exc.strerror}: {blocker}")
        raise ValueError(f"cannot write {output}: {reason}") from None
    # written under a temporary name and renamed, so an existing file (perhaps the input)
    # is never left half-written
    try:
        write_atomically(output, lambda partial: scripted.save(str(partial)))
    except (OSError, RuntimeError) as exc:  # torch reports write failures as RuntimeError
        reason = str(exc).strip().splitlines()[0]
        raise ValueError(f"cannot write {output} (an existing file is left as it was): "
                         f"{reason}") from None
    return metadata


_REEXPORT = "re-export it with `mlff-ttt export MODEL.pt -o NEW.pt --train TRAIN.xyz`"


def reference_statistics_of(metadata: Dict[str, Any]) -> ReferenceStatistics:
    """The model file's RR/monitor statistics; ValueError when it has none."""
    record = metadata.get("reference_statistics")
    if not record:
        raise ValueError("the model file has no reference statistics for RR and the monitor "
                         "(format version 1, or exported without a training set): "
                         f"{_REEXPORT}")
    if metadata["format_version"] < _core.WEIGHTED_STATISTICS_VERSION:
        raise ValueError(
            f"the model file's reference statistics (format version "
            f"{metadata['format_version']}) are of unweighted radius graphs, which this "
            f"version no longer compares: {_REEXPORT}")
    return ReferenceStatistics.from_dict(record)


def load_model_file(path: Union[str, Path]) -> torch.jit.ScriptModule:
    """A model file written by this module, checked. The C++ runner reads it first: on some
    damaged archives torch.jit.load from Python aborts the process (its error report reads the
    damaged debug sources inside a noexcept function), which the runner guards against."""
    from . import _core

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        _core.ModelRunner(str(path))    # also verifies both checksums
    except RuntimeError as exc:
        raise ValueError(str(exc)) from None
    return torch.jit.load(str(path), map_location="cpu")


def read_metadata(path: Union[str, Path]) -> Dict[str, Any]:
    return metadata_of(load_model_file(path), path)


# Fields every reader relies on, with their JSON types; the first seven are also typed
# attributes of the module and must agree with them.
_METADATA_FIELDS = {"format_version": int, "architecture": str, "cutoff": float,
                    "elements": list, "units": str, "dtype": str, "num_layers": int,
                    "hparams": dict}
_OPTIONAL_FIELDS = {"ttt_parameters": list, "reference_statistics": dict,
                    "ttt_reference": dict, "prior_name": str}


def _json_type_ok(value, kind) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def metadata_of(module: torch.jit.ScriptModule, path) -> Dict[str, Any]:
    """The metadata record of a loaded model file (``path`` names it in messages), after
    checking the fields readers rely on: present, of the right JSON type, and equal to the
    module's typed attributes."""
    try:
        metadata = json.loads(module.metadata_json)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"model file {path} has damaged metadata: {str(exc)[:200]}") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"model file {path} has damaged metadata (not a JSON object)")
    for fields, required in ((_METADATA_FIELDS, True), (_OPTIONAL_FIELDS, False)):
        for name, kind in fields.items():
            if name not in metadata or (not required and metadata[name] is None):
                if required:
                    raise ValueError(f"model file {path} has damaged metadata: no '{name}'")
                continue
            if not _json_type_ok(metadata[name], kind) or (
                    kind is list and not all(isinstance(v, str) for v in metadata[name])):
                raise ValueError(f"model file {path} has damaged metadata: '{name}' is not "
                                 f"a {'list of strings' if kind is list else kind.__name__}")
            if hasattr(module, name) and kind is not dict and metadata[name] != getattr(module, name):
                raise ValueError(f"model file {path} has damaged metadata: '{name}' differs "
                                 "from the model's own attribute")
    parameters = {name for name, _ in module.named_parameters()}
    unknown = [n for n in metadata.get("ttt_parameters") or [] if f"model.{n}" not in parameters]
    if unknown:
        raise ValueError(f"model file {path} has damaged metadata: 'ttt_parameters' names "
                         f"parameters the model does not have ({', '.join(unknown[:3])[:200]})")
    return metadata
