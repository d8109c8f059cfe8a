#!/usr/bin/env bash
# Run every solution notebook in full mode on a GPU node of a Slurm cluster.
#   sbatch scripts/batch/slurm.sh
# Executed notebooks land in notebooks/executed/, the summary table in the job's output file.
#SBATCH --job-name=seg-course
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=02:00:00
#SBATCH --output=seg-course_%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$PWD}"
nvidia-smi
bash scripts/course.sh run --full
# The book of this run (notebooks/book/): only when every lesson ran, as set -e ensures.
bash scripts/course.sh book
