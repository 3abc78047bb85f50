"""What every architecture shares: the hyper-parameters record and the parameter split into
a shared representation and two heads (prior, reference) that test-time training relies on."""

from typing import Dict, List, Optional

from torch import nn

from .core_repulsion import CoreRepulsion
from .layers import CosineEnvelope


class TwoHeadModel(nn.Module):
    """Base class: the hyper-parameters, and the modules every architecture has. A subclass
    names its ``architecture`` and its ``layer_types``: the radial basis class (called with
    cutoff, num_basis), the message-passing block class (hidden, num_basis) and the energy
    head class (hidden, num_basis, num_layers, num_elements). The representation is
    ``embedding`` and ``shared``; ``parameter_groups`` splits by those names and the heads'.
    ``block_options`` are keyword options of the architecture's blocks (its
    ``block_option_names``), passed to every block of the representation and of both heads and
    recorded in ``hparams`` (only when given, so files made before an option existed rebuild
    the same model). ``core_repulsion`` (keyword arguments of
    :class:`~mlff_ttt.models.core_repulsion.CoreRepulsion`, recorded the same way) adds a
    repulsive core to the reference energies where the training data has no pairs."""

    architecture = ""
    layer_types = ()
    block_option_names: tuple = ()

    def __init__(self, elements: List[str], cutoff: float = 5.0, hidden: int = 64,
                 num_basis: int = 32, shared_layers: int = 1, head_layers: int = 1,
                 core_repulsion: Optional[Dict[str, object]] = None, **block_options) -> None:
        super().__init__()
        if shared_layers < 1 or head_layers < 0:
            raise ValueError("need shared_layers >= 1 and head_layers >= 0")
        self.check_block_options(block_options)
        self.elements = list(elements)
        self.cutoff = float(cutoff)
        self.num_layers = shared_layers + head_layers
        self.hparams: Dict[str, object] = dict(
            elements=self.elements, cutoff=self.cutoff, hidden=hidden, num_basis=num_basis,
            shared_layers=shared_layers, head_layers=head_layers, **block_options)
        if core_repulsion is not None:
            self.hparams["core_repulsion"] = dict(core_repulsion)
        basis, block, head = self.layer_types
        # Created in this order, which seeded initial weights and the parameter order (model
        # files' ttt_parameters, optimizer states) depend on: the shared representation, then
        # the two heads.
        self.embedding = nn.Embedding(len(elements), hidden)
        self.basis = basis(cutoff, num_basis)
        self.envelope = CosineEnvelope(self.cutoff)
        self.shared = nn.ModuleList([block(hidden, num_basis, **block_options)
                                     for _ in range(shared_layers)])
        self.prior_head = head(hidden, num_basis, head_layers, len(elements), **block_options)
        self.reference_head = head(hidden, num_basis, head_layers, len(elements),
                                   **block_options)
        self.core = CoreRepulsion(elements, **(core_repulsion or {}))

    @classmethod
    def check_block_options(cls, options) -> None:
        """An option the architecture's blocks do not take is an error naming the ones they do."""
        unknown = sorted(set(options) - set(cls.block_option_names))
        if unknown:
            raise ValueError(f"architecture {cls.architecture!r} has no option(s) {unknown}; "
                             f"its options: {list(cls.block_option_names) or 'none'}")

    def parameter_groups(self) -> Dict[str, List[str]]:
        """Parameter names of the representation (TTT updates these) and of each head."""
        names = [n for n, _ in self.named_parameters()]
        return {
            "representation": [n for n in names if n.startswith(("embedding.", "shared."))],
            "prior_head": [n for n in names if n.startswith("prior_head.")],
            "reference_head": [n for n in names if n.startswith("reference_head.")],
        }
