"""Model architectures. Each splits into a shared representation and two heads."""

from .painn import PaiNN
from .schnet import SchNet

ARCHITECTURES = {"schnet": SchNet, "painn": PaiNN}


def architecture_class(architecture: str):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[architecture]


def build_model(architecture: str, **kwargs):
    return architecture_class(architecture)(**kwargs)
