"""The model file: a TorchScript archive the C++ runner loads without Python, in one place.

Its typed attributes carry what the C++ core checks (format version, cutoff, layers,
elements, units, dtype) and, from format version 2, the training-set reference statistics of
radius refinement and the shift monitor (``rr_*``, ``force_norm_*``; empty when the export
had no training set), from version 3 the per-layer edge counts of ``forward``, from version 4
statistics of envelope-weighted graphs (older ones are refused by RR and the monitor:
re-export); ``metadata_json`` carries the full record shown by ``mlff-ttt info``. Two CRC-32
checksums (of the weights and of the typed attributes) guard against damaged files; the C++
runner computes the same at load (cpp/model_runner.cpp).

Everything that reads or writes model files goes through here: :mod:`mlff_ttt.export` (from
a checkpoint), :mod:`mlff_ttt.refine.ttt` (adapted models), the calculator and the MD side.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, Dict, Union

import torch

from . import _core
from .files import write_atomically
from .refine.rr import ReferenceStatistics

# the format this package writes: the C++ core's, which reads every version since the first
MODEL_FORMAT_VERSION = _core.MODEL_FORMAT_VERSION
# a model file's "dtype" attribute -> the torch dtype its module computes in
DTYPES = {"float32": torch.float32, "float64": torch.float64}


# ----------------------------------------------------------------------------- checksums

def weights_checksum(module: torch.jit.ScriptModule) -> int:
    """CRC-32 (zlib's) over the names and raw bytes of every parameter and buffer, in name
    order; the C++ runner computes the same at load. TorchScript archives do not check their
    tensor data, so without it a damaged file could load and return wrong numbers."""
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
                      "force_norm_std", "delta_prior", "delta_prior_style")


def _attribute_bytes(value) -> bytes:
    """An attribute's value as the runner hashes it: int64 and float64 little-endian, strings
    as UTF-8, lists element by element."""
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


# ----------------------------------------------------------------------------- writing

class ModelFileWriteError(OSError, ValueError):
    """A model file could not be written; an existing file at its path is left as it was.
    An OSError, as a failed write is, and a ValueError, as export has always raised: callers
    catching either keep working."""


def write_model_file(module: torch.jit.ScriptModule, output: Union[str, Path]) -> None:
    """The one writer of model files (exported and adapted alike): stamps the checksums, then
    saves under a temporary name and renames, so an existing file (perhaps the input) is never
    left half-written. ModelFileWriteError "cannot write OUTPUT ...: why" when the folder
    cannot be created or the write fails (torch reports those as RuntimeError)."""
    stamp_checksum(module)
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = Path(exc.filename or output.parent)
        reason = (f"{blocker} is a file, not a folder" if blocker.is_file() else
                  f"{exc.strerror}: {blocker}")
        raise ModelFileWriteError(f"cannot write {output}: {reason}") from None
    try:
        write_atomically(output, lambda partial: module.save(str(partial)))
    except (OSError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ModelFileWriteError(f"cannot write {output} (an existing file is left as it "
                                  f"was): {reason}") from None


# ----------------------------------------------------------------------------- reading

def is_model_file(path: Path) -> bool:
    """TorchScript archives hold a code/ folder; training checkpoints do not."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def load_model_file(path: Union[str, Path]) -> torch.jit.ScriptModule:
    """A model file, checked. The C++ runner reads it first: on some damaged archives
    torch.jit.load from Python aborts the process (its error report reads the damaged debug
    sources inside a noexcept function), which the runner guards against."""
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
