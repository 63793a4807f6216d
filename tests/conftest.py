"""Shared fixtures: real photos (scikit-image's public-domain samples), generated clips, CLI runners."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def camera_grey() -> np.ndarray:
    from skimage import data

    return data.camera()


@pytest.fixture()
def astronaut_png(tmp_path, astronaut_rgb) -> Path:
    from PIL import Image

    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut_rgb).save(path)
    return path


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_person_clip(path: Path, rgb: np.ndarray, seconds: float = 1.0, fps: int = 15, size=(320, 240),
                     audio: bool = True, extra_args: list[str] | None = None, shift: int = 4) -> Path:
    """A clip of the photo sliding sideways over a plain background, with a sine tone."""
    import cv2

    w, h = size
    frames = int(seconds * fps)
    scale = h / rgb.shape[0]
    person = cv2.resize(rgb, (int(rgb.shape[1] * scale), h))
    cmd = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", str(fps), "-i", "-"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-shortest"]
    cmd += (extra_args or []) + [str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for i in range(frames):
        canvas = np.full((h, w, 3), (90, 120, 150), np.uint8)
        x = (i * shift) % max(1, w - person.shape[1] // 2) - person.shape[1] // 4
        x0, x1 = max(0, x), min(w, x + person.shape[1])
        canvas[:, x0:x1] = person[:, x0 - x: x1 - x]
        proc.stdin.write(canvas.tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return path


@pytest.fixture()
def person_clip(tmp_path, astronaut_rgb) -> Path:
    return make_person_clip(tmp_path / "clip.mp4", astronaut_rgb)


def run_portraitcli(*args: str, input: bytes | None = None, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    """The real console entry point in a subprocess (as users and scripts run it)."""
    env = dict(os.environ)
    env.pop("PORTRAITCLI_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "portraitcli", *map(str, args)], input=input, capture_output=True,
                          cwd=cwd, timeout=timeout, env=env)


def stream_packets(path: Path, stream: str) -> list[str]:
    """framecrc lines (pts, duration, size, checksum) of one stream, for bit-exact comparisons."""
    out = subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", stream, "-c", "copy",
                          "-f", "framecrc", "-"], capture_output=True, text=True, check=True).stdout
    return [ln.split(",", 1)[1].strip() for ln in out.splitlines() if ln and not ln.startswith("#")]


def frame_pts(path: Path) -> list[int]:
    lines = stream_packets(path, "0:v:0")
    return sorted(int(ln.split(",")[1]) for ln in lines)
