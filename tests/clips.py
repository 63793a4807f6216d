"""The one maker of synthetic clips, for the tests, the benchmarks (bench/common.py) and the sample
clip (examples/make_samples.py): a photo of a person moving over a backdrop, encoded by the
bundled ffmpeg, with a sine tone as its audio track.

The frames are drawn here (numpy) and piped to ffmpeg as raw RGB, so every user gets the same
pixels for the same arguments whatever the encoder settings.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import numpy as np

from portraitcli.media.video import ffmpeg_exe

PLAIN_BACKDROP = (90, 120, 150)

# backdrop(width, height, t) -> HxWx3 uint8 frame, t in seconds
Backdrop = Callable[[int, int, float], np.ndarray]
# place(frame index, t, width, height, person width, person height) -> top-left (x, y) of the person
Place = Callable[[int, float, int, int, int, int], tuple[int, int]]


def plain_backdrop(colour=PLAIN_BACKDROP) -> Backdrop:
    return lambda w, h, t: np.full((h, w, 3), colour, np.uint8)


def pattern_backdrop(speed: float = 40.0) -> Backdrop:
    """Colour bars, a fine checker and a gradient scrolling sideways at speed px/s: texture that
    costs an encoder what real backgrounds cost, drawn once and slid."""
    cache: dict = {}

    def draw(w: int, h: int, t: float) -> np.ndarray:
        if (w, h) not in cache:
            yy, xx = np.mgrid[0:h, 0:2 * w]
            bars = np.array([(192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0), (192, 0, 192),
                             (192, 0, 0), (0, 0, 192), (32, 32, 32)], np.float32)
            tile = bars[(xx * 8 // max(1, w)) % 8]
            checker = ((xx // 8 + yy // 8) % 2).astype(np.float32)[..., None] * 40 - 20
            ramp = (yy / max(1, h - 1)).astype(np.float32)[..., None] * 60 - 30
            cache[(w, h)] = np.clip(tile + checker + ramp, 0, 255).astype(np.uint8)
        start = int(t * speed) % w
        return cache[(w, h)][:, start:start + w]

    return draw


def slide(shift: int = 4) -> Place:
    """Sideways, shift px a frame, wrapping round, partly off the left edge at times."""
    return lambda i, t, w, h, pw, ph: ((i * shift) % max(1, w - pw // 2) - pw // 4, h - ph)


def sway(period_x: float = 6.0, period_y: float = 2.3) -> Place:
    """Gliding from side to side and bobbing up and down, always inside the frame."""
    def place(i, t, w, h, pw, ph):
        x = (w - pw) * (0.5 + 0.45 * np.sin(2 * np.pi * t / period_x))
        y = (h - ph) * (0.5 + 0.5 * np.sin(2 * np.pi * t / period_y))
        return int(x), int(y)

    return place


def make_person_clip(path: Path, rgb: np.ndarray, seconds: float = 1.0, fps: int = 15, size=(320, 240),
                     audio: bool = True, extra_args: list[str] | None = None, shift: int = 4, *,
                     backdrop: Backdrop | None = None, place: Place | None = None,
                     person_size: tuple[int, int] | None = None, shrink_by_area: bool = False,
                     video_args: list[str] | None = None, sample_rate: int = 48000) -> Path:
    """A clip of the photo rgb (scaled to the frame's height, or to person_size (w, h); resampled
    by pixel area with shrink_by_area, else bilinearly) moving over a backdrop (plain by default)
    by place (sliding sideways by shift px a frame by default), with a 440 Hz tone unless audio
    is False. video_args are the encoder's (H.264 ultrafast
    4:2:0 by default); extra_args go last, before the path."""
    import cv2

    w, h = size
    frames = int(seconds * fps)
    if person_size is None:
        person_size = (int(rgb.shape[1] * h / rgb.shape[0]), h)
    person = cv2.resize(rgb, person_size, interpolation=cv2.INTER_AREA if shrink_by_area else cv2.INTER_LINEAR)
    backdrop = backdrop or plain_backdrop()
    place = place or slide(shift)
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", str(fps), "-i", "-"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={sample_rate}:duration={seconds}"]
    cmd += video_args or ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-shortest"]
    cmd += (extra_args or []) + [str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    ph, pw = person.shape[:2]
    try:
        for i in range(frames):
            canvas = np.array(backdrop(w, h, i / fps), np.uint8, copy=True)
            x, y = place(i, i / fps, w, h, pw, ph)
            x0, x1, y0, y1 = max(0, x), min(w, x + pw), max(0, y), min(h, y + ph)
            if x0 < x1 and y0 < y1:
                canvas[y0:y1, x0:x1] = person[y0 - y: y1 - y, x0 - x: x1 - x]
            proc.stdin.write(canvas.tobytes())
    finally:
        proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg could not write {path}")
    return path
