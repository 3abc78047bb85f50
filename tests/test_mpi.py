"""Domain decomposition: 1, 2 and 4 MPI ranks give the same energies and forces.

The 10.9 A box split over 2 or 4 ranks gives subdomains 5.4 A wide, far less than twice the
model's 8 A receptive field, so ghost atoms several layers deep carry the result."""

import re

import numpy as np
import pytest

from helpers import EXAMPLE_MODEL, printed_value, read_dump_forces, run_lmp, silicon, write_data

# every test here runs lmp on 2 or 4 ranks (and once on 1, to compare)
pytestmark = [pytest.mark.lammps, pytest.mark.mpi]

DECK = """
units metal
atom_style atomic
atom_modify map array
read_data si.data
pair_style mlff_ttt
pair_coeff * * {model} Si
run 0
print "ENERGY0 $(pe:%.17g)"
write_dump all custom forces0.dump id fx fy fz modify sort id format float %.17g
velocity all create 800 4928459 mom yes rot yes dist gaussian
fix nve all nve
run 20
print "ENERGY20 $(pe:%.17g)"
write_dump all custom forces20.dump id fx fy fz modify sort id format float %.17g
"""


def run_ranks(model_file, workdir, nprocs):
    workdir.mkdir()
    write_data(silicon(), workdir / "si.data")
    proc = run_lmp(DECK.format(model=model_file), workdir, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"with {nprocs} MPI tasks" in proc.stdout
    grid = re.search(r"(\d+) by (\d+) by (\d+) MPI processor grid", proc.stdout)
    assert np.prod([int(g) for g in grid.groups()]) == nprocs
    return {
        "energy0": printed_value(proc.stdout, "ENERGY0"),
        "energy20": printed_value(proc.stdout, "ENERGY20"),
        "forces0": read_dump_forces(workdir / "forces0.dump"),
        "forces20": read_dump_forces(workdir / "forces20.dump"),
        "stdout": proc.stdout,
    }


def assert_same(parallel, serial):
    for key in ("energy0", "energy20"):
        assert parallel[key] == pytest.approx(serial[key], rel=1e-8)
    for key in ("forces0", "forces20"):
        scale = np.abs(serial[key]).max()
        np.testing.assert_allclose(parallel[key], serial[key], atol=1e-8 * scale, rtol=0)


@pytest.fixture(scope="module")
def serial(model_file, tmp_path_factory):
    return run_ranks(model_file, tmp_path_factory.mktemp("np1") / "run", 1)


@pytest.mark.parametrize("nprocs", [2, 4])
def test_ranks_agree(model_file, serial, tmp_path, nprocs):
    parallel = run_ranks(model_file, tmp_path / "run", nprocs)
    assert_same(parallel, serial)


def test_ranks_agree_for_painn(tmp_path):
    """The equivariant model's vector features cross subdomains through the same ghost shell."""
    model = EXAMPLE_MODEL.parent / "si_painn.pt"
    serial = run_ranks(model, tmp_path / "np1", 1)
    parallel = run_ranks(model, tmp_path / "np2", 2)
    assert_same(parallel, serial)


WORK_DECK = """
processors {grid}
{box}
displace_atoms all move 0.1 0.1 0.1 units box
pair_style mlff_ttt monitor off
pair_coeff * * {model} Si
compute work all pair mlff_ttt
thermo_style custom step c_work[14] c_work[15]
run 0
"""


def expected_work(cells: int, slabs: int, cutoff: float, layers: int):
    """Nodes and edge evaluations of all ranks for a diamond crystal cut into `slabs` equal
    slabs along x, one per rank, from the crystal's own neighbour graph. On a rank the images
    of its owned atoms are those atoms (folded), while each periodic image of another rank's
    atom is a ghost of its own; the nodes are the atoms within `layers` hops of the owned ones,
    and layer l evaluates the edges of the atoms within layers-1-l hops."""
    import ase.build
    from ase.neighborlist import neighbor_list

    atoms = ase.build.bulk("Si", "diamond", a=5.431, cubic=True).repeat(cells)
    atoms.positions += 0.1
    atoms.wrap()
    i, j, shifts = neighbor_list("ijS", atoms, cutoff)
    neighbours = [[] for _ in atoms]
    for a, b, shift in zip(i, j, map(tuple, shifts)):
        neighbours[a].append((b, shift))
    slab = (atoms.positions[:, 0] // (atoms.cell[0, 0] / slabs)).astype(int)
    nodes = edges = 0
    for rank in range(slabs):
        def node(atom, image):   # an owned atom's images are the atom itself
            return (atom, (0, 0, 0)) if slab[atom] == rank else (atom, image)

        hops = {(a, (0, 0, 0)): 0 for a in np.flatnonzero(slab == rank)}
        frontier = list(hops)
        for depth in range(1, layers + 1):
            reached = []
            for atom, image in frontier:
                for b, shift in neighbours[atom]:
                    key = node(b, tuple(np.add(image, shift)))
                    if key not in hops:
                        hops[key] = depth
                        reached.append(key)
            frontier = reached
        nodes += len(hops)
        edges += sum(len(neighbours[atom]) for layer in range(layers)
                     for (atom, _), hop in hops.items() if hop <= layers - 1 - layer)
    return nodes, edges


@pytest.mark.parametrize("nprocs, exchange", [(1, "yes"), (2, "no"), (2, "yes"), (2, "auto")])
def test_work_counts_are_the_graphs(tmp_path, nprocs, exchange):
    """`compute pair mlff_ttt` entries 14-15 (tests/benchmarks/bench_rank_work.py's redundancy
    table) are the graph nodes and the per-layer edges of all ranks: one rank evaluates each
    atom once; two ranks with `exchange no` also their ghosts as deep as the pruned receptive
    field (here 1.2x the edges), and with the features exchanged between layers each atom once
    again; `auto` (the default) exchanges here, where the ghosts would add more than 5%."""
    from helpers import silicon_box
    from mlff_ttt.model_file import read_metadata

    model = EXAMPLE_MODEL.parent / "si_schnet.pt"
    meta = read_metadata(model)
    layers = meta["hparams"]["shared_layers"] + meta["hparams"]["head_layers"]
    grid = "2 1 1" if nprocs == 2 else "1 1 1"
    deck = WORK_DECK.format(box=silicon_box(8), grid=grid, model=model)
    deck = deck.replace("monitor off", f"monitor off exchange {exchange}")
    proc = run_lmp(deck, tmp_path, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-3000:]
    row = re.search(r"^\s*Step\s+c_work\[14\]\s+c_work\[15\]\s*\n\s*0\s+(\S+)\s+(\S+)",
                    proc.stdout, re.M)
    got = (float(row.group(1)), float(row.group(2)))
    if exchange == "no":
        assert got == expected_work(8, nprocs, meta["cutoff"], layers)
        assert got[1] > 1.1 * 4096 * 16 * layers
    else:
        assert got == (4096, 4096 * 16 * layers)    # 16 neighbours within 4.5 A


# si.data with the model, features exchanged between layers or not
EXCHANGE_HEAD = """
units metal
atom_style atomic
atom_modify map array
read_data si.data
pair_style mlff_ttt monitor off exchange {exchange}
pair_coeff * * {model} Si
"""

EXCHANGE_DECK = EXCHANGE_HEAD + """compute pe_atom all pe/atom
compute stress_atom all stress/atom NULL
compute stress_sum all reduce sum c_stress_atom[1] c_stress_atom[2] c_stress_atom[3] &
    c_stress_atom[4] c_stress_atom[5] c_stress_atom[6]
thermo_style custom step pe press pxx pyy pzz pxy pxz pyz c_stress_sum[1] c_stress_sum[4]
thermo_modify format float %.17g
velocity all create 800 4928459 mom yes rot yes dist gaussian
fix nve all nve
run 10
write_dump all custom atoms.dump id fx fy fz c_pe_atom modify sort id format float %.17g
"""


@pytest.mark.parametrize("model", ["si_schnet.pt", "si_painn.pt", "si_painn12_bounded_f32.pt"])
def test_exchanged_layers_equal_deep_ghosts(tmp_path, model):
    """On 2 ranks, features exchanged between layers (the default) give what ghosts as deep as
    the receptive field give (`exchange no`), through 10 MD steps: energy, pressure tensor,
    per-atom energies and virials, forces; float64 models to 1e-10, the float32 model to its
    own rounding."""
    from helpers import thermo_rows

    results = {}
    for exchange in ("yes", "no"):
        workdir = tmp_path / exchange
        workdir.mkdir()
        write_data(silicon((3, 2, 2)), workdir / "si.data")
        proc = run_lmp(EXCHANGE_DECK.format(model=EXAMPLE_MODEL.parent / model,
                                            exchange=exchange), workdir, nprocs=2)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        dump = np.loadtxt(workdir / "atoms.dump", skiprows=9)
        results[exchange] = (thermo_rows(proc.stdout), dump)
    tolerance = 1e-5 if model.endswith("_f32.pt") else 1e-10
    (thermo, dump), (deep_thermo, deep_dump) = results["yes"], results["no"]
    assert thermo.shape == deep_thermo.shape and len(thermo) == 2
    for column in range(1, thermo.shape[1]):    # pe, pressures, the summed atom stresses
        a, b = thermo[:, column], deep_thermo[:, column]
        np.testing.assert_allclose(a, b, rtol=0, atol=tolerance * max(np.abs(b).max(), 1.0))
    np.testing.assert_array_equal(dump[:, 0], deep_dump[:, 0])
    for columns in (slice(1, 4), slice(4, 5)):
        a, b = dump[:, columns], deep_dump[:, columns]
        np.testing.assert_allclose(a, b, rtol=0, atol=tolerance * np.abs(b).max())


def without_layer_methods(path, out):
    """A copy of a model file as files were before the layer-by-layer methods: the same module,
    attributes and weights, with forward and prior_energies only."""
    from typing import List, Optional

    import torch

    from mlff_ttt.export import ExportedModel
    from mlff_ttt.model_file import stamp_checksum

    loaded = torch.jit.load(str(path))

    class Legacy(torch.nn.Module):
        __annotations__ = dict(ExportedModel.__annotations__)

        def __init__(self):
            super().__init__()
            self.model = loaded.model
            for name in ExportedModel.__annotations__:
                setattr(self, name, getattr(loaded, name))

        def forward(self, species: torch.Tensor, edge_index: torch.Tensor,
                    edge_vec: torch.Tensor, radius: Optional[float] = None,
                    layer_edges: Optional[List[int]] = None) -> torch.Tensor:
            return self.model(species, edge_index, edge_vec, radius, layer_edges)

        @torch.jit.export
        def prior_energies(self, species: torch.Tensor, edge_index: torch.Tensor,
                           edge_vec: torch.Tensor, radius: Optional[float] = None
                           ) -> torch.Tensor:
            return self.model.prior_energies(species, edge_index, edge_vec, radius)

    module = torch.jit.script(Legacy())
    stamp_checksum(module)
    module.save(str(out))
    return out


def test_files_without_layer_methods_run_deep_with_a_warning(tmp_path):
    """A model file exported before the layer-by-layer methods runs on 2 ranks the deep way
    (its work counts are those of `exchange no`), with a warning that says to re-export it, and
    gives the energy of the current file."""
    from helpers import silicon_box
    from mlff_ttt.model_file import read_metadata

    model = EXAMPLE_MODEL.parent / "si_schnet.pt"
    legacy = without_layer_methods(model, tmp_path / "legacy.pt")
    meta = read_metadata(model)
    layers = meta["hparams"]["shared_layers"] + meta["hparams"]["head_layers"]
    rows = {}
    for name, path in (("legacy", legacy), ("current", model)):
        folder = tmp_path / name
        folder.mkdir()
        deck = WORK_DECK.format(box=silicon_box(8), grid="2 1 1", model=path)
        deck = deck.replace("c_work[14] c_work[15]", "pe c_work[14] c_work[15]")
        proc = run_lmp(deck, folder, nprocs=2)
        assert proc.returncode == 0, proc.stdout[-3000:]
        row = re.search(r"^\s*Step\s+PotEng\s+c_work\[14\]\s+c_work\[15\]\s*\n\s*0\s+(\S+)\s+(\S+)"
                        r"\s+(\S+)", proc.stdout, re.M)
        rows[name] = tuple(float(v) for v in row.groups())
        warned = "was exported before the layer-by-layer methods" in proc.stdout
        assert warned == (name == "legacy"), proc.stdout[-3000:]
        if name == "legacy":
            assert "re-export it with mlff-ttt export" in proc.stdout
    assert rows["legacy"][1:] == expected_work(8, 2, meta["cutoff"], layers)
    assert rows["current"][1:] == (4096, 4096 * 16 * layers)
    assert rows["legacy"][0] == pytest.approx(rows["current"][0], rel=1e-10)


CORE_DECK = EXCHANGE_HEAD + """run 0
print "ENERGY0 $(pe:%.17g)"
write_dump all custom forces0.dump id fx fy fz modify sort id format float %.17g
"""


def test_core_repulsion_on_every_path(tmp_path):
    """A PaiNN with its core repulsion switched on over every bond of a rattled crystal (onset
    2.6 A, width 0.5): the pair style on 1 rank and on 2 ranks, with features exchanged between
    layers (the core added from the owned atoms' edges) and without (the model's forward),
    gives the calculator's energy and forces to 1e-10; the core term is several eV of it."""
    from helpers import make_model_file
    from mlff_ttt.calculator import MLFFCalculator

    atoms = silicon()
    core = {"switch_width": 0.5, "onset": [[2.6]]}
    cored = make_model_file(tmp_path / "cored.pt", architecture="painn", core_repulsion=core)
    plain = make_model_file(tmp_path / "plain.pt", architecture="painn")
    expected_energy = MLFFCalculator(cored).get_potential_energy(atoms)
    expected_forces = MLFFCalculator(cored).get_forces(atoms)
    assert expected_energy > MLFFCalculator(plain).get_potential_energy(atoms) + 5.0
    for nprocs, exchange in [(1, "auto"), (2, "yes"), (2, "no")]:
        workdir = tmp_path / f"{nprocs}_{exchange}"
        workdir.mkdir()
        write_data(atoms, workdir / "si.data")
        proc = run_lmp(CORE_DECK.format(model=cored, exchange=exchange), workdir, nprocs=nprocs)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        energy = printed_value(proc.stdout, "ENERGY0")
        assert energy == pytest.approx(expected_energy, rel=1e-10), (nprocs, exchange)
        forces = read_dump_forces(workdir / "forces0.dump")
        np.testing.assert_allclose(forces, expected_forces, rtol=0,
                                   atol=1e-10 * np.abs(expected_forces).max())
