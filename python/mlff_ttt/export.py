"""Export a training checkpoint to a TorchScript model file with its metadata.

The file loads from C++ without Python. Typed attributes carry what the C++ core checks
(format version, cutoff, layers, elements, units, dtype); ``metadata_json`` carries the full
record shown by ``mlff-ttt info``.
"""



import json
from pathlib import Path
from typing import Any, Dict, List, Union

import torch
from torch import nn

from .models import build_model

MODEL_FORMAT_VERSION = 1
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

    def forward(self, species: torch.Tensor, edge_index: torch.Tensor,
                edge_vec: torch.Tensor) -> torch.Tensor:
        """Per-atom energies (eV) from the reference head."""
        return self.model(species, edge_index, edge_vec)

    @torch.jit.export
    def prior_energies(self, species: torch.Tensor, edge_index: torch.Tensor,
                       edge_vec: torch.Tensor) -> torch.Tensor:
        """Per-atom energies (eV) from the prior head."""
        return self.model.prior_energies(species, edge_index, edge_vec)


def model_from_checkpoint(path: Union[str, Path]) -> nn.Module:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or "model_state" not in ckpt:
        raise ValueError(f"{path} is not an mlff-ttt training checkpoint")
    model = build_model(ckpt["architecture"], **ckpt["hparams"]).to(torch.float64)
    model.load_state_dict(ckpt["model_state"])
    return model.eval(), ckpt


def export_checkpoint(checkpoint: Union[str, Path], output: Union[str, Path], dtype: str = "float64") -> Dict[str, Any]:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
    model, ckpt = model_from_checkpoint(checkpoint)
    model = model.to(DTYPES[dtype])
    config = ckpt.get("config", {})
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
        "training_mode": config.get("training", {}).get("mode"),
        "training_data": config.get("data", {}).get("train"),
        "ttt_parameters": ckpt["parameter_groups"]["representation"],
        "prior": "PRIOR_energy/PRIOR_forces labels of the training data"
        if config.get("training", {}).get("mode") == "joint" else None,
        "mlff_ttt_version": __import__("mlff_ttt").__version__,
        "torch_version": torch.__version__,
    }
    scripted = torch.jit.script(ExportedModel(model, metadata))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    scripted.save(str(output))
    return metadata


def read_metadata(path: Union[str, Path]) -> Dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError or ValueError for non-archives
        raise ValueError(f"{path} is not a TorchScript model file: {exc}") from None
    if not hasattr(module, "metadata_json"):
        raise ValueError(f"{path} was not written by `mlff-ttt export` (no metadata)")
    return json.loads(module.metadata_json)
