"""--watch, the hot folder: a real `portraitcli cutout --watch` in a subprocess, fed a photo
copied in slowly in parts; it must wait until the file is complete, process it once, mirror it,
append it to the report, and end cleanly on SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from portraitcli.batch.watch import Settler
from tests.conftest import ROOT, run_portraitcli


def wait_for(condition, timeout=60.0, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return False


def report_files(report: Path) -> list[dict]:
    try:
        return json.loads(report.read_text())["files"]
    except (OSError, ValueError):
        return []


def jpeg_bytes(rgb) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def start_watch(tmp_path, polling: bool):
    src, out, report = tmp_path / "hot", tmp_path / "out", tmp_path / "report.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PORTRAITCLI_CONFIG", None)
    if polling:
        env["PORTRAITCLI_WATCH_POLLING"] = "1"
    log = open(tmp_path / "stderr.txt", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "portraitcli", "cutout", "--watch", "-j", "1", "--report",
                             str(report), str(src), str(out)], stderr=log, stdout=subprocess.DEVNULL, env=env)
    return proc, src, out, report


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_watch_processes_a_slow_copy_once_complete(tmp_path, astronaut_rgb, polling):
    from skimage import data

    (tmp_path / "hot" / "day1").mkdir(parents=True)
    Image.fromarray(astronaut_rgb).save(tmp_path / "hot" / "first.jpg")
    proc, src, out, report = start_watch(tmp_path, polling)
    try:
        assert wait_for(lambda: (out / "first.png").exists()), (tmp_path / "stderr.txt").read_text()
        assert wait_for(lambda: b"watching" in (tmp_path / "stderr.txt").read_bytes(), timeout=10)
        # a photo arriving slowly, in three parts with pauses longer than the settle time of a
        # closed file, the file held open throughout as a copy or a tethered camera does
        payload = jpeg_bytes(astronaut_rgb[:, ::-1])
        target = src / "day1" / "IMG_0002.jpg"
        parts = [payload[: len(payload) // 3], payload[len(payload) // 3: 2 * len(payload) // 3],
                 payload[2 * len(payload) // 3:]]
        with open(target, "wb") as f:
            for part in parts[:2]:
                f.write(part)
                f.flush()
                time.sleep(1.2)
                assert not (out / "day1" / "IMG_0002.png").exists()  # incomplete: not touched
            f.write(parts[2])
        assert wait_for(lambda: (out / "day1" / "IMG_0002.png").exists(), timeout=30)
        assert wait_for(lambda: len(report_files(report)) == 2, timeout=10)
        cut = np.asarray(Image.open(out / "day1" / "IMG_0002.png"))
        assert cut.shape == (512, 512, 4) and cut[100:160, 260:320, 3].mean() > 230  # the mirrored face
        # a changed photo is processed again; its old output replaced
        before = (out / "first.png").read_bytes()
        (src / "first.jpg").write_bytes(jpeg_bytes(data.coffee()))
        assert wait_for(lambda: len(report_files(report)) == 3, timeout=30)
        time.sleep(1.0 if not polling else 3.0)  # nothing more comes: each file once per change
        files = report_files(report)
        assert [Path(f["input"]).name for f in files] == ["first.jpg", "IMG_0002.jpg", "first.jpg"]
        assert all(f["status"] == "done" for f in files)
        assert (out / "first.png").read_bytes() != before
        assert Image.open(out / "first.png").size == (600, 400)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    assert code == 0
    assert not [p for p in out.rglob("*") if ".portraitcli-tmp" in p.name]
    assert b"3 done, 0 skipped, 0 failed" in (tmp_path / "stderr.txt").read_bytes()


def test_watch_needs_folders(tmp_path, astronaut_png):
    proc = run_portraitcli("blur", "--watch", astronaut_png, tmp_path / "out.jpg")
    assert proc.returncode == 2 and b"--watch needs SRC folders" in proc.stderr


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_settler_waits_for_close_or_stable_size(tmp_path):
    clock = Clock()
    settler = Settler(closed_quiet=0.5, stable=2.0, clock=clock)
    path = tmp_path / "a.jpg"
    path.write_bytes(b"x" * 10)
    settler.touched(str(path))
    clock.now = 1.9
    assert settler.ready() == []  # growing files hold still between writes too
    with open(path, "ab") as f:
        f.write(b"y")
    settler.touched(str(path))  # a change restarts the wait
    clock.now = 3.0
    assert settler.ready() == []
    settler.touched(str(path), closed=True)
    clock.now = 3.5
    assert settler.ready() == [str(path)]  # closed after writing and quiet: complete
    assert settler.ready() == []  # handed out once
    settler.touched(str(path))
    with open(path, "ab") as f:
        f.write(b"z")  # written again without a notice: found at the check, wait restarts
    clock.now = 6.0
    assert settler.ready() == []
    clock.now = 8.1
    assert settler.ready() == [str(path)]
    inotify = Settler(closed_quiet=0.5, stable=10.0, clock=clock)
    inotify.touched(str(path))
    clock.now = 17.0
    assert inotify.ready() == []  # with close events, an open file waits for its close (or 10 s still)
