#!/usr/bin/env bash
# A photographer's shoot: cut every photo out (folder tree mirrored), transparent PNGs,
# plus a JSON report. Re-running skips what is already done.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-out}"
mkdir -p "$out/shoot/day1"
cp "$here/astronaut.jpg" "$out/shoot/portrait.jpg"
cp "$here/astronaut.jpg" "$out/shoot/day1/portrait2.jpg"
portraitcli cutout "$out/shoot" "$out/cut" --jobs 2 --report "$out/report.json"
portraitcli blur --bokeh --strength 0.6 "$out/shoot" "$out/bokeh"
