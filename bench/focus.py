"""What the photo path's focus pass costs: Segmenter.matte on one photo with a small subject,
with the second look and without, interleaved run by run.

    python bench/focus.py                  # 12 MP (4000x3000), person 30% of its height
    python bench/focus.py --width 1600 --height 1200 --runs 10

The photo is the astronaut (skimage's sample) cut out by the model itself and stood on the bottom
edge of a wide scene (skimage's rocket, stretched). The subject filling the photo skips the pass
(subjects.subject_box), so photos like ccp's street portraits cost what they did.
"""
from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np


def small_subject_photo(width: int, height: int, share: float) -> np.ndarray:
    from skimage import data

    from portraitcli.matting.segmenter import Segmenter

    person = data.astronaut()
    alpha = Segmenter(subjects="all").matte(person)[:, :, None]
    side = int(height * share)
    fg = cv2.resize(person, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
    a = cv2.resize(alpha, (side, side), interpolation=cv2.INTER_AREA)[:, :, None]
    scene = cv2.resize(data.rocket(), (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    top, left = height - side, width // 3
    scene[top:, left:left + side] = fg * a + scene[top:, left:left + side] * (1 - a)
    return scene.astype(np.uint8)


def main() -> None:
    from portraitcli.matting.segmenter import Segmenter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--share", type=float, default=0.3, help="the person's height as a share of the photo's")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    photo = small_subject_photo(args.width, args.height, args.share)
    segmenters = {"one look": Segmenter(focus_photos=False), "focus pass": Segmenter()}
    times: dict[str, list[float]] = {name: [] for name in segmenters}
    for seg in segmenters.values():
        seg.matte(photo)  # warm-up off the clock
    for _ in range(args.runs):
        for name, seg in segmenters.items():
            start = time.perf_counter()
            seg.matte(photo)
            times[name].append(time.perf_counter() - start)
    print(f"Segmenter.matte, {args.width}x{args.height} photo, person {args.share:.0%} of its height, "
          f"{args.runs} interleaved runs, provider {segmenters['one look'].provider}")
    base = statistics.median(times["one look"])
    for name, t in times.items():
        median = statistics.median(t)
        print(f"  {name:<11} median {median * 1000:7.1f} ms  (min {min(t) * 1000:.1f})  x{median / base:.2f}")


if __name__ == "__main__":
    main()
