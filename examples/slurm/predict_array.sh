#!/bin/bash
# Segment a list of FITS images with `radio-unet predict`, shared among the tasks of a SLURM job array.
#
#   ls /data/lotss/*.fits > images.txt
#   mkdir -p logs && sbatch --array=0-9 examples/slurm/predict_array.sh images.txt results/
#
# IMAGE_LIST holds one FITS path per line (blank lines and lines starting with # are ignored). Task k of
# an array of N tasks takes lines k, k + N, k + 2N, ... and writes into OUT_DIR what `radio-unet predict`
# writes. predict skips images whose outputs exist, so submitting the same array again after a time-out
# or a failed node resumes where it stopped. A task whose images failed exits with status 2.
#
# Environment: PREDICT_OPTIONS, more options for predict (e.g. "--model lotss-gated-v1 --tta");
# RADIO_UNET, the command to run (default: radio-unet on the PATH, e.g. of an activated venv).
#
#SBATCH --job-name=radio-unet-predict
#SBATCH --cpus-per-task=8
#SBATCH --mem=16G
#SBATCH --time=04:00:00
#SBATCH --output=logs/predict_%A_%a.out

set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: sbatch --array=0-N $0 IMAGE_LIST OUT_DIR" >&2
    exit 2
fi
image_list=$1
out_dir=$2

# The task's place in the array, whatever its numbering (--array=1-10, --array=0-99:3, --array=0-99%20).
task_id=${SLURM_ARRAY_TASK_ID:?not in a job array: submit with sbatch --array}
task_count=${SLURM_ARRAY_TASK_COUNT:?not in a job array: submit with sbatch --array}
task_index=$(( (task_id - ${SLURM_ARRAY_TASK_MIN:-0}) / ${SLURM_ARRAY_TASK_STEP:-1} ))

mapfile -t images < <(awk -v count="$task_count" -v task="$task_index" \
    'NF && $1 !~ /^#/ { if (n++ % count == task) print }' "$image_list")
echo "task $task_index of $task_count: ${#images[@]} image(s) of $image_list"
if [[ ${#images[@]} -eq 0 ]]; then
    exit 0
fi

# PyTorch would otherwise start a thread per core of the node, not per core given to the task.
if [[ -n ${SLURM_CPUS_PER_TASK:-} ]]; then
    export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK
fi

# PREDICT_OPTIONS is split into words on purpose: it holds several options.
# shellcheck disable=SC2086
"${RADIO_UNET:-radio-unet}" predict "${images[@]}" --out "$out_dir" --no-progress ${PREDICT_OPTIONS:-}
