"""Rebuild the sample media in this folder from public-domain sources (run from the repo root):

    python examples/make_samples.py [OUT_DIR]   # default: this folder

- astronaut.jpg: scikit-image's `astronaut` (NASA photo of Eileen Collins, public domain), as JPEG.
- clip.mp4: 3 s, 480x270, 25 fps: the same portrait gliding over a studio backdrop generated here,
  with a 440 Hz tone as its audio track (H.264 + AAC), so every video feature has something to chew on.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from PIL import Image
from skimage import data

HERE = Path(__file__).resolve().parent


def backdrop(w: int, h: int, t: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    glow = np.exp(-(((xx - w * (0.3 + 0.4 * t)) / (0.6 * w)) ** 2 + ((yy - 0.3 * h) / (0.8 * h)) ** 2))
    base = np.stack([60 + 90 * glow, 70 + 80 * glow, 90 + 100 * glow], axis=2)
    return base.astype(np.uint8)


def main():
    import sys

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    out.mkdir(parents=True, exist_ok=True)
    photo = data.astronaut()
    Image.fromarray(photo).save(out / "astronaut.jpg", quality=90)

    w, h, fps, seconds = 480, 270, 25, 3
    person = cv2.resize(photo, (h, h), interpolation=cv2.INTER_AREA)
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-",
           "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
           "-c:v", "libx264", "-preset", "slow", "-crf", "26", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart", str(out / "clip.mp4")]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    frames = fps * seconds
    for i in range(frames):
        t = i / (frames - 1)
        canvas = backdrop(w, h, t)
        x = int((w - h) * (0.5 + 0.45 * np.sin(2 * np.pi * t)))
        canvas[:, x:x + h] = person  # the photo's own studio background moves with her
        proc.stdin.write(canvas.tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("ffmpeg failed")


if __name__ == "__main__":
    main()
