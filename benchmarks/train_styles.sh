#!/usr/bin/env bash
# Train the fast styles (Starry Night, The Scream, The Shipwreck).
#
#   benchmarks/train_styles.sh gpu [OUT]   full width (1.0), 256 px crops, batch 4, --device cuda; each style is
#                                          capped at 140 s of training so all three finish in about 8 minutes on
#                                          one H100 (the cap is recorded in each model card as the steps reached)
#   benchmarks/train_styles.sh cpu [OUT]   the recipe of the shipped models: width 0.5, 128 px crops, batch 2,
#                                          one thread per style, the three styles in parallel (2-core CPU)
#
# OUT defaults to benchmarks/out/styles-<profile> (git-ignored).  Photos come from data/training-photos
# (git-ignored; recreate it with benchmarks/fetch_training_photos.sh): no internet is needed.
# Paintings are read from ../shared/data/styles.  Ship a result by copying NAME.safetensors and NAME.md
# into src/brushwork/fastnet/styles/.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PROFILE="${1:-gpu}"
OUT="${2:-$HERE/benchmarks/out/styles-$PROFILE}"
DATA="${DATA:-$HERE/data/training-photos}"
STYLES="${STYLES_DIR:-$HERE/../shared/data/styles}"
PY="${PYTHON:-python}"
export PYTHONPATH="$HERE/src${PYTHONPATH:+:$PYTHONPATH}"
[ -d "$DATA" ] || { echo "no training photos in $DATA: run benchmarks/fetch_training_photos.sh" >&2; exit 2; }
mkdir -p "$OUT"

case "$PROFILE" in
  gpu)
    for style in starry_night the_scream shipwreck; do
      "$PY" -m brushwork.cli train "$STYLES/$style.jpg" --data "$DATA" -o "$OUT/$style.safetensors" --overwrite \
        --device cuda --width 1 --crop 256 --batch-size 4 --style-size 512 --steps 4000 --time-limit "${TIME_LIMIT:-140}" \
        --checkpoint-every 1000 --workers 4
    done
    ;;
  cpu)
    pids=()
    for style in starry_night the_scream shipwreck; do
      OMP_NUM_THREADS=1 nice -n 10 "$PY" -m brushwork.cli -q train "$STYLES/$style.jpg" --data "$DATA" \
        -o "$OUT/$style.safetensors" --overwrite --device cpu --width 0.5 --crop 128 --batch-size 2 \
        --style-size 384 --steps "${STEPS:-1500}" --time-limit "${TIME_LIMIT:-2700}" --checkpoint-every 100 \
        > "$OUT/$style.train.log" 2>&1 &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    ;;
  *) echo "usage: $0 gpu|cpu [OUT]" >&2; exit 2 ;;
esac
"$PY" -m brushwork.cli fast "$OUT/starry_night.safetensors" "$HERE/src/brushwork/assets/chelsea.png" \
  -o "$OUT/chelsea_starry_night.png" --overwrite
echo "models, cards, logs and a sample in $OUT"
