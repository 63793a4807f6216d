"""Shared fixtures: real photos (scikit-image's public-domain samples), generated clips, CLI runners."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from portraitcli.media.video import ffmpeg_exe
from tests.clips import make_person_clip  # noqa: F401 - the tests import it from here

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


@pytest.fixture()
def person_clip(tmp_path, astronaut_rgb) -> Path:
    return make_person_clip(tmp_path / "clip.mp4", astronaut_rgb)


def run_portraitcli(*args: str, input: bytes | None = None, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    """The real console entry point in a subprocess (as users and scripts run it)."""
    env = dict(os.environ)
    env.pop("PORTRAITCLI_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "portraitcli", *map(str, args)], input=input, capture_output=True,
                          cwd=cwd, timeout=timeout, env=env)


def photo_folder(folder: Path, rgb: np.ndarray, side: int, count: int) -> Path:
    """count PNG copies of the photo, side x side, named 00.png, 01.png ... in a new folder."""
    from PIL import Image

    folder.mkdir()
    img = Image.fromarray(rgb).resize((side, side))
    for i in range(count):
        img.save(folder / f"{i:02d}.png")
    return folder


def stream_packets(path: Path, stream: str) -> list[str]:
    """framecrc lines (pts, duration, size, checksum) of one stream, for bit-exact comparisons."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", stream, "-c", "copy",
                          "-f", "framecrc", "-"], capture_output=True, text=True, check=True).stdout
    return [ln.split(",", 1)[1].strip() for ln in out.splitlines() if ln and not ln.startswith("#")]


def frame_pts(path: Path) -> list[int]:
    lines = stream_packets(path, "0:v:0")
    return sorted(int(ln.split(",")[1]) for ln in lines)
