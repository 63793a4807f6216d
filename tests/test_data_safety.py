"""Nothing outside the outputs portraitcli reports is ever removed or changed (cp's habits)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.conftest import make_person_clip, photo_folder, run_portraitcli


def _tree(folder: Path) -> dict[str, str]:
    """Every file under folder with its sha256 (relative path -> digest)."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            p = Path(root) / name
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_one_video_into_an_existing_folder_goes_inside_it(tmp_path, astronaut_rgb):
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    make_person_clip(folder / "clip.mp4", astronaut_rgb, seconds=0.4)
    make_person_clip(tmp_path / "other.mp4", astronaut_rgb, seconds=0.4)
    (folder / "sub" / "notes.txt").write_text("keep")
    before = _tree(folder)
    # the input inside the folder: DEST would be the input itself, refused, nothing touched
    proc = run_portraitcli("blur", folder / "clip.mp4", folder, "--overwrite")
    assert proc.returncode != 0 and b"input itself" in proc.stderr
    assert _tree(folder) == before
    # another video: written inside the folder, like cp; every file already there unchanged
    proc = run_portraitcli("blur", tmp_path / "other.mp4", folder, "--overwrite")
    assert proc.returncode == 0, proc.stderr
    after = _tree(folder)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {"other.mp4"}


def test_png_sequence_only_replaces_a_sequence_of_its_own(tmp_path, astronaut_rgb):
    clip = make_person_clip(tmp_path / "clip.mp4", astronaut_rgb, seconds=0.4, audio=False)
    seq = tmp_path / "frames"
    assert run_portraitcli("segment", clip, str(seq) + "/").returncode == 0
    assert len(list(seq.glob("frame_*.png"))) == 6
    # a file of the user's in our sequence folder: --overwrite refuses, the file stays
    (seq / "mine.txt").write_text("keep")
    proc = run_portraitcli("segment", clip, str(seq) + "/", "--overwrite")
    assert proc.returncode == 1 and b"did not write" in proc.stderr
    assert (seq / "mine.txt").read_text() == "keep" and len(list(seq.glob("frame_*.png"))) == 6
    (seq / "mine.txt").unlink()
    assert run_portraitcli("segment", clip, seq, "--overwrite").returncode == 0
    # a folder of the user's named by --format png: the sequence goes into a new folder inside it
    user = tmp_path / "user"
    user.mkdir()
    (user / "a.txt").write_text("keep")
    assert run_portraitcli("segment", clip, user, "--format", "png").returncode == 0
    assert (user / "a.txt").read_text() == "keep" and len(list((user / "clip").glob("frame_*.png"))) == 6


def _rotated_clip(tmp_path, astronaut_rgb) -> tuple[Path, Path]:
    """A plain clip and the same clip as phones store it: sideways with a display matrix."""
    import subprocess

    from portraitcli.media.video import ffmpeg_exe

    plain = make_person_clip(tmp_path / "plain.mp4", astronaut_rgb, seconds=0.4, audio=False)
    sideways = tmp_path / "sideways.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(plain), "-vf", "transpose=2",
                    "-c:v", "libx264", "-preset", "ultrafast", str(sideways)], check=True)
    phone = tmp_path / "phone.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-display_rotation:v:0", "-90", "-i",
                    str(sideways), "-c", "copy", str(phone)], check=True)
    return plain, phone


def test_png_sequence_of_a_rotated_clip_is_upright(tmp_path, astronaut_rgb):
    import numpy as np
    from PIL import Image

    plain, phone = _rotated_clip(tmp_path, astronaut_rgb)
    for clip, seq in ((plain, tmp_path / "plain_frames"), (phone, tmp_path / "phone_frames")):
        proc = run_portraitcli("cutout", clip, str(seq) + "/")
        assert proc.returncode == 0, proc.stderr
    plain_frames = sorted((tmp_path / "plain_frames").glob("frame_*.png"))
    phone_frames = sorted((tmp_path / "phone_frames").glob("frame_*.png"))
    assert len(phone_frames) == len(plain_frames) == 6
    for a, b in zip(plain_frames, phone_frames):
        upright, shown = np.asarray(Image.open(a)), np.asarray(Image.open(b))
        assert shown.shape == upright.shape == (240, 320, 4)  # as a player shows it, not lying on its side
        assert np.abs(shown[..., 3].astype(int) - upright[..., 3].astype(int)).mean() < 12


def _start(*args: str):
    import signal
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "portraitcli", *map(str, args)], stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_temporary(folder: Path, proc, timeout: float = 120) -> list[Path]:
    import time

    from portraitcli.media.atomic import TEMP_MARK

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        found = [p for p in folder.iterdir() if p.name.startswith(".") and TEMP_MARK in p.name
                 and p.stat().st_size > 0]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("no temporary output appeared while the run went on")


def test_sigterm_and_sighup_stop_like_ctrl_c(tmp_path, astronaut_rgb):
    """kill, timeout, docker stop (SIGTERM) and a closed terminal (SIGHUP): exit 130, nothing left."""
    import signal

    from portraitcli.media.atomic import TEMP_MARK

    clip = make_person_clip(tmp_path / "long.mp4", astronaut_rgb, seconds=40, audio=True)  # still running when signalled
    for sig in (signal.SIGTERM, signal.SIGHUP):
        out = tmp_path / f"out_{sig.name}"
        out.mkdir()
        proc = _start("cutout", clip, out / "out.mov")
        _wait_for_temporary(out, proc)
        proc.send_signal(sig)  # to portraitcli alone, as `kill` and `timeout` do
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert b"interrupted" in err and b"Traceback" not in err
        assert [p.name for p in out.iterdir()] == [], f"{sig.name} left {list(out.iterdir())}"
    # the same for a photo batch in worker processes, the signal sent to the whole group (systemd)
    src = photo_folder(tmp_path / "photos", astronaut_rgb, 1024, 30)
    out = tmp_path / "batch"
    proc = _start("cutout", "--jobs", "2", src, out)
    import time

    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and list(out.glob("*.png"))):
        time.sleep(0.05)
    import os

    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not [p for p in out.iterdir() if TEMP_MARK in p.name]
    for p in out.glob("*.png"):
        Image.open(p).load()


def test_next_run_sweeps_temporaries_a_killed_run_left(tmp_path, astronaut_rgb):
    """SIGKILL cannot be handled: the next run into the folder removes what it left, and only
    that (a file of the user's, or a temporary still being written, is kept)."""
    import os
    import signal
    import time

    clip = make_person_clip(tmp_path / "long.mp4", astronaut_rgb, seconds=12, audio=False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.portraitcli-tmp.txt").write_text("keep: not a name of ours")
    proc = _start("cutout", clip, out / "out.mov")
    left = _wait_for_temporary(out, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert all(p.exists() for p in left)
    old = time.time() - 3600
    for p in left:
        os.utime(p, (old, old))
    # another run still writing here: its pid is alive (this test's), or its file is fresh
    busy = out / f".other.0123abcd-{os.getpid()}.portraitcli-tmp.png"
    fresh = out / ".fresh.89abcdef.portraitcli-tmp.png"
    for p in (busy, fresh):
        p.write_bytes(b"being written")
    os.utime(busy, (old, old))
    short = make_person_clip(tmp_path / "short.mp4", astronaut_rgb, seconds=0.4, audio=False)
    proc = run_portraitcli("cutout", short, out / "short.mov")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted([busy.name, fresh.name, "notes.portraitcli-tmp.txt",
                                                            "short.mov"])


def _decoded_frames(path: Path) -> int:
    """Frames a player shows: decoded, after the container's edit list (discarded samples dropped)."""
    import subprocess

    from portraitcli.media.video import ffmpeg_exe

    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:v:0",
                          "-vf", "scale=64:36", "-f", "framecrc", "-"], capture_output=True, text=True, check=True)
    return sum(1 for ln in out.stdout.splitlines() if ln and not ln.startswith("#"))


def test_every_frame_out_at_1080p(tmp_path, astronaut_rgb):
    """A 1080p raw frame fills most of ffmpeg's probe: the encoder took the rate from one frame,
    gave the last one no duration, and the mp4's edit list hid it (299 of 300 frames)."""
    from portraitcli.media.video import probe

    clip = make_person_clip(tmp_path / "hd.mp4", astronaut_rgb, seconds=0.7, fps=30, size=(1920, 1080))
    assert _decoded_frames(clip) == 21
    for command, name in (("blur", "out.mp4"), ("cutout", "out.mov")):
        proc = run_portraitcli(command, clip, tmp_path / name)
        assert proc.returncode == 0, proc.stderr
        assert _decoded_frames(tmp_path / name) == 21, name
        assert probe(tmp_path / name).fps == 30


def test_truncated_video_fails_unless_accepted(tmp_path, astronaut_rgb):
    import json

    clip = make_person_clip(tmp_path / "whole.mp4", astronaut_rgb, seconds=2, fps=15,
                            extra_args=["-movflags", "+faststart"])
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 4 // 10])  # a download or copy that stopped at 40%
    out = tmp_path / "out"
    proc = run_portraitcli("blur", cut, out / "cut.mp4", "--report", tmp_path / "r.json")
    assert proc.returncode == 1, proc.stderr
    line = proc.stderr.decode().strip().splitlines()[0]
    assert line.startswith(f"portraitcli: {cut}: input ended early: ") and "of 30 frames declared" in line
    assert not out.exists() or list(out.iterdir()) == []  # no short output under the final name
    entry = json.loads((tmp_path / "r.json").read_text())["files"][0]
    assert entry["status"] == "failed" and entry["ended_early"] is True
    proc = run_portraitcli("blur", cut, out / "cut.mp4", "--report", tmp_path / "r.json", "--accept-truncated")
    assert proc.returncode == 0, proc.stderr
    assert b"input ended early" in proc.stderr
    entry = json.loads((tmp_path / "r.json").read_text())["files"][0]
    assert entry["status"] == "done" and entry["ended_early"] is True
    assert 0 < entry["frames"] < 30 and _decoded_frames(out / "cut.mp4") == entry["frames"]
    # the whole file: no word, every frame counted in the report
    proc = run_portraitcli("blur", clip, out / "whole.mp4", "--report", tmp_path / "r.json")
    assert proc.returncode == 0 and b"ended early" not in proc.stderr
    entry = json.loads((tmp_path / "r.json").read_text())["files"][0]
    assert entry["ended_early"] is False and entry["frames"] == 30 == _decoded_frames(out / "whole.mp4")
