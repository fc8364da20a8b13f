#!/usr/bin/env bash
# A short GPU allocation in one prepared command (docs/training.md, "On a short GPU allocation"): the GPU speed
# figures of benchmarks/bench_predict.py, then a training run stopped before the allocation ends, packed with
# its last checkpoint so that it resumes anywhere (`radio-unet train` continues a run from its folder).
#
# With internet, once, where the GPU node has PyTorch but not these packages and cannot fetch them:
#   bash scripts/gpu_session.sh --fetch-wheels          # wheels for CPython 3.12 (WHEEL_PYTHON=3.11 for
#                                                       # another) into .whl/ (git-ignored)
# On the GPU node, from the repository root, with .whl beside:
#   bash scripts/gpu_session.sh CONFIG RUN_DIR MINUTES [--set SECTION.KEY=VALUE ...]
# Results go to $OUT (default ./gpu-session-out): gpu.txt, bench_gpu.txt, train.log and run.tar.part-* (the run
# folder with its last checkpoint, in parts of 15 MB). Back here: cat run.tar.part-* | tar -x
set -euo pipefail

WHEELS=(astropy pyerfa astropy-iers-data radio-beam regions)

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    mkdir -p .whl
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    "${PYTHON:-python3}" -m pip download --quiet --no-deps --only-binary=:all: \
        --python-version "${WHEEL_PYTHON:-3.12}" --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
    ls -l .whl
    exit 0
fi

if [[ $# -lt 3 ]]; then
    echo "usage: $0 --fetch-wheels | CONFIG RUN_DIR MINUTES [--set SECTION.KEY=VALUE ...]" >&2
    exit 2
fi
config=$1 run_dir=$2 minutes=$3
shift 3
out=${OUT:-gpu-session-out}
mkdir -p "$out"

if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
export PYTHONPATH="$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

{
    nvidia-smi || true
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} > "$out/gpu.txt" 2>&1
if python3 -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    timeout 240 python3 benchmarks/bench_predict.py --device cuda --threads "$(nproc)" --sizes 2000 10000 \
        --network-sizes 2000 --batch 20 > "$out/bench_gpu.txt" 2>&1 \
        || echo "bench_predict: exit $?" >> "$out/bench_gpu.txt"
fi

# The simulation of training fields runs on the CPU cores, beside the GPU.
workers=$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))
timeout "$(( minutes * 60 ))" python3 -m radiounet.cli train "$config" --out "$run_dir" --no-progress \
    --set training.workers="$workers" "$@" > "$out/train.log" 2>&1 || echo "train: exit $?" >> "$out/train.log"

if [[ -d "$run_dir" ]]; then
    tar -c -C "$(dirname "$run_dir")" "$(basename "$run_dir")" | split -b 15M - "$out/run.tar.part-"
fi
ls -l "$out"
