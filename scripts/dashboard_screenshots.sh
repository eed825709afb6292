#!/usr/bin/env bash
# The README's pictures of a real λ sweep: TensorBoard's HParams view (table, and parallel
# coordinates with λ's axis switched to Logarithmic), the custom-scalars layout, and
# `aectl summarize`'s summary.png.
#
#   scripts/dashboard_screenshots.sh [SWEEP_DIR]
#
# Without SWEEP_DIR it first runs the sweep (about a minute on two CPU cores):
#   aectl train -m hydra/launcher=vmap model=contractive regularizer.weight=1e-4,1e-2,1 trainer.max_epochs=10
# Needs Chromium (`apt-get install -y chromium`) and the project's .venv. Starts its own
# `tensorboard --host 127.0.0.1` on a free port (never another address) and stops it
# however the script ends. Pictures go to docs/images/ (OUT=... to change).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
OUT="${OUT:-$ROOT/docs/images}"
CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
[ -n "$CHROMIUM" ] || { echo "dashboard_screenshots: needs chromium (apt-get install -y chromium)" >&2; exit 2; }
mkdir -p "$OUT"

SWEEP="${1:-}"
if [ -z "$SWEEP" ]; then
  SWEEP="$(mktemp -d)/contractive_lambda"
  (cd "$ROOT" && "$PY" -m aectl train -m hydra/launcher=vmap model=contractive regularizer.weight=1e-4,1e-2,1 \
    trainer.max_epochs=10 trainer.device=cpu "hydra.sweep.dir=$SWEEP")
fi
(cd "$ROOT" && "$PY" -m aectl summarize "$SWEEP")
cp "$SWEEP/summary.png" "$OUT/summary_contractive.png"

PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
LOG="$(mktemp)"
"$PY" -m tensorboard.main --logdir "$SWEEP" --host 127.0.0.1 --port "$PORT" >"$LOG" 2>&1 &
TB=$!
trap 'kill "$TB" 2>/dev/null; wait "$TB" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 120); do
  "$PY" -c "import urllib.request as u; u.urlopen('$BASE/data/environment', timeout=1)" 2>/dev/null && break
  kill -0 "$TB" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.5
done

shot() { "$PY" "$ROOT/scripts/cdp_shot.py" --chromium "$CHROMIUM" "$@"; }
# HParams opens on its table: λ is the first column without a click (differs=True)
shot "$BASE/#hparams" "$OUT/hparams_table.png" --size 1600,700 --wait 10
# Parallel coordinates, λ's axis on a log scale: the one click TensorBoard has for it
shot "$BASE/#hparams" "$OUT/hparams_parallel_log.png" --size 1600,800 --wait 10 \
  --click 'paper-tab[view-id=parallel-coords-view]' \
  --click 'paper-radio-button[id="logScaleButton_regularizer.weight"]'
# The custom-scalars layout: train vs val reconstruction, the unweighted term, λ·term
shot "$BASE/#custom_scalars" "$OUT/custom_scalars.png" --size 1600,1000 --wait 12
echo "pictures in $OUT; sweep in $SWEEP"
