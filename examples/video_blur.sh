#!/usr/bin/env bash
# Background blur on a video; the audio track is copied untouched, timestamps kept.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-out}"
mkdir -p "$out"
portraitcli blur "$here/clip.mp4" "$out/clip_blur.mp4" --crf 20 --preset veryfast
