#!/bin/bash
# Train a U-Net on several GPUs of one or more nodes: one torchrun per node, one process per GPU.
#
#   mkdir -p logs && sbatch examples/slurm/train_torchrun.sh configs/multisurvey.toml runs/multisurvey
#
# torchrun starts GPUS_PER_NODE processes on every node; `radio-unet train` sees WORLD_SIZE, RANK and
# LOCAL_RANK, joins the process group (NCCL on GPUs) and trains with DistributedDataParallel, each
# process on its share of every epoch. The batch size of the config is per process. A run that was
# stopped (time limit, failed node) resumes from its last checkpoint when the same job is submitted again.
#
# Environment: GPUS_PER_NODE (default: 4, as --gpus-per-node below); TRAIN_OPTIONS, more options for
# train (e.g. "--set training.epochs=40"); RDZV_PORT, the port of the rendezvous on the first node
# (default: 29500).
#
#SBATCH --job-name=radio-unet-train
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=32
#SBATCH --mem=64G
#SBATCH --time=12:00:00
#SBATCH --output=logs/train_%j.out

set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: sbatch $0 CONFIG OUT_DIR" >&2
    exit 2
fi
config=$1
out_dir=$2

first_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
gpus_per_node=${GPUS_PER_NODE:-4}
# Data-loading workers and the CPU side of each process share the task's cores.
cpus_per_process=$(( ${SLURM_CPUS_PER_TASK:-$gpus_per_node} / gpus_per_node ))
export OMP_NUM_THREADS=$(( cpus_per_process > 0 ? cpus_per_process : 1 ))

# TRAIN_OPTIONS is split into words on purpose: it holds several options.
# shellcheck disable=SC2086
srun torchrun \
    --nnodes "$SLURM_JOB_NUM_NODES" \
    --nproc_per_node "$gpus_per_node" \
    --rdzv_id "$SLURM_JOB_ID" \
    --rdzv_backend c10d \
    --rdzv_endpoint "$first_node:${RDZV_PORT:-29500}" \
    -m radiounet.cli train "$config" --out "$out_dir" ${TRAIN_OPTIONS:-}
