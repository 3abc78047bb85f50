"""Force-style reference checks in the manner of LAMMPS's unittest/force-styles: fixed
configurations, and for each shipped model the energy, per-atom energies, forces, global and
per-atom virial that `lmp` gives after `run 0`, stored in tests/reference/<model>.yaml.

    python tests/support/force_style.py      # regenerates the reference files (after a model changes)

tests/test_force_style.py checks the stored numbers after run 0, after rerun and after
write_restart / read_restart.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import yaml

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))  # run as a script: helpers is in tests/
ROOT = TESTS.parent
REFERENCE = TESTS / "reference"
MODELS = {  # model file -> its configurations
    "si_schnet.pt": ["crystal", "disordered"],
    "si_schnet_f32.pt": ["crystal", "disordered"],
    "si_painn.pt": ["crystal", "disordered"],
    "mol_schnet.pt": ["molecule"],
    "mol_painn.pt": ["molecule"],
    "md17_schnet.pt": ["molecule"],
}
DECK = """
units metal
atom_style atomic
atom_modify map array
newton on
boundary {boundary}
read_data {data}
pair_style mlff_ttt monitor off
pair_coeff * * {model} {elements}
compute peatom all pe/atom
compute satom all stress/atom NULL
thermo_style custom step pe pxx pyy pzz pxy pxz pyz vol
thermo_modify format float %.17g
dump d all custom 1 {dump} id type x y z fx fy fz c_peatom c_satom[*]
dump_modify d sort id format float %.17g
{run}
"""


def configuration(name: str) -> dict:
    """Positions, cell and element symbols of a fixed test configuration."""
    from ase.build import bulk
    from ase.io import read

    rng = np.random.RandomState(2024)
    if name in ("crystal", "disordered"):
        atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat((2, 2, 2))
        atoms.positions += rng.uniform(-1, 1, atoms.positions.shape) * (
            0.05 if name == "crystal" else 0.2)
        return {"symbols": atoms.get_chemical_symbols(), "positions": atoms.positions.tolist(),
                "cell": np.diag(atoms.cell.array).tolist(), "periodic": True,
                "elements": ["Si"]}
    molecule = read(ROOT / "examples" / "data" / "mol_test.xyz", index=3)
    positions = molecule.positions - molecule.positions.mean(0) + 10.0
    return {"symbols": molecule.get_chemical_symbols(), "positions": positions.tolist(),
            "cell": [20.0, 20.0, 20.0], "periodic": False, "elements": ["H", "C", "N", "O"]}


def write_data(config: dict, path: Path) -> None:
    types = {e: k + 1 for k, e in enumerate(config["elements"])}
    masses = {"H": 1.008, "C": 12.011, "N": 14.007, "O": 15.999, "Si": 28.0855}
    lines = ["mlff-ttt force-style configuration", "",
             f"{len(config['symbols'])} atoms", f"{len(types)} atom types", ""]
    lines += [f"0 {length!r} {axis}lo {axis}hi" for length, axis in zip(config["cell"], "xyz")]
    lines += ["", "Masses", ""] + [f"{t} {masses[e]}" for e, t in types.items()]
    lines += ["", "Atoms # atomic", ""]
    lines += [f"{k + 1} {types[s]} {x!r} {y!r} {z!r}"
              for k, (s, (x, y, z)) in enumerate(zip(config["symbols"], config["positions"]))]
    path.write_text("\n".join(lines) + "\n")


def deck(config: dict, model: Path, data: Path, dump: Path, run: str = "run 0") -> str:
    return DECK.format(boundary="p p p" if config["periodic"] else "f f f", data=data,
                       model=model, elements=" ".join(config["elements"]), dump=dump, run=run)


def read_dump(path: Path) -> dict:
    """The last frame of a dump written by DECK, sorted by atom ID."""
    lines = path.read_text().splitlines()
    start = max(k for k, line in enumerate(lines) if line.startswith("ITEM: ATOMS")) + 1
    data = np.array([[float(v) for v in line.split()] for line in lines[start:]])
    data = data[np.argsort(data[:, 0])]
    return {"forces": data[:, 5:8], "atom_energy": data[:, 8], "atom_virial": data[:, 9:15]}


def results(log: str, dump: Path) -> dict:
    from helpers import thermo_rows

    step, pe, pxx, pyy, pzz, pxy, pxz, pyz, vol = thermo_rows(log)[-1]
    return {"energy": pe, "pressure": [pxx, pyy, pzz, pxy, pxz, pyz], **read_dump(dump)}


def main() -> None:
    import tempfile

    from helpers import run_lmp

    REFERENCE.mkdir(exist_ok=True)
    for model, names in MODELS.items():
        record = {"model": model, "configurations": {}}
        for name in names:
            config = configuration(name)
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                write_data(config, tmp / "data.lmp")
                proc = run_lmp(deck(config, ROOT / "examples" / "models" / model,
                                    tmp / "data.lmp", tmp / "out.dump"), tmp)
                if proc.returncode != 0:
                    sys.exit(proc.stdout[-2000:])
                out = results((tmp / "log.lammps").read_text(), tmp / "out.dump")
            record["configurations"][name] = {
                **config, "energy": float(out["energy"]),
                "pressure": [float(p) for p in out["pressure"]],
                "forces": out["forces"].tolist(), "atom_energy": out["atom_energy"].tolist(),
                "atom_virial": out["atom_virial"].tolist()}
        path = REFERENCE / (Path(model).stem + ".yaml")
        path.write_text("# written by tests/support/force_style.py; lmp run 0, newton on, metal units\n"
                        + yaml.safe_dump(record, default_flow_style=None, width=100))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
