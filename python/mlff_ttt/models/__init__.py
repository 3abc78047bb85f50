"""Model architectures. Each splits into a shared representation and two heads."""

from .painn import PaiNN
from .schnet import SchNet

ARCHITECTURES = {"schnet": SchNet, "painn": PaiNN}


def build_model(architecture: str, **kwargs):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](**kwargs)
