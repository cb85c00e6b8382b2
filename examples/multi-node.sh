#!/usr/bin/env bash
# Distributed SimCLR without Kubernetes: one rank per SLURM task, or one per machine you start it on by hand.
# The trainer gets the seed-compatible flags (--num-replicas --distributed-rank --distributed-master
# --distributed-port); rank 0 hosts the rendezvous store, the others connect to it with retry until a deadline.
#
#   SLURM:        sbatch examples/multi-node.sh --dataset fashion-mnist --batch-size 512 --epochs 100
#                 (the batch step re-runs this script under srun: one rank per task)
#   bare metal:   on every machine, RANK=<0..n-1> WORLD_SIZE=<n> MASTER_ADDR=<host of rank 0> \
#                   examples/multi-node.sh --dataset fashion-mnist --batch-size 512 --epochs 100
#
# Env: SIMCLR_HOME (the checkout; default the submit folder under SLURM, else this script's parent folder),
# MASTER_PORT (default 29301), RUN_UID (checkpoint folder name; default simclr-$SLURM_JOB_ID or simclr-run),
# MODEL_DIR (default ./models, on shared storage; rank 0 writes checkpoints there, a rerun resumes from the newest).
#SBATCH --job-name=simclr
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=8
#SBATCH --time=08:00:00
set -euo pipefail

# sbatch runs a spooled copy of this script on the first node, so the checkout is where the job was submitted from.
home=${SIMCLR_HOME:-${SLURM_SUBMIT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}}
# In the batch step: start one rank per task instead (srun passes the environment on, marker included).
if [[ -n "${SLURM_JOB_ID:-}" && -z "${SIMCLR_UNDER_SRUN:-}" ]]; then
  export SIMCLR_UNDER_SRUN=1
  exec srun --kill-on-bad-exit=1 bash "$home/examples/multi-node.sh" "$@"
fi

if [[ -n "${SLURM_PROCID:-}" ]]; then
  RANK=$SLURM_PROCID
  WORLD_SIZE=$SLURM_NTASKS
  MASTER_ADDR=${MASTER_ADDR:-$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)}
fi
: "${RANK:?set RANK (0..WORLD_SIZE-1), or run under SLURM}"
: "${WORLD_SIZE:?set WORLD_SIZE (the number of ranks), or run under SLURM}"
: "${MASTER_ADDR:?set MASTER_ADDR (the host of rank 0), or run under SLURM}"

# The trainer also reads RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT and refuses a flag that disagrees with them:
# pass the flags only.
rank=$RANK world=$WORLD_SIZE master=$MASTER_ADDR port=${MASTER_PORT:-29301}
unset RANK WORLD_SIZE MASTER_ADDR MASTER_PORT
exec node "$home/dist/trainer/cli/main.js" train \
  --num-replicas "$world" --distributed-rank "$rank" --distributed-master "$master" --distributed-port "$port" \
  --uid "${RUN_UID:-simclr-${SLURM_JOB_ID:-run}}" --model-dir "${MODEL_DIR:-./models}" --resume \
  "$@"
