#!/usr/bin/env bash
# portraitcli in a shell pipeline: any ffmpeg stream in on stdin, a stream out on stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-out}"
mkdir -p "$out"
ffmpeg="$(python -c 'from portraitcli.media.video import ffmpeg_exe; print(ffmpeg_exe())')"  # the bundled one
"$ffmpeg" -hide_banner -loglevel error -i "$here/clip.mp4" -c:v rawvideo -c:a pcm_s16le -f nut - \
  | portraitcli blur - - --format nut \
  | "$ffmpeg" -hide_banner -loglevel error -y -i - -c:v libx264 -c:a aac "$out/piped.mp4"
# photos work the same way
portraitcli segment - - < "$here/astronaut.jpg" > "$out/matte.png"
