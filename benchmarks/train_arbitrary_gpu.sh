#!/usr/bin/env bash
# One ≤ 10-minute GPU run of the any-painting network (the device machine: one H200, 16 cores).
#
# Before (here, on the CPU machine; data/ is git-ignored and travels with `carry`):
#   PYTHONPATH=src python benchmarks/make_arbitrary_data.py          # data/arbitrary: ~26 MB images + VGG
# On the device (one call, timeout_s 600, carry ["data/arbitrary"]):
#   bash benchmarks/train_arbitrary_gpu.sh
# Then here: the files come back under files_at (see run's reply): arbitrary.safetensors, init.pt
# (the network's weights, to continue on the CPU with --init), train.csv, val.csv, preview.jpg, log.txt.
#
# TRAIN_SECONDS (default 420) leaves time for start-up, the final validation and the copy back.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu}
RUN=/tmp/arbitrary-run
SECONDS_LIMIT=${TRAIN_SECONDS:-420}
mkdir -p "$OUT"
rm -rf "$RUN"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/log.txt" || true
PYTHONUNBUFFERED=1 PYTHONPATH=src python3 -m brushwork.fastnet.anystyle_train \
  --data data/arbitrary/manifest.csv --weights data/arbitrary/vgg19.bin --run "$RUN" --device cuda --amp \
  --crop 224 --style-crop 224 --batch-size 8 --steps 200000 --time-limit "$SECONDS_LIMIT" --workers 6 \
  --checkpoint-every 2000 --val-every 2000 --log-every 100 ${EXTRA_ARGS:-} 2>&1 | tee -a "$OUT/log.txt"
cp "$RUN/arbitrary.safetensors" "$RUN/train.csv" "$RUN/val.csv" "$OUT/"
cp "$(ls "$RUN"/preview_*.jpg | tail -1)" "$OUT/preview.jpg"
python3 - "$RUN" "$OUT" <<'PY'
import sys, torch
ck = torch.load(f"{sys.argv[1]}/checkpoint.pt", map_location="cpu", weights_only=True)
torch.save({"model": ck["model"], "step": ck["step"], "seconds": ck["seconds"], "settings": ck["settings"]},
           f"{sys.argv[2]}/init.pt")  # no Adam state: the full checkpoint is over the 16 MB return limit
print("step", ck["step"], "seconds", round(ck["seconds"]))
PY
ls -la "$OUT"
