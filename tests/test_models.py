"""Symmetries, forces, export and head separation of every architecture, on small random models."""

import ase
import ase.build
import numpy as np
import pytest
import torch

from mlff_ttt import _core
from mlff_ttt.calculator import MLFFCalculator
from mlff_ttt.export import export_checkpoint
from mlff_ttt.forces import evaluate
from mlff_ttt.graph import radius_graph
from mlff_ttt.models import build_model

# every architecture, PaiNN also with its one block option, and SchNet with a core repulsion
# acting on every bond of a silicon crystal (2.35 A)
VARIANTS = {"schnet": ("schnet", {}), "painn": ("painn", {}),
            "painn_bounded": ("painn", {"bounded_invariants": True}),
            "schnet_core": ("schnet", {"core_repulsion": {"switch_width": 0.5,
                                                          "onset": [[2.6]]}})}
ARCHITECTURES = list(VARIANTS)
CUTOFF = 4.0


def build_variant(variant: str, **kwargs):
    architecture, options = VARIANTS[variant]
    return build_model(architecture, elements=["Si"], cutoff=CUTOFF, **kwargs, **options)


def make_model(architecture: str, seed: int = 0):
    """Small float64 model with seeded weights and different, non-trivial head offsets."""
    torch.manual_seed(seed)
    model = build_variant(architecture, hidden=16, num_basis=8,
                          shared_layers=1, head_layers=1).double().eval()
    with torch.no_grad():
        model.reference_head.shift.fill_(-5.0)
        model.reference_head.scale.fill_(2.0)
        model.prior_head.shift.fill_(-4.0)
        model.prior_head.scale.fill_(0.5)
    return model


def crystal():
    """Rattled 2x1x1 cubic diamond cell (16 atoms)."""
    atoms = ase.build.bulk("Si", "diamond", a=5.43, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.1, seed=1)
    return atoms


def cluster():
    """Non-periodic 6-atom Si cluster (a piece of the diamond cell, rattled)."""
    atoms = ase.build.bulk("Si", "diamond", a=5.43, cubic=True)[:6]
    atoms.pbc = False
    atoms.rattle(0.1, seed=2)
    return atoms


STRUCTURES = {"crystal": crystal, "cluster": cluster}


@pytest.fixture(scope="module", params=ARCHITECTURES)
def model(request):
    return make_model(request.param)


@pytest.fixture(params=sorted(STRUCTURES))
def atoms(request):
    return STRUCTURES[request.param]()


def graph_tensors(atoms):
    graph = radius_graph(atoms, CUTOFF, ["Si"])
    return (torch.from_numpy(graph.species), torch.from_numpy(graph.edge_index),
            torch.from_numpy(graph.edge_vec))


def compute(energy_fn, atoms):
    """Total energy, per-atom energies and forces as numpy."""
    out = evaluate(energy_fn, *graph_tensors(atoms), len(atoms))
    return (float(out["energy"][0].detach()), out["node_energy"].detach().numpy(),
            out["forces"].detach().numpy())


def random_rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_rotation(model, atoms):
    energy, _, forces = compute(model, atoms)
    rot = random_rotation(3)
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ rot.T
    rotated.cell = atoms.cell.array @ rot.T
    energy_r, _, forces_r = compute(model, rotated)
    assert energy_r == pytest.approx(energy, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(forces_r, forces @ rot.T, atol=1e-10)
    assert np.abs(forces).max() > 1e-3  # not trivially zero


def test_translation(model, atoms):
    energy, node_energy, forces = compute(model, atoms)
    moved = atoms.copy()
    moved.positions += np.array([0.7, -1.3, 2.1])
    energy_t, node_energy_t, forces_t = compute(model, moved)
    assert energy_t == pytest.approx(energy, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(node_energy_t, node_energy, atol=1e-10)
    np.testing.assert_allclose(forces_t, forces, atol=1e-10)


def test_permutation(model, atoms):
    energy, node_energy, forces = compute(model, atoms)
    perm = np.random.default_rng(4).permutation(len(atoms))
    energy_p, node_energy_p, forces_p = compute(model, atoms[perm])
    assert energy_p == pytest.approx(energy, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(node_energy_p, node_energy[perm], atol=1e-10)
    np.testing.assert_allclose(forces_p, forces[perm], atol=1e-10)


def test_forces_are_finite_differences(model, atoms):
    _, _, forces = compute(model, atoms)
    h = 1e-5
    for atom, axis in [(0, 0), (1, 2), (len(atoms) - 1, 1)]:
        energies = []
        for sign in (1, -1):
            displaced = atoms.copy()
            displaced.positions[atom, axis] += sign * h
            energies.append(compute(model, displaced)[0])
        assert -(energies[0] - energies[1]) / (2 * h) == pytest.approx(
            forces[atom, axis], abs=1e-6)


def test_force_training_gradients_are_finite(model):
    """Loss on forces needs second derivatives; in a perfect crystal the vector features of an
    equivariant model stay zero by symmetry, where an unguarded norm would give NaN."""
    perfect = ase.build.bulk("Si", "diamond", a=5.43, cubic=True)
    lone = ase.Atoms("Si", positions=[[0.0, 0.0, 0.0]])  # no neighbours at all
    for structure in (perfect, crystal(), lone):
        out = evaluate(model, *graph_tensors(structure), len(structure), create_graph=True)
        loss = out["energy"].sum() + (out["forces"] ** 2).sum()
        params = [p for n, p in model.named_parameters() if not n.startswith("prior_head.")]
        for grad in torch.autograd.grad(loss, params):
            assert torch.isfinite(grad).all()


def test_export_round_trip(model, atoms, tmp_path):
    ckpt = tmp_path / "model.ckpt"
    torch.save({"architecture": model.architecture, "hparams": model.hparams,
                "model_state": model.state_dict(),
                "parameter_groups": model.parameter_groups(), "config": {}}, ckpt)
    path = tmp_path / "model.pt"
    metadata = export_checkpoint(ckpt, path)
    assert metadata["architecture"] == model.architecture
    assert metadata["receptive_field"] == CUTOFF * 2
    energy, _, forces = compute(model, atoms)
    scale_f = np.abs(forces).max()

    runner = _core.ModelRunner(str(path))
    assert runner.num_layers == 2
    graph = radius_graph(atoms, runner.cutoff, runner.elements)
    core = runner.compute(graph.species, graph.edge_index, graph.edge_vec)
    assert core["energy"] == pytest.approx(energy, rel=1e-10)
    np.testing.assert_allclose(core["forces"], forces, atol=1e-10 * scale_f)

    atoms.calc = MLFFCalculator(str(path))
    assert atoms.get_potential_energy() == pytest.approx(energy, rel=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), forces, atol=1e-10 * scale_f)

    # the exported prior head is the model's prior head
    scripted = torch.jit.load(str(path))
    prior, _, _ = compute(scripted.prior_energies, atoms)
    assert prior == pytest.approx(compute(model.prior_energies, atoms)[0], rel=1e-10)


def test_heads(model):
    atoms = crystal()
    tensors = graph_tensors(atoms)
    groups = model.parameter_groups()
    names = [n for n, _ in model.named_parameters()]
    assert sorted(sum(groups.values(), [])) == sorted(names)  # each parameter in one group
    assert all(groups.values())

    reference, prior = model.both_energies(*tensors)
    torch.testing.assert_close(reference, model(*tensors))
    torch.testing.assert_close(prior, model.prior_energies(*tensors))
    assert not torch.allclose(reference, prior)

    params = dict(model.named_parameters())

    def grads(energies, group):
        return torch.autograd.grad(energies.sum(), [params[n] for n in groups[group]],
                                   retain_graph=True, allow_unused=True)

    # test-time training: the prior energy reaches every representation parameter ...
    for name, grad in zip(groups["representation"], grads(prior, "representation")):
        assert grad is not None and grad.abs().max() > 0, name
    # ... and never the reference head (nor the reference energy the prior head)
    assert all(g is None for g in grads(prior, "reference_head"))
    assert all(g is None for g in grads(reference, "prior_head"))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_per_layer_edges_leave_owned_energies_unchanged(architecture):
    """A subdomain's graph: the first atoms of a cluster are 'owned'; edges sorted by their
    centre's hop distance from them, each layer restricted to the edges it needs (what the C++
    graph builder hands a format-3 model) gives the owned atoms' energies of the full graph."""
    torch.manual_seed(3)
    model = build_variant(architecture, hidden=16, num_basis=8,
                          shared_layers=2, head_layers=1).double().eval()
    atoms = ase.build.bulk("Si", "diamond", a=5.43, cubic=True).repeat((3, 1, 1))
    atoms.rattle(0.1, seed=2)
    atoms.pbc = False
    graph = radius_graph(atoms, CUTOFF, ["Si"])
    species = torch.from_numpy(graph.species)
    edge_index = torch.from_numpy(graph.edge_index)
    edge_vec = torch.from_numpy(graph.edge_vec)
    owned, layers = 8, model.num_layers
    hops = np.full(len(atoms), layers)
    hops[:owned] = 0
    for depth in range(layers - 1):
        for c, n in graph.edge_index.T:
            if hops[c] == depth and hops[n] > depth + 1:
                hops[n] = depth + 1
    keep = np.flatnonzero(hops[graph.edge_index[0]] < layers)
    order = keep[np.argsort(hops[graph.edge_index[0, keep]], kind="stable")]
    counts = [int((hops[graph.edge_index[0, order]] <= layers - 1 - layer).sum())
              for layer in range(layers)]
    assert counts[0] > counts[-1]  # the restriction does cut work
    full = model(species, edge_index, edge_vec)[:owned]
    layered = model(species, edge_index[:, order], edge_vec[order], None, counts)[:owned]
    assert torch.allclose(layered, full, rtol=0, atol=1e-12)
    scripted = torch.jit.script(model)
    assert torch.allclose(scripted(species, edge_index[:, order], edge_vec[order], None, counts)
                          [:owned], full, rtol=0, atol=1e-12)


def test_painn_message_equals_its_formula():
    """PaiNN's message block is written for memory traffic (the envelope folded into the filter
    product, a, b, c as separate per-edge tensors, the b-rows skipped while the vectors are
    zero, dv one Cartesian component at a time): it equals the plain formula
    ds_i = sum_j a_ij, dv_i = sum_j (b_ij v_j + c_ij u_ij), (a, b, c) = MLP(s_j) W(r_ij) env(r_ij),
    with zero vectors passed as None and as zeros, and with non-zero ones; and so do its
    gradients (forces and training go through them)."""
    from mlff_ttt.models.painn import Message

    torch.manual_seed(4)
    hidden, num_basis = 6, 5
    message = Message(hidden, num_basis).double()
    atoms = crystal()
    species, edge_index, edge_vec = graph_tensors(atoms)
    r = torch.linalg.norm(edge_vec, dim=-1)
    unit = (edge_vec / r.unsqueeze(-1)).requires_grad_()
    basis = torch.rand(r.shape[0], num_basis, dtype=torch.float64, requires_grad=True)
    envelope = torch.rand(r.shape[0], dtype=torch.float64, requires_grad=True)
    s = torch.randn(len(atoms), hidden, dtype=torch.float64, requires_grad=True)
    centre, neighbour = edge_index

    def summed(values):
        # an accumulating index_put: a different primitive from the block's index_add
        out = torch.zeros((len(atoms),) + values.shape[1:], dtype=values.dtype)
        return out.index_put((centre,), values, accumulate=True)

    def formula(v):
        x = message.context(s)[neighbour] * message.filter(basis) * envelope.unsqueeze(-1)
        a, b, c = torch.chunk(x, 3, dim=-1)
        dv = b.unsqueeze(1) * v[neighbour] + c.unsqueeze(1) * unit.unsqueeze(-1)
        return s + summed(a), v + summed(dv)

    zeros = torch.zeros(len(atoms), 3, hidden, dtype=torch.float64)
    vectors = torch.randn(len(atoms), 3, hidden, dtype=torch.float64, requires_grad=True)
    weights = (torch.randn(len(atoms), hidden, dtype=torch.float64),
               torch.randn(len(atoms), 3, hidden, dtype=torch.float64))
    for given, v in ((None, zeros), (zeros, zeros), (vectors, vectors)):
        expected = formula(v)
        got = message(s, given, edge_index, basis, envelope, unit)
        inputs = [s, unit, basis, envelope] + list(message.parameters())
        inputs += [vectors] if given is vectors else []
        grads = []
        for outputs in (expected, got):
            assert outputs[0].shape == s.shape and outputs[1].shape == zeros.shape
            loss = sum((w * o).sum() for w, o in zip(weights, outputs))
            grads.append(torch.autograd.grad(loss, inputs))
        for e, g in zip(expected, got):
            assert torch.allclose(g, e, rtol=0, atol=1e-12)
        for e, g in zip(*grads):
            assert torch.allclose(g, e, rtol=0, atol=1e-11)


def test_bounded_invariants_bound_the_scalar_update():
    """With bounded_invariants, PaiNN's update takes sat(x) = x / sqrt(1 + x^2) of its two
    invariants: the same block with vectors 1e4 times larger moves the scalars by no more than
    |b| + |c| of the gates, and near zero it is the unbounded update to second order; the
    unbounded block's update grows with the square of the vectors."""
    from mlff_ttt.models.painn import Update

    torch.manual_seed(6)
    hidden = 6
    bounded, plain = Update(hidden, bounded_invariants=True).double(), Update(hidden).double()
    plain.load_state_dict(bounded.state_dict())
    s = torch.randn(5, hidden, dtype=torch.float64)
    v = torch.randn(5, 3, hidden, dtype=torch.float64)
    for scale in (1.0, 1e2, 1e4):
        ds = bounded(s, scale * v)[0] - s
        with torch.no_grad():
            vv = bounded.mix_v(scale * v)
            norm = torch.sqrt((vv * vv).sum(dim=1) + bounded.eps)
            gates = bounded.gates(torch.cat([s, norm / torch.sqrt(1 + norm ** 2)], dim=-1))
            _, b, c = torch.chunk(gates, 3, dim=-1)
        assert bool((ds.abs() <= b.abs() + c.abs() + 1e-12).all())
    with torch.no_grad():
        grown = [float((plain(s, scale * v)[0] - s).abs().max()) for scale in (1e2, 1e4)]
    assert grown[1] > 1e3 * grown[0]
    tiny = 1e-4 * v
    assert torch.allclose(bounded(s, tiny)[0], plain(s, tiny)[0], rtol=0, atol=1e-7)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_layer_by_layer_with_exchanged_ghosts_equals_the_model(architecture):
    """The layer-by-layer methods a domain-decomposed caller uses (initial_features,
    edge_terms, layer_features, features_energies, plus the core repulsion's per-atom
    energies from the owned atoms' edges): a periodic crystal whose edges point, half
    of them, at ghost copies of their atoms instead of the atoms, the ghosts' features copied
    from their owners after every layer (what the pair style's forward communication does),
    gives the model's energies, and its edge gradients (forces), in float64 and scripted."""
    torch.manual_seed(5)
    model = build_variant(architecture, hidden=16, num_basis=8,
                          shared_layers=2, head_layers=1).double().eval()
    atoms = crystal()
    species, edge_index, edge_vec = graph_tensors(atoms)
    n = len(atoms)
    # ghost node n + j is a copy of atom j; half the edges (at random) point at the copy
    to_ghost = torch.rand(edge_index.shape[1]) < 0.5
    ghost_index = edge_index.clone()
    ghost_index[1, to_ghost] += n
    ghost_species = torch.cat([species, species])
    owner = torch.arange(n)

    def plain(vectors):
        return model(species, edge_index, vectors).sum()

    def by_layer(m, vectors):
        terms = m.edge_terms(vectors, None)
        features = m.initial_features(ghost_species)
        for layer in range(model.num_layers):
            owned = m.layer_features(layer, features, ghost_index, terms, n)
            features = torch.cat([owned, owned[owner]])  # the exchange: owners' rows to ghosts
        core = m.core(ghost_species, ghost_index, vectors, n)
        return (m.features_energies(features[:n], species) + core).sum()

    assert model.exchange_width() == (16 if architecture.startswith("schnet") else 64)
    expected_vectors = edge_vec.clone().requires_grad_()
    expected = plain(expected_vectors)
    expected_grad, = torch.autograd.grad(expected, expected_vectors)
    for m in (model, torch.jit.script(model)):
        vectors = edge_vec.clone().requires_grad_()
        got = by_layer(m, vectors)
        grad, = torch.autograd.grad(got, vectors)
        assert abs(float((got - expected).detach())) < 1e-10
        assert torch.allclose(grad, expected_grad, rtol=0, atol=1e-10)
