#!/usr/bin/env bash
# The diffusion engine's GPU benchmark: the full SD-1.5 architecture (random weights: exact compute, meaningless
# images) at 512², 50 DDIM steps, per inversion method and memory mode; < 5 minutes on one H100.
#
#   benchmarks/gpu.sh [OUT_DIR]     on the GPU machine (default OUT_DIR: $OUT, else bench-results/)
#   benchmarks/gpu.sh --prepare     here, with network: download the wheels the GPU image may lack into .gpu-wheels/
#                                   (git-ignored through .git/info/exclude); carry .gpu-wheels to the GPU machine
#
# Writes OUT_DIR/env.txt (GPU, versions), gpu_bench.{jsonl,txt} (fp16; memory default, offload, tiling; null-text,
# direct, negative-prompt), gpu_precision.{jsonl,txt} (null-text and direct at 10 steps in fp16 and fp32: per-step
# null-text losses side by side), gpu_summary.txt (one line per run: s/face, NFE, peak VRAM).
# Smoke test of this script on a CPU: ARCH=tiny DEVICE=cpu MEMORY=default,tiling STEPS=3 benchmarks/gpu.sh /tmp/gpu
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
PKGS=(diffusers transformers accelerate scikit-image scipy Pillow numpy safetensors huggingface_hub tokenizers kornia
      importlib_metadata)
MODULES=(diffusers transformers accelerate skimage scipy PIL numpy safetensors huggingface_hub tokenizers kornia
         importlib_metadata)

if [ "${1:-}" = "--prepare" ]; then
    mkdir -p .gpu-wheels
    grep -qx '/.gpu-wheels/' .git/info/exclude 2>/dev/null || echo '/.gpu-wheels/' >> .git/info/exclude
    # the GPU image runs Python 3.12 on x86-64 with torch, transformers, accelerate, scikit-image, scipy, Pillow,
    # numpy, safetensors and huggingface_hub (the device tool's KINDS.md); it lacks diffusers and kornia. Only those
    # (no dependencies: 14 MB; with them 90 MB, over the 64 MiB a call may carry)
    "$PY" -m pip download --quiet --no-deps --dest .gpu-wheels --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --implementation cp \
        diffusers importlib_metadata kornia kornia_rs
    du -sh .gpu-wheels && ls .gpu-wheels
    exit 0
fi

out="${1:-${OUT:-bench-results}}"
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

# 1. dependencies: install what the image lacks from carried wheels (the GPU machine has no network)
missing=()
for i in "${!MODULES[@]}"; do
    "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('${MODULES[$i]}') is None)" \
        || missing+=("${PKGS[$i]}")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ -d .gpu-wheels ]; then
        # into a folder of our own (the image's environment may be read-only); kornia needs its kornia_rs
        "$PY" -m pip install --quiet --no-index --no-deps --target /tmp/gpu-site .gpu-wheels/*.whl || exit 2
        export PYTHONPATH="/tmp/gpu-site:$PYTHONPATH"
    else
        echo "gpu.sh: missing ${missing[*]}; run 'benchmarks/gpu.sh --prepare' where there is network and carry .gpu-wheels" >&2
        exit 2
    fi
fi

# 2. environment
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PY" -c "import torch, diffusers, transformers, accelerate; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__)"
} > "$out/env.txt" 2>&1
cat "$out/env.txt"

# 3. the benchmark: rows are appended as each run ends, so a timeout keeps what finished
ARCH="${ARCH:-sd15}" DEVICE="${DEVICE:-cuda}" MEMORY="${MEMORY:-default,offload,tiling}" STEPS="${STEPS:-50}"
timeout 200 "$PY" benchmarks/bench_engine.py --arch "$ARCH" --device "$DEVICE" --dtype fp16 --steps "$STEPS" \
    --memory "$MEMORY" --inversion null-text,direct,negative-prompt \
    --out "$out/gpu_bench.jsonl" 2>&1 | tee "$out/gpu_bench.txt"
# 4. fp16 vs fp32 null-text (loss-scaled fp16 should lower the losses like fp32)
timeout 80 "$PY" benchmarks/bench_engine.py --arch "$ARCH" --device "$DEVICE" --dtype fp16,fp32 --steps 10 --inner-iters 5 \
    --no-early-stop --guidance-iters 1 --inversion null-text,direct \
    --out "$out/gpu_precision.jsonl" 2>&1 | tee "$out/gpu_precision.txt"

# 5. summary
"$PY" - "$out" <<'EOF' | tee "$out/gpu_summary.txt"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
for name in ("gpu_bench.jsonl", "gpu_precision.jsonl"):
    path = out / name
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    print(f"{name}: {len(rows)} runs")
    print(f"  {'dtype':<9}{'memory':<16}{'inversion':<17}{'steps':>6}{'s/face':>9}{'NFE':>7}{'UNet NFE':>10}{'peak GiB':>10}")
    for r in rows:
        print(f"  {r['dtype']:<9}{r['memory']:<16}{r['inversion']:<17}{r['steps']:>6}{r['seconds_per_face']:>9.2f}"
              f"{r['nfe']:>7}{r['unet_nfe']:>10}{r['peak_memory_gib']:>10.2f}")
    nulls = {r["dtype"]: r["null_text_losses"] for r in rows if r["inversion"] == "null-text"}
    if {"float16", "float32"} <= set(nulls):
        print("  null-text final loss per step, fp16 vs fp32:")
        for i, (a, b) in enumerate(zip(nulls["float16"], nulls["float32"])):
            print(f"    step {i}: {a:.3e} vs {b:.3e}")
EOF
