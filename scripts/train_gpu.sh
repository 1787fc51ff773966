#!/usr/bin/env bash
# Train (or continue) the bundled U-Net on a CUDA GPU within ten minutes, then measure it on the CPU.
#
#   scripts/train_gpu.sh OUT.safetensors [--init MODEL.safetensors] [more innerear-seg train options]
#
# Environment: MINUTES (default 9: the whole wall-clock budget, data generation and validation included),
# DEVICE (default cuda; cpu for a smoke run), WORKERS (phantom generators; default: all cores but two),
# VERSION (the manifest's model version, default 2.1.0-gpu). Phantom generation runs on the CPU cores, so on
# a GPU the generators, not the network, set the pace: they run at full duty and feed a larger pool.
# The weights are stored on the CPU; copy OUT.safetensors and OUT.json back and measure them there with
#   .venv/bin/python benchmarks/evaluate_generalisation.py --model OUT.safetensors ...
set -euo pipefail
out=${1:?usage: scripts/train_gpu.sh OUT.safetensors [--init MODEL.safetensors] [train options]}
shift
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
cores=$(nproc)
workers=${WORKERS:-$(( cores > 3 ? cores - 2 : 1 ))}
set -x
OMP_WAIT_POLICY=PASSIVE "$py" -m InnerEarSegLib.cli.train --out "$out" --device "${DEVICE:-cuda}" \
    --minutes "${MINUTES:-9}" --workers "$workers" --worker-duty 1 --pool-size 256 --threads 2 \
    --validate-every 1 --n-validation 16 --model-version "${VERSION:-2.1.0-gpu}" "$@"
"$py" -c "import json, sys; m = json.load(open(sys.argv[1])); t = m['training']; \
print('device', t['device'], 'iterations', t['iterations'], 'time_s', t['time_s']); \
print('validation Dice', m['accuracy']['validation_dice'])" "${out%.safetensors}.json"
