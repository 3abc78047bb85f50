"""ASE calculator for exported mlff-ttt models (the Python side of every LAMMPS comparison).

Users import it as ``mlff_ttt.ase.MLFFCalculator``, a re-export kept for them; the package
itself imports it from here, so that none of its modules is named like the ase package."""

from __future__ import annotations

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from .forces import evaluate
from .graph import radius_graph
from .delta import DeltaPrior
from .model_calls import model_call_settings
from .model_file import DTYPES, load_model_file, metadata_of, reference_statistics_of
from .refine.rr import check_grid, select_radius
from .refine.ttt import TTTEngine, TTTSettings, default_prior, label_with_prior, resolve_prior


class MLFFCalculator(Calculator):
    """Energy, forces, per-atom energies and stress from an exported model file (a path, or
    the loaded TorchScript module).

    Units are ASE's: eV and Angstrom. ``stress`` is the Voigt 6-vector in eV/A^3, the
    negative virial over the volume; periodic cells only.

    Radius refinement: ``rr=True`` chooses the radius for every new structure with the
    paper's algorithm (``rr_method="dense"``, or ``"kernel"`` for the linear-scaling kernel)
    over ``rr_grid`` (default: every radius the model file has statistics for); the choice is
    in ``calc.rr_choice``. ``radius=r`` evaluates at a fixed radius instead (continuous
    energies and forces, for MD). Both need a model file with reference statistics.

    Test-time training: ``ttt=TTTSettings(...)`` (or a dict of its fields) adapts the
    representation to every new structure before predicting, starting each time from the
    file's parameters, with labels from ``prior`` (a prior spec, ``"morse:D=0.3429,a=1.3588,
    r0=2.77,cutoff=5.0"`` or ``{"name": "morse", "D": 0.3429, ...}``, see docs/priors.md; or a
    prior object; default: the model file's prior, else the structure's own
    PRIOR_energy/PRIOR_forces). The prior is made, and its parameters checked, here. To adapt once on a set of
    structures, use :func:`mlff_ttt.refine.ttt.adapt_model` and pass the adapted module here.

    A delta-learned model (its file's ``delta_prior``, docs/delta.md) predicts the reference
    minus its prior; the calculator adds that prior's energy, forces and, for priors that give
    a virial, stress, so that the results are the full potential's. Per-atom ``energies`` are
    then not given (priors give no per-atom split).

    The label-free error signal: ``prior_residual=True`` adds ``results["prior_residual"]``,
    per atom |F_prior head - F_prior| in eV/A (the prior as for TTT; after TTT's adaptation
    when ``ttt`` is given; at the trained cutoff), as LAMMPS's ``fix pair ... prior_residual``
    gives it (docs/ttt.md).
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress",
                              "prior_residual"]

    def __init__(self, model, rr: bool = False, rr_method: str = "dense",
                 rr_grid=None, radius=None, ttt=None, prior=None, prior_residual: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(model, torch.jit.ScriptModule):  # e.g. a module adapted by TTT
            self.model, self.metadata = model, metadata_of(model, "(the given module)")
        else:
            self.model = load_model_file(model)
            self.metadata = metadata_of(self.model, model)
        if self.metadata["units"] != "metal":
            raise ValueError(f"{model}: only models in metal units (eV, A) are supported")
        self.dtype = DTYPES[self.metadata["dtype"]]
        self.elements = list(self.metadata["elements"])
        self.cutoff = float(self.metadata["cutoff"])
        self.rr, self.rr_method, self.rr_grid = bool(rr), rr_method, rr_grid
        self.rr_choice = None
        self.radius = None if radius is None else check_grid([radius], self.cutoff)[0]
        if rr or radius is not None:
            self.rr_statistics = reference_statistics_of(self.metadata)
        if rr and radius is not None:
            raise ValueError("give either rr=True or a fixed radius, not both")
        # per-structure TTT: every new structure is adapted to from the original parameters
        self.ttt_engine, self.ttt_record = None, None
        if ttt is not None or prior_residual:
            self.ttt_prior = resolve_prior(prior if prior is not None
                                           else default_prior(self.metadata))
        if ttt is not None:
            settings = ttt if isinstance(ttt, TTTSettings) else TTTSettings(**dict(ttt))
            self.ttt_engine = TTTEngine(self.model, settings)
            self.ttt_original = self.ttt_engine.state()
        self.delta = (DeltaPrior(self.metadata["delta_prior"])
                      if self.metadata.get("delta_prior") else None)
        self.residual_engine = None
        if prior_residual:
            self.residual_engine = self.ttt_engine or TTTEngine(self.model, TTTSettings())

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        # the structure with the prior's labels, made once for TTT and the error signal
        labelled = (label_with_prior([self.atoms], self.ttt_prior)
                    if self.ttt_engine is not None or self.residual_engine is not None else None)
        if self.ttt_engine is not None:
            self.ttt_engine.restore(self.ttt_original)
            self.ttt_record = self.ttt_engine.adapt(labelled)
        radius = self.radius
        if self.rr:
            self.rr_choice = select_radius(self.atoms, self.rr_statistics, self.rr_method,
                                           self.rr_grid)
            radius = self.rr_choice.radius
        graph = radius_graph(self.atoms, self.cutoff if radius is None else radius,
                             self.elements)
        n = len(self.atoms)
        model = self.model
        if radius is not None:  # the model's own switch cuts the graph smoothly at radius
            model = lambda s, e, v: self.model(s, e, v, radius)  # noqa: E731
        with model_call_settings():    # as the C++ runner calls it
            out = evaluate(model, torch.from_numpy(graph.species),
                           torch.from_numpy(graph.edge_index),
                           torch.from_numpy(graph.edge_vec).to(self.dtype), n)
        energy = float(out["energy"][0].detach())
        forces = out["forces"].detach().double().numpy()
        virial = out["virial"][0].detach().double().numpy() if self.atoms.pbc.all() else None
        self.results = {}
        if self.delta is None:
            self.results["energies"] = out["node_energy"].detach().double().numpy()
        else:  # the prior the model's energies are relative to
            prior_energy, prior_forces, prior_virial = self.delta.labels(
                self.atoms, virial=virial is not None)
            energy, forces = energy + prior_energy, forces + prior_forces
            virial = None if prior_virial is None or virial is None else virial + prior_virial
        self.results.update(energy=energy, free_energy=energy, forces=forces)
        if self.residual_engine is not None:
            self.results["prior_residual"] = self.residual_engine.prior_residuals(labelled)[0]
        if virial is not None:
            stress = -virial / self.atoms.get_volume()
            self.results["stress"] = np.array([stress[0, 0], stress[1, 1], stress[2, 2],
                                               stress[1, 2], stress[0, 2], stress[0, 1]])
