"""Rebuild the sample media in this folder from public-domain sources (run from the repo root):

    python examples/make_samples.py [OUT_DIR]   # default: this folder

- astronaut.jpg: scikit-image's `astronaut` (NASA photo of Eileen Collins, public domain), as JPEG.
- clip.mp4: 3 s, 480x270, 25 fps: the same portrait gliding over a studio backdrop generated here,
  with a 440 Hz tone as its audio track (H.264 + AAC), so every video feature has something to chew on.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the clip maker the tests and benchmarks use

from tests.clips import make_person_clip  # noqa: E402


def backdrop(w: int, h: int, t: float) -> np.ndarray:
    """A studio backdrop whose light drifts across as the clip goes on (t: 0 to 1)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    glow = np.exp(-(((xx - w * (0.3 + 0.4 * t)) / (0.6 * w)) ** 2 + ((yy - 0.3 * h) / (0.8 * h)) ** 2))
    base = np.stack([60 + 90 * glow, 70 + 80 * glow, 90 + 100 * glow], axis=2)
    return base.astype(np.uint8)


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    out.mkdir(parents=True, exist_ok=True)
    photo = data.astronaut()
    Image.fromarray(photo).save(out / "astronaut.jpg", quality=90)

    w, h, fps, seconds = 480, 270, 25, 3
    last = fps * seconds - 1

    def glide(i, t, w, h, pw, ph):  # the photo's own studio background moves with her
        return int((w - h) * (0.5 + 0.45 * np.sin(2 * np.pi * i / last))), 0

    make_person_clip(out / "clip.mp4", photo, seconds=seconds, fps=fps, size=(w, h), person_size=(h, h),
                     shrink_by_area=True, backdrop=lambda w, h, t: backdrop(w, h, t * fps / last), place=glide,
                     video_args=["-c:v", "libx264", "-preset", "slow", "-crf", "26", "-pix_fmt", "yuv420p"],
                     sample_rate=44100, extra_args=["-b:a", "64k", "-movflags", "+faststart"])


if __name__ == "__main__":
    main()
