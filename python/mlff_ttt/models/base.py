"""What every architecture shares: the hyper-parameters record and the parameter split into
a shared representation and two heads (prior, reference) that test-time training relies on."""

from typing import Dict, List

from torch import nn


class TwoHeadModel(nn.Module):
    """Base class. Subclasses create ``embedding`` and ``shared`` (the representation) and
    ``prior_head`` and ``reference_head``; ``parameter_groups`` splits by those names."""

    def __init__(self, elements: List[str], cutoff: float, hidden: int, num_basis: int,
                 shared_layers: int, head_layers: int) -> None:
        super().__init__()
        if shared_layers < 1 or head_layers < 0:
            raise ValueError("need shared_layers >= 1 and head_layers >= 0")
        self.elements = list(elements)
        self.cutoff = float(cutoff)
        self.num_layers = shared_layers + head_layers
        self.hparams: Dict[str, object] = dict(
            elements=self.elements, cutoff=self.cutoff, hidden=hidden, num_basis=num_basis,
            shared_layers=shared_layers, head_layers=head_layers)

    def parameter_groups(self) -> Dict[str, List[str]]:
        """Parameter names of the representation (TTT updates these) and of each head."""
        names = [n for n, _ in self.named_parameters()]
        return {
            "representation": [n for n in names if n.startswith(("embedding.", "shared."))],
            "prior_head": [n for n in names if n.startswith("prior_head.")],
            "reference_head": [n for n in names if n.startswith("reference_head.")],
        }
