"""Interruption and write failures never leave partial files; a re-run resumes."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from portraitcli.media.atomic import TEMP_MARK
from tests.conftest import make_person_clip


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if TEMP_MARK in p.name]


def test_ctrl_c_stops_cleanly_and_rerun_resumes(tmp_path, astronaut_rgb):
    src = tmp_path / "in"
    src.mkdir()
    img = Image.fromarray(astronaut_rgb).resize((640, 640))
    for i in range(40):
        img.save(src / f"{i:02d}.jpg", quality=90)
    # the clip comes last and keeps the batch busy after the third photo lands: with a 3-second
    # clip, one run (a fresh venv's first) saw the whole batch finish before the interrupt came
    make_person_clip(src / "zz_clip.mp4", astronaut_rgb, seconds=8, audio=True)
    out = tmp_path / "out"
    # Ctrl-C's default action, as in a terminal: a shell without job control starts background
    # jobs (`pytest &`) with SIGINT ignored, which children inherit and Python then keeps
    proc = subprocess.Popen([sys.executable, "-m", "portraitcli", "replace-bg", "-b", "white", "--jobs", "2",
                             str(src), str(out)], stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and len(list(out.glob("*.jpg"))) >= 3):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"(interrupted)" in err and b"Traceback" not in err
    assert leftovers(out) == []
    done_first = {p.name for p in out.iterdir()}
    assert 3 <= len(done_first) < 41
    for p in out.glob("*.jpg"):
        Image.open(p).load()  # every file under its final name is complete
    again = subprocess.run([sys.executable, "-m", "portraitcli", "replace-bg", "-b", "white", "--jobs", "2",
                            str(src), str(out)], capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{41 - len(done_first)} done, {len(done_first)} skipped, 0 failed".encode() in again.stderr
    assert leftovers(out) == []


def test_full_disk_leaves_no_partial_file(tmp_path, astronaut_png, monkeypatch):
    from portraitcli.media import photo

    original = photo.encode_photo

    def half_then_enospc(pixels, fmt, meta=None, quality=95, out=None):
        # the disk fills halfway through the encoded photo's bytes
        data = original(pixels, fmt, meta, quality)
        out.write(data[: len(data) // 2])
        out.flush()
        raise OSError(errno.ENOSPC, "No space left on device", out.name)

    monkeypatch.setattr(photo, "encode_photo", half_then_enospc)
    final = tmp_path / "out.png"
    pixels = photo.read_photo(astronaut_png).pixels
    with pytest.raises(OSError) as info:
        photo.write_photo(final, pixels, "PNG")
    assert info.value.errno == errno.ENOSPC and str(final) in str(info.value)
    assert not final.exists() and leftovers(tmp_path) == []
