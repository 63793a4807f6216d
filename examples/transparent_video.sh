#!/usr/bin/env bash
# Transparent video for editors: ProRes 4444 with alpha (.mov), VP9 with alpha (.webm),
# or a PNG sequence when DEST is a folder; and a new background from a colour.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-out}"
mkdir -p "$out"
portraitcli cutout "$here/clip.mp4" "$out/clip_alpha.mov"
portraitcli cutout "$here/clip.mp4" "$out/clip_alpha.webm"
portraitcli cutout "$here/clip.mp4" "$out/frames/"
portraitcli replace-bg --background "#1e90ff" "$here/clip.mp4" "$out/clip_blue.mp4"
