#!/usr/bin/env bash
# Run every solution notebook in full mode on a GPU node of an LSF cluster (the course HPC).
#   bsub < scripts/batch/lsf.sh
# Executed notebooks land in notebooks/executed/, the summary table in the job's output file.
#BSUB -J seg-course
#BSUB -q gpuv100
#BSUB -gpu "num=1:mode=exclusive_process"
#BSUB -n 4
#BSUB -R "span[hosts=1]"
#BSUB -R "rusage[mem=8GB]"
#BSUB -W 2:00
#BSUB -o seg-course_%J.out
#BSUB -e seg-course_%J.err
set -euo pipefail
cd "${LS_SUBCWD:-$PWD}"
nvidia-smi
bash scripts/course.sh run --full
# The book of this run (notebooks/book/): only when every lesson ran, as set -e ensures.
bash scripts/course.sh book
