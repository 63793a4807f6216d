"""A long video in parallel pieces (--split-over, --jobs > 1): the joined output keeps every
frame, timestamp, the rotation and the audio of a whole run, and the matte at the joins."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from portraitcli.media.atomic import TEMP_MARK
from portraitcli.media.video import VideoReader, ffmpeg_exe, probe
from portraitcli.batch.pieces import plan_pieces
from tests.conftest import frame_pts, make_person_clip, run_portraitcli, stream_packets


def long_clip(folder: Path, rgb: np.ndarray, seconds: float = 6) -> Path:
    """A clip with a variable frame rate (every 7th frame dropped), B-frames, a keyframe every 15
    frames, audio, and a 90-degree display rotation."""
    plain = make_person_clip(folder / "plain.mp4", rgb, seconds=seconds, fps=15,
                             extra_args=["-vf", "select='mod(n\\,7)'", "-fps_mode", "vfr", "-preset", "veryfast",
                                         "-g", "15", "-sc_threshold", "0"])
    rotated = folder / "long.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-display_rotation:v:0", "90", "-i",
                    str(plain), "-c", "copy", str(rotated)], check=True)
    return rotated


def mattes(path: Path) -> np.ndarray:
    return np.stack([frame.astype(np.int16) for _, _, frame in VideoReader(path)])


def compare_split_to_whole(split: Path, whole: Path, joins: list[int]) -> dict:
    """What must match exactly (frames, timestamps, audio packets, rotation) and the matte's
    difference at the joins against the frame-to-frame change of the whole run."""
    assert frame_pts(split) == frame_pts(whole)
    assert stream_packets(split, "0:a:0") == stream_packets(whole, "0:a:0")  # audio bit for bit
    assert probe(split).rotation == probe(whole).rotation == 90
    a, b = mattes(whole), mattes(split)
    assert a.shape == b.shape
    per_frame = np.abs(a - b).mean(axis=(1, 2))
    step = np.abs(np.diff(a, axis=0)).mean(axis=(1, 2))
    at_joins = max(per_frame[max(0, j - 2): j + 3].max() for j in joins)
    return {"at_joins": float(at_joins), "anywhere": float(per_frame.max()), "frame_to_frame": float(np.median(step))}


def test_pieces_start_at_keyframes_with_a_warmup(tmp_path, astronaut_rgb):
    clip = long_clip(tmp_path, astronaut_rgb, seconds=6)
    info = probe(clip)
    pieces = plan_pieces(info, 3, tmp_path, ".mp4")
    keys = {info.timestamps.index(k) for k in info.keyframes}
    assert len(set(np.diff(info.timestamps))) > 1  # really variable
    assert len(info.timestamps) == 77  # 90 frames less every 7th
    assert [p.first for p in pieces] == [0, 30, 45]  # a keyframe every 15 frames, near the thirds
    assert all(p.first in keys for p in pieces)
    assert [p.end for p in pieces] == [30, 45, 77]
    second = round(float(info.fps))
    assert second >= 12 and [p.warmup for p in pieces] == [0, 30 - second, 45 - second]  # a second before the cut


def test_long_video_in_pieces_matches_a_whole_run(tmp_path, astronaut_rgb):
    clip = long_clip(tmp_path, astronaut_rgb, seconds=6)
    # lossless matte video (x264 crf 0): the comparison sees the matte itself, not encoder noise
    whole = run_portraitcli("segment", "--crf", "0", "--split-over", "0", clip, tmp_path / "whole.mp4")
    assert whole.returncode == 0, whole.stderr
    split = run_portraitcli("segment", "-v", "--crf", "0", "--jobs", "2", "--split-over", "3", clip,
                            tmp_path / "split.mp4")
    assert split.returncode == 0, split.stderr
    assert b"2 pieces from frames [0, 45]" in split.stderr
    diff = compare_split_to_whole(tmp_path / "split.mp4", tmp_path / "whole.mp4", joins=[45])
    print("matte difference (grey levels):", diff)
    # the warm-up gives the temporal filter its state: the joins are as a whole run
    assert diff["at_joins"] <= 0.05 * diff["frame_to_frame"], diff
    assert [p.name for p in tmp_path.iterdir() if ".portraitcli-tmp" in p.name] == []
    # a lossy encode has B-frames (decoded before they show): the pieces' timestamps still line up
    for name, split_over in (("blur_whole.mp4", "0"), ("blur_split.mp4", "3")):
        proc = run_portraitcli("blur", "--jobs", "2", "--split-over", split_over, clip, tmp_path / name)
        assert proc.returncode == 0, proc.stderr
    assert frame_pts(tmp_path / "blur_split.mp4") == frame_pts(tmp_path / "blur_whole.mp4")
    assert stream_packets(tmp_path / "blur_split.mp4", "0:a:0") == stream_packets(tmp_path / "blur_whole.mp4", "0:a:0")


def test_short_video_and_one_job_are_not_split(tmp_path, astronaut_rgb):
    clip = long_clip(tmp_path, astronaut_rgb, seconds=3)
    one_job = run_portraitcli("blur", "-v", "--jobs", "1", "--split-over", "1", clip, tmp_path / "a.mp4")
    short = run_portraitcli("blur", "-v", "--jobs", "2", "--split-over", "5", clip, tmp_path / "b.mp4")
    for proc in (one_job, short):
        assert proc.returncode == 0, proc.stderr
        assert b"pieces" not in proc.stderr
    source = frame_pts(clip)
    assert frame_pts(tmp_path / "a.mp4") == frame_pts(tmp_path / "b.mp4") == [p - source[0] for p in source]


def test_ctrl_c_during_pieces_leaves_nothing_and_a_rerun_completes(tmp_path, astronaut_rgb):
    import os
    import signal
    import sys
    import time

    clip = long_clip(tmp_path, astronaut_rgb, seconds=8)
    dest = tmp_path / "out" / "blurred.mp4"
    args = [sys.executable, "-m", "portraitcli", "blur", "--jobs", "2", "--split-over", "3", str(clip), str(dest)]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    pieces = []
    while time.time() < deadline and not pieces and proc.poll() is None:
        # the pieces' folder holds the encoders' files once the workers are under way
        pieces = list(dest.parent.glob(f".*{TEMP_MARK}.parts/.piece_*")) if dest.parent.exists() else []
        time.sleep(0.02)
    assert pieces, "the pieces never started"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no pieces, no temporaries
    again = run_portraitcli(*args[3:])
    assert again.returncode == 0, again.stderr
    assert len(frame_pts(dest)) == len(frame_pts(clip)) and list(dest.parent.iterdir()) == [dest]


def test_cutout_webm_in_pieces_keeps_alpha_and_the_default_track(tmp_path, astronaut_rgb):
    clip = long_clip(tmp_path, astronaut_rgb, seconds=6)
    for name, split_over in (("whole.webm", "0"), ("split.webm", "3")):
        proc = run_portraitcli("cutout", "--jobs", "2", "--split-over", split_over, clip, tmp_path / name)
        assert proc.returncode == 0, proc.stderr
    whole, split = tmp_path / "whole.webm", tmp_path / "split.webm"
    assert frame_pts(split) == frame_pts(whole)
    assert stream_packets(split, "0:a:0") == stream_packets(whole, "0:a:0")
    for path in (whole, split):
        banner = subprocess.run([ffmpeg_exe(), "-hide_banner", "-c:v", "libvpx-vp9", "-i", str(path)],
                                capture_output=True, text=True).stderr
        video = next(line for line in banner.splitlines() if "Video:" in line)
        assert "yuva420p" in video and "(default)" in video, video  # alpha decoded; players pick the track
        assert b"\x53\xc0\x81\x01" in path.read_bytes()[:4096]  # Matroska AlphaMode = 1: browsers show alpha
