"""ASE calculator for exported mlff-ttt models (the Python side of every LAMMPS comparison)."""

from __future__ import annotations

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from .export import DTYPES, read_metadata
from .forces import evaluate
from .graph import radius_graph


class MLFFCalculator(Calculator):
    """Energy, forces, per-atom energies and stress from an exported model file.

    Units are ASE's: eV and Angstrom. ``stress`` is the Voigt 6-vector in eV/A^3, the
    negative virial over the volume; periodic cells only.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model_path: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.metadata = read_metadata(model_path)
        if self.metadata["units"] != "metal":
            raise ValueError(f"{model_path}: only models in metal units (eV, A) are supported")
        self.model = torch.jit.load(str(model_path), map_location="cpu")
        self.dtype = DTYPES[self.metadata["dtype"]]
        self.elements = list(self.metadata["elements"])
        self.cutoff = float(self.metadata["cutoff"])

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        graph = radius_graph(self.atoms, self.cutoff, self.elements)
        n = len(self.atoms)
        out = evaluate(self.model, torch.from_numpy(graph.species),
                       torch.from_numpy(graph.edge_index),
                       torch.from_numpy(graph.edge_vec).to(self.dtype), n)
        energy = float(out["energy"][0].detach())
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "energies": out["node_energy"].detach().double().numpy(),
            "forces": out["forces"].detach().double().numpy(),
        }
        if self.atoms.pbc.all():
            virial = out["virial"][0].detach().double().numpy()
            stress = -virial / self.atoms.get_volume()
            self.results["stress"] = np.array([stress[0, 0], stress[1, 1], stress[2, 2],
                                               stress[1, 2], stress[0, 2], stress[0, 1]])
