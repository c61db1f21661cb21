#!/usr/bin/env bash
# The GPU rows, in one short run for a machine with a CUDA GPU (the device tool lends one for minutes):
#   bash bench/gpu_rows.sh [out folder]      (after `make build footage`)
# Each bench prints its table to <out>/<name>.txt; a failing one does not stop the others. The encoder rows
# (bench.backends: base/merged fp32, fp16, bf16, CUDA graphs, onnxruntime CUDA, TensorRT if installed), the
# person models batched on CUDA (bench.person_models) and the node's frame path with device cuda
# (bench.node_throughput: embedded defaults, then the HMR pose source on a random-weight vit_h: base fp32 vs
# merged fp32 vs merged fp16).
set -u
out=${1:-out/gpu_rows}
mkdir -p "$out"
py=${PYTHON:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1
run() {  # name, limit in seconds, command...
  local name=$1 limit=$2
  shift 2
  echo "== $name" | tee -a "$out/log.txt"
  timeout "$limit" "$py" -m "$@" > "$out/$name.txt" 2>&1
  echo "   exit $? ($(date +%T))" | tee -a "$out/log.txt"
}
run backends 240 bench.backends --device cuda --configs vit_s vit_h --batches 1 8 --repeats 5
run person_models 60 bench.person_models --device cuda --rounds 30
run node_throughput 180 bench.node_throughput --device cuda
run node_throughput_vit_h 300 bench.node_throughput --device cuda --encoder vit_h --frames 40
