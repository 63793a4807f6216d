#!/usr/bin/env bash
# Live webcam with a blurred background, out to a virtual camera (v4l2loopback) that video-call
# apps can pick; --preview also shows it in a window. Set up the virtual camera once with:
#   sudo modprobe v4l2loopback video_nr=10 card_label=portraitcli exclusive_caps=1
set -euo pipefail
camera="${1:-/dev/video0}"
virtual="${2:-/dev/video10}"
portraitcli blur "$camera" "$virtual" --smooth 0.6
