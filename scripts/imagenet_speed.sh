#!/usr/bin/env bash
# How fast an ImageNet preset trains on this machine's GPU, stage by stage, fed two ways:
#   from memory: `layerwise bench train` (one synthetic batch resident on the device): img/s and the
#                peak device memory of every greedy stage at the preset's batch;
#   streamed:    a short greedy run on an ImageNet-style dataset (a folder or .tar, e.g. Imagenette's
#                training tar) through the input pipeline: img/s of every stage and how long its steps
#                waited for decoded batches (`data_wait`).
# The two img/s columns side by side say what the pipeline and the training loop cost on top of the
# steps themselves; a `data_wait` near zero says the decoding threads keep up.
#
# Usage: scripts/imagenet_speed.sh DATASET [OUT]
#   env: PRESET (paper1-imagenet-k3), BATCH (256), STEPS per stage (20), WORKERS (every core),
#        HOLD_OUT images held out for validation (1000), EVAL of them evaluated (512)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
data=$(realpath "$1")
out=${2:-runs/imagenet-speed}
preset=${PRESET:-paper1-imagenet-k3}
batch=${BATCH:-256}
steps=${STEPS:-20}
workers=${WORKERS:-$(nproc)}
hold_out=${HOLD_OUT:-1000}
eval_images=${EVAL:-512}

cargo build --release --quiet
bin=target/release/layerwise

echo "== $preset fed from memory: bench train at batch $batch"
"$bin" bench train --quiet --preset "$preset" --batch "$batch" --steps 5 --warmup 2

echo "== $preset streamed from $data: $steps steps of $batch images per stage, $workers decoding threads"
rm -rf "$out"
"$bin" train --quiet --no-report --preset "$preset" --out "$out" \
  --set "dataset=\"$data\"" --set epochs=1 --set "batch_size=$batch" \
  --set "val_split=$hold_out" --set "max_val_images=$eval_images" \
  --set "max_train_images=$((steps * batch))" --set "stream.workers=$workers"
python3 - "$out/metrics.jsonl" "$out/summary.json" <<'EOF'
import json, sys
peaks = {s["stage"]: s["peak_mib"] for s in json.load(open(sys.argv[2]))}
print("| stage | img/s | seconds | waited for data (s) | peak MiB | head top-1 | head top-5 |")
print("|---:|---:|---:|---:|---:|---:|---:|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    top5 = r.get("val_top5") or [float("nan")]
    print(f"| {r['stage']} | {r['img_per_s']:.0f} | {r['seconds']:.1f} | {r.get('data_wait') or 0:.2f} "
          f"| {peaks.get(r['stage'], float('nan')):.0f} | {r['val_acc'][-1]:.1f} | {top5[-1]:.1f} |")
EOF
