"""Every example in examples/ runs as documented (the README's job sections use these)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from portraitcli.media.video import probe
from tests.conftest import ROOT, stream_packets

EXAMPLES = ROOT / "examples"


def run_example(script: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    cmd = ["bash", str(EXAMPLES / script)] if script.endswith(".sh") else [sys.executable, str(EXAMPLES / script)]
    return subprocess.run(cmd + [str(a) for a in args], cwd=cwd, env=env, capture_output=True, timeout=600)


def test_photographer_batch(tmp_path):
    proc = run_example("photographer_batch.sh", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cut = tmp_path / "out" / "cut"
    assert Image.open(cut / "portrait.png").mode == "RGBA"
    assert Image.open(cut / "day1" / "portrait2.png").mode == "RGBA"
    assert (tmp_path / "out" / "bokeh" / "day1" / "portrait2.jpg").exists()
    assert '"done": 2' in (tmp_path / "out" / "report.json").read_text()


def test_video_blur_keeps_audio(tmp_path):
    proc = run_example("video_blur.sh", tmp_path, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "clip_blur.mp4"
    assert stream_packets(out, "0:a:0") == stream_packets(EXAMPLES / "clip.mp4", "0:a:0")


def test_transparent_video(tmp_path):
    proc = run_example("transparent_video.sh", tmp_path, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert probe(tmp_path / "clip_alpha.mov").video_codec == "prores"
    assert probe(tmp_path / "clip_alpha.webm").video_codec == "vp9"
    assert len(list((tmp_path / "frames").glob("*.png"))) == 75
    assert probe(tmp_path / "clip_blue.mp4").has_audio


def test_shell_pipeline(tmp_path):
    proc = run_example("shell_pipeline.sh", tmp_path, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = probe(tmp_path / "piped.mp4")
    assert info.has_audio and (info.width, info.height) == (480, 270)
    assert Image.open(tmp_path / "matte.png").mode == "L"


def test_webcam_without_a_camera_fails_clearly(tmp_path):
    proc = run_example("webcam.sh", "/dev/video-missing", tmp_path / "virtual", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip().splitlines()[0] == \
        "portraitcli: /dev/video-missing: no such capture device"


def test_api_example(tmp_path):
    proc = run_example("api_example.py", tmp_path, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert b"person covers" in proc.stdout
    cut = np.asarray(Image.open(tmp_path / "api_cutout.png"))
    assert cut.shape[2] == 4 and cut[..., 3].min() < 10 and cut[..., 3].max() > 245


@pytest.mark.parametrize("name", ["astronaut.jpg", "clip.mp4"])
def test_samples_are_small(name):
    assert (EXAMPLES / name).stat().st_size < 300_000


def test_sample_media_script_rebuilds_the_samples(tmp_path):
    proc = run_example("make_samples.py", tmp_path, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(tmp_path / "astronaut.jpg").size == (512, 512)
    info = probe(tmp_path / "clip.mp4")
    assert (info.width, info.height) == (480, 270) and info.has_audio and len(info.timestamps) == 75


def test_strip_script_makes_the_readme_picture(tmp_path):
    proc = run_example("make_strip.py", tmp_path / "strip.jpg", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    strip = Image.open(tmp_path / "strip.jpg")
    assert strip.height == 220 and strip.width == 6 * 220  # six square tiles of the square sample


def test_edges_script_makes_the_readme_picture(tmp_path):
    proc = run_example("make_edges.py", tmp_path / "edges.jpg", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    strip = np.asarray(Image.open(tmp_path / "edges.jpg").convert("L")).astype(int)
    assert strip.shape == (200, 6 * 200)
    tiles = [strip[:, i * 200:(i + 1) * 200] for i in range(6)]
    soft = [int(((t > 30) & (t < 225)).sum()) for t in tiles]
    assert soft[1] > 1.5 * soft[0]  # --feather: a wider soft band
    assert (tiles[2] > 127).sum() > (tiles[0] > 127).sum() > (tiles[3] > 127).sum()  # --shift 8, -8
    assert soft[4] < 0.3 * soft[0]  # --threshold: a hard edge (JPEG leaves a little ringing)
