"""Video and streams end to end: audio bit-exact, timestamps, rotation, alpha codecs, pipes."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from portraitcli.media.video import ffmpeg_exe, probe
from tests.conftest import frame_pts, make_person_clip, run_portraitcli, stream_packets


def decode_frames(path, pix_fmt="rgb24", extra_in=()) -> np.ndarray:
    info = probe(path, with_timestamps=False)
    w, h = info.width, info.height
    channels = {"rgb24": 3, "rgba": 4, "gray": 1}[pix_fmt]
    raw = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *extra_in, "-noautorotate", "-i", str(path),
                          "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, channels)


def test_blur_keeps_audio_bit_exact_frames_and_timestamps(person_clip, tmp_path):
    out = tmp_path / "blur.mp4"
    proc = run_portraitcli("blur", person_clip, out)
    assert proc.returncode == 0, proc.stderr
    assert stream_packets(out, "0:a:0") == stream_packets(person_clip, "0:a:0")  # audio untouched
    assert frame_pts(out) == frame_pts(person_clip)
    src, dst = probe(person_clip), probe(out)
    assert (dst.width, dst.height, dst.fps) == (src.width, src.height, src.fps)
    assert abs(dst.duration - src.duration) < 0.05
    frames = decode_frames(out)
    assert len(frames) == 15


def test_no_audio_means_no_audio(tmp_path, astronaut_rgb):
    clip = make_person_clip(tmp_path / "silent.mp4", astronaut_rgb, audio=False)
    out = tmp_path / "out.mp4"
    assert run_portraitcli("blur", clip, out).returncode == 0
    assert not probe(out).has_audio and len(decode_frames(out)) == 15


def variable_rate_clip(person_clip: Path, path: Path) -> Path:
    """person_clip with frames 3, 4 and 9 dropped: 12 frames at uneven intervals."""
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(person_clip), "-vf",
                    "select='not(eq(n\\,3)+eq(n\\,4)+eq(n\\,9))'", "-fps_mode", "vfr", "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:a", "copy", str(path)], check=True)
    return path


def test_variable_frame_rate_timestamps_kept(person_clip, tmp_path):
    vfr = variable_rate_clip(person_clip, tmp_path / "vfr.mkv")
    out = tmp_path / "out.mkv"
    assert run_portraitcli("segment", vfr, out).returncode == 0
    pts_in, pts_out = frame_pts(vfr), frame_pts(out)
    assert len(pts_in) == 12 and pts_out == pts_in
    assert len(set(np.diff(pts_in))) > 1  # really variable


def test_variable_frame_rate_kept_in_mp4(person_clip, tmp_path):
    """mp4 keeps the source's own time base: every timestamp exactly, not moved onto the
    average frame rate's grid (the encoder once timed itself by the declared frame duration)."""
    vfr = variable_rate_clip(person_clip, tmp_path / "vfr.mp4")
    out = tmp_path / "out.mp4"
    assert run_portraitcli("blur", vfr, out).returncode == 0
    pts_in, pts_out = frame_pts(vfr), frame_pts(out)
    assert len(set(np.diff(pts_in))) > 1  # really variable
    assert pts_out == [p - pts_in[0] for p in pts_in]


def test_rotated_phone_clip_keeps_rotation(person_clip, tmp_path):
    """Stored sideways with a display matrix, as phones record: the model must see the person
    upright, and the output keeps the stored orientation and the same display matrix."""
    rotated = tmp_path / "phone.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(person_clip), "-vf", "transpose=2",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(rotated)], check=True)
    tagged = tmp_path / "phone_tagged.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-display_rotation:v:0", "-90", "-i",
                    str(rotated), "-c", "copy", str(tagged)], check=True)
    assert probe(tagged).rotation == 270
    out = tmp_path / "out.mp4"
    assert run_portraitcli("segment", tagged, out).returncode == 0
    info = probe(out)
    assert info.rotation == 270 and (info.width, info.height) == (240, 320)
    assert stream_packets(out, "0:a:0") == stream_packets(person_clip, "0:a:0")
    displayed = np.rot90(decode_frames(out, "gray")[5, :, :, 0], 3)  # as a player shows it
    plain = tmp_path / "plain.mp4"
    assert run_portraitcli("segment", person_clip, plain).returncode == 0
    matte_plain = decode_frames(plain, "gray")[5, :, :, 0]
    assert displayed.shape == matte_plain.shape
    assert np.abs(displayed.astype(int) - matte_plain.astype(int)).mean() < 12


def test_odd_frame_size(tmp_path, astronaut_rgb):
    clip = make_person_clip(tmp_path / "odd.mkv", astronaut_rgb, size=(161, 121), audio=False,
                            extra_args=["-pix_fmt", "yuv444p"])
    out = tmp_path / "odd_out.mp4"
    proc = run_portraitcli("blur", clip, out)
    assert proc.returncode == 0, proc.stderr
    assert len(decode_frames(out)) == 15


def test_cutout_alpha_round_trips_prores_webm_and_png_sequence(person_clip, tmp_path):
    mov, webm, seq = tmp_path / "c.mov", tmp_path / "c.webm", tmp_path / "frames"
    for dest in (mov, webm):
        proc = run_portraitcli("cutout", person_clip, dest)
        assert proc.returncode == 0, proc.stderr
    assert run_portraitcli("cutout", person_clip, str(seq) + "/").returncode == 0
    assert probe(mov).video_codec == "prores"
    assert stream_packets(mov, "0:a:0") == stream_packets(person_clip, "0:a:0")  # aac fits in mov
    mov_alpha = decode_frames(mov, "rgba")[..., 3]
    webm_alpha = decode_frames(webm, "rgba", extra_in=("-c:v", "libvpx-vp9"))[..., 3]
    pngs = sorted(seq.glob("*.png"))
    assert len(pngs) == 15 and len(mov_alpha) == 15 and len(webm_alpha) == 15
    png_alpha = np.stack([np.asarray(Image.open(p))[..., 3] for p in pngs])
    for alpha in (mov_alpha, webm_alpha):
        assert alpha.min() < 20 and alpha.max() > 235  # real transparency, not a flat plane
        assert np.abs(alpha.astype(int) - png_alpha.astype(int)).mean() < 6  # same matte survives


def test_cutout_to_mp4_composites_and_says_so(person_clip, tmp_path):
    proc = run_portraitcli("cutout", "-b", "green", person_clip, tmp_path / "c.mp4")
    assert proc.returncode == 0 and b"cannot hold alpha" in proc.stderr


def test_replace_background_with_looping_video(person_clip, tmp_path, astronaut_rgb):
    short_bg = tmp_path / "bg.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=200x100:rate=15:duration=0.4", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(short_bg)], check=True)
    out = tmp_path / "r.mp4"
    proc = run_portraitcli("replace-bg", "-b", short_bg, person_clip, out)
    assert proc.returncode == 0, proc.stderr
    assert len(decode_frames(out)) == 15  # background looped (6 frames) to the clip's length


@pytest.mark.parametrize("container", ["nut", "matroska", "mpegts"])
def test_stdin_to_stdout_stream(person_clip, container):
    feed = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(person_clip), "-c:v",
                           "libx264", "-preset", "ultrafast", "-c:a", "aac", "-f", container, "-"],
                          capture_output=True, check=True).stdout
    proc = run_portraitcli("blur", "-", "-", "--format", "nut", input=feed)
    assert proc.returncode == 0, proc.stderr
    back = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", "-", "-f", "null", "-"], input=proc.stdout,
                          capture_output=True)
    text = back.stderr.decode()
    assert "Video: h264" in text and "Audio:" in text
    assert "frame=   15" in text or "frame=15" in text.replace(" ", "")


def test_video_folder_batch_and_skip(tmp_path, astronaut_rgb):
    src = tmp_path / "clips"
    src.mkdir()
    make_person_clip(src / "a.mp4", astronaut_rgb, seconds=0.4, audio=False)
    make_person_clip(src / "b.mov", astronaut_rgb, seconds=0.4, audio=False)
    (src / "c.mp4").write_bytes(b"not a video at all")
    out = tmp_path / "out"
    proc = run_portraitcli("blur", src, out)
    assert proc.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mov"]
    assert b"c.mp4" in proc.stderr and b"2 done, 0 skipped, 1 failed" in proc.stderr
    again = run_portraitcli("blur", src, out)
    assert b"0 done, 2 skipped, 1 failed" in again.stderr


def test_temporal_smoothing_cuts_flicker_without_lag():
    from portraitcli.matting.temporal import TemporalSmoother

    rng = np.random.default_rng(0)
    truth = np.zeros((64, 64), np.float32)
    truth[:, 32:] = 1
    edge = np.abs(np.arange(64) - 32) < 4  # the uncertain band where real mattes flicker
    truth[:, edge] = 0.5
    frames = [np.clip(truth + rng.normal(0, 0.1, truth.shape) * edge, 0, 1).astype(np.float32) for _ in range(30)]
    raw = TemporalSmoother(0.0)
    smooth = TemporalSmoother(0.7)
    out_raw = [raw.smooth(f) for f in frames]
    out_smooth = [smooth.smooth(f) for f in frames]

    def flicker(seq):
        return float(np.mean([np.abs(b - a).mean() for a, b in zip(seq, seq[1:])]))

    assert flicker(out_smooth) < 0.5 * flicker(out_raw)
    # a confident jump (the person moves) passes in the very same frame: no trailing
    moved = np.zeros_like(truth)
    moved[:, 10:] = 1
    assert smooth.smooth(moved)[:, 12:30].min() > 0.95
    # a scene cut resets the state
    cut = TemporalSmoother(0.9)
    a = np.zeros((8, 8, 3), np.uint8)
    cut.smooth(np.full((16, 16), 0.45, np.float32), a)
    result = cut.smooth(np.full((16, 16), 0.55, np.float32), a + 200)
    assert cut.scene_cuts == 1 and np.allclose(result, 0.55)


def test_failing_ffmpeg_reports_its_own_error(person_clip, tmp_path):
    out = tmp_path / "bad.mp4"
    # a real encoder the container refuses: only ffmpeg finds that out (an unknown --codec is a usage error)
    proc = run_portraitcli("blur", "--codec", "prores_ks", person_clip, out)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    line = [ln for ln in err.splitlines() if "bad.mp4" in ln]
    assert len(line) == 1 and "ffmpeg encoder" in line[0] and "Invalid argument" in line[0]
    assert "portraitcli-tmp" not in line[0]
    assert "Traceback" not in err and not out.exists() and list(tmp_path.glob(".bad*")) == []


def decode_planes(path) -> np.ndarray:
    """Frames as stored yuv420p bytes, (frames, H * 3/2, W)."""
    info = probe(path, with_timestamps=False)
    raw = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, info.height * 3 // 2, info.width)


def test_yuv420p_video_travels_planar_untouched_where_nothing_changes(person_clip, tmp_path):
    """blur works on the decoder's own 4:2:0 planes: with no blur asked for, every sample of
    every frame comes out exactly as decoded (no RGB round trip, no colour shift)."""
    out = tmp_path / "same.mkv"
    proc = run_portraitcli("blur", "--strength", "0", "--codec", "rawvideo", person_clip, out)
    assert proc.returncode == 0, proc.stderr
    assert probe(out, with_timestamps=False).pix_fmt == "yuv420p"
    assert np.array_equal(decode_planes(out), decode_planes(person_clip))


def test_planar_blur_matches_the_rgb_path(person_clip, tmp_path, astronaut_rgb, monkeypatch):
    """The I420 blur and the RGB blur are the same effect: outputs agree to within rounding,
    the person (left untouched) and the background (really blurred) alike."""
    from portraitcli import effects
    from portraitcli.matting import refine as matte
    from portraitcli.media.frames import I420
    from portraitcli.media.video import VideoReader
    from portraitcli.matting.segmenter import Segmenter

    seg = Segmenter()
    with VideoReader(person_clip, planar=True) as planar_reader, VideoReader(person_clip) as rgb_reader:
        assert planar_reader.planar and not rgb_reader.planar
        (_, _, frame), (_, _, rgb) = next(iter(planar_reader)), next(iter(rgb_reader))
    assert isinstance(frame, I420)
    prob = seg.frame_probability(frame)
    assert np.abs(prob - seg.frame_probability(rgb)).mean() < 0.01  # the model sees the same picture
    alpha = matte.full_resolution(prob, frame)
    via_planes = effects.blur_background_i420(frame, alpha, 0.5).to_rgb()
    via_rgb = effects.blur_background(rgb, alpha, 0.5)
    diff = np.abs(via_planes.astype(np.int16) - via_rgb).mean(axis=2)
    assert diff.mean() < 3.0, diff.mean()
    background = alpha < 0.05
    assert np.abs(via_planes.astype(np.int16) - rgb)[background].mean() > 2  # it did blur


def test_colour_tags_survive_the_planar_path(tmp_path, astronaut_rgb):
    clip = make_person_clip(tmp_path / "bt709.mp4", astronaut_rgb, audio=False, extra_args=[
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"])
    tags = probe(clip, with_timestamps=False).colour
    assert tags["-colorspace"] == "bt709" and tags["-color_range"] == "tv"
    out = tmp_path / "out.mp4"
    assert run_portraitcli("blur", clip, out).returncode == 0
    assert probe(out, with_timestamps=False).colour == probe(clip, with_timestamps=False).colour


def test_live_mailbox_keeps_only_the_newest_frame():
    import threading
    import time

    from portraitcli.pipeline import _END, LatestSlot

    slot = LatestSlot()
    for i in range(5):
        slot.put(i)  # a camera running ahead of a busy model
    assert slot.get() == 4 and slot.dropped == 4
    got = []

    def consume():
        while (item := slot.get()) is not _END:
            got.append(item)
            time.sleep(0.01)

    reader = threading.Thread(target=consume)
    reader.start()
    for i in range(5, 40):
        slot.put(i)
        time.sleep(0.002)
    slot.put(_END)
    reader.join(5)
    assert not reader.is_alive()
    assert got == sorted(got) and got[-1] == 39  # in order, and the last frame is never lost
    assert slot.dropped + len(got) == 39 and slot.dropped > 10


def test_video_matte_holds_still_scenes_and_follows_motion_at_once(astronaut_rgb):
    """On a still camera (only sensor noise changes), the full-resolution matte of video mode
    flickers far less than frame-by-frame; when the picture moves, it follows in that frame."""
    from portraitcli.matting.segmenter import Segmenter

    rng = np.random.default_rng(3)
    base = astronaut_rgb[:, :384]
    frames = [np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    per_frame, video = Segmenter(smooth=0.0), Segmenter(smooth=0.6)  # both on the video path
    still_raw = [per_frame.matte(f, video=True) for f in frames]
    still_video = [video.matte(f, video=True) for f in frames]

    def flicker(seq):
        return float(np.mean([np.abs(b - a).mean() for a, b in zip(seq, seq[1:])]))

    assert flicker(still_video) < 0.5 * flicker(still_raw)
    moved = np.ascontiguousarray(np.roll(frames[-1], 60, axis=1))
    follow, truth = video.matte(moved, video=True) > 0.5, per_frame.matte(moved, video=True) > 0.5
    assert np.count_nonzero(follow & truth) / np.count_nonzero(follow | truth) > 0.97


def test_ordered_alpha_smoothing_waits_for_its_turn():
    """Compositor threads finish in any order; the full-resolution pass still runs frame by frame."""
    import threading

    from portraitcli.matting.temporal import TemporalSmoother

    smoother = TemporalSmoother(0.6)
    weight = np.full((4, 4), 0.5, np.float32)
    threads = []
    for seq in (2, 0, 1):  # started out of order
        value = np.full((8, 8), float(seq), np.float32)
        threads.append(threading.Thread(target=smoother.smooth_alpha, args=(value, weight, seq)))
        threads[-1].start()
    for t in threads:
        t.join(5)
    # in order: 0, then 0 + 0.5 * (1 - 0) = 0.5, then 0.5 + 0.5 * (2 - 0.5) = 1.25 (any other
    # order ends elsewhere, e.g. 2, 0, 1 ends at 1.0)
    assert np.allclose(smoother.previous_alpha, 1.25)


def read_frames(path, count: int) -> list:
    import cv2

    capture, frames = cv2.VideoCapture(str(path)), []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame.astype(int))
    return frames


@pytest.mark.parametrize("command", ["blur", "segment"])
def test_capture_device_path_end_to_end(tmp_path, astronaut_rgb, command):
    """The live path (capture -> pipeline -> encoder) on a clip opened as OpenCV opens a
    camera: blur and segment take I420 frames from the camera, as the file path does."""
    import cv2

    from portraitcli.batch.plan import Task
    from portraitcli.batch.worker import Worker
    from portraitcli.media.devices import CameraSource
    from portraitcli.options import RenderOptions, Settings
    from portraitcli.batch.task import run_task

    clip = make_person_clip(tmp_path / "camera.mp4", astronaut_rgb, audio=False, seconds=1.0)
    with CameraSource(str(clip), planar=True) as camera:
        assert camera.planar
    # lossless encodes (crf 0): x264's lossy choices for a frame depend on the frames after it,
    # which differ when the live path skips frames, and put up to 5 levels of noise on a matte
    worker = Worker(Settings(render=RenderOptions(command=command), crf=0), threads=None)
    out = tmp_path / f"live_{command}.mp4"
    run_task(Task(str(clip), str(out), "live"), worker)
    info = probe(out, with_timestamps=False)
    assert (info.width, info.height) == (320, 240)
    result = cv2.VideoCapture(str(out))
    ok, first_out = result.read()
    assert ok
    frames_out = 1 + sum(1 for _ in iter(lambda: result.read()[0], False))
    assert 1 <= frames_out <= 15  # a live source skips frames the model has no time for
    # The live path's first output has no temporal history: it must match the file path's output
    # for the same input frame. On a busy machine the live source may skip frame 0 as stale, so
    # that frame is found as the closest one (the person moves 4 px a frame); the file path runs
    # without temporal smoothing, so that each of its frames is history-free too (with it, frame
    # 3 was 1.3-2.6 levels off, enough to fail the bound under load).
    reference = tmp_path / f"file_{command}.mp4"
    history_free = Worker(Settings(render=RenderOptions(command=command), smooth=0.0, crf=0), threads=None)
    run_task(Task(str(clip), str(reference), "video"), history_free)
    file_frames, inputs = read_frames(reference, 100), read_frames(clip, 100)
    gaps = [np.abs(first_out.astype(int) - f).mean() for f in file_frames]
    index = int(np.argmin(gaps))
    # (within a level or so: OpenCV's capture decodes and converts colour on its own, not as
    # ffmpeg's I420; 0.2-0.8 measured, the next frame 8-16 levels away)
    assert gaps[index] < 1.5 and sorted(gaps)[1] > 3 * gaps[index]  # and that frame is unambiguous
    first_in = inputs[index]
    if command == "segment":
        assert first_out[:, 260:].mean() < 20  # the plain backdrop right of the person is 0
        assert first_out[120, 60].mean() > 200  # the astronaut is 1
    else:
        assert np.abs(first_out[100:140, 40:80].astype(int) - first_in[100:140, 40:80]).mean() < 8  # person kept


def test_live_frames_convert_for_every_sink(astronaut_rgb):
    """Camera frames in either layout, and every renderer output, reach windows and virtual
    cameras as BGR / I420 with the picture intact."""
    import cv2

    from portraitcli.media.frames import I420
    from portraitcli.media.devices import camera_frame, to_bgr

    bgr = cv2.cvtColor(cv2.resize(astronaut_rgb, (320, 240)), cv2.COLOR_RGB2BGR)
    planar = camera_frame(bgr, planar=True)
    assert isinstance(planar, I420) and planar.shape == (240, 320)
    assert np.abs(to_bgr(planar).astype(int) - bgr).mean() < 3  # 4:2:0 round trip
    assert np.array_equal(camera_frame(bgr, planar=False), bgr[:, :, ::-1])
    grey = np.full((240, 320), 200, np.uint8)
    assert to_bgr(grey).shape == (240, 320, 3) and to_bgr(grey)[0, 0].tolist() == [200, 200, 200]
    rgba = np.dstack([bgr[:, :, ::-1], np.full((240, 320), 255, np.uint8)])
    assert np.array_equal(to_bgr(rgba), bgr)


def test_virtual_camera_gets_i420_frames_of_its_size(tmp_path, astronaut_rgb):
    """What a v4l2loopback device receives (no such device here: the sink writes to a file
    instead of /dev/videoN, past the format ioctl): I420 frames of the device's size, whatever
    the renderer produced."""
    import os

    import cv2

    from portraitcli.media.frames import I420
    from portraitcli.media.devices import V4L2LoopbackSink, camera_frame

    rgb = cv2.resize(astronaut_rgb, (320, 240))
    sink = object.__new__(V4L2LoopbackSink)
    sink.width, sink.height = 320, 240
    target = tmp_path / "virtual_camera.yuv"
    sink.fd = os.open(target, os.O_WRONLY | os.O_CREAT)
    planar = camera_frame(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), planar=True)
    sink.write(planar, 0)  # blur's I420 output goes out as it is
    sink.write(rgb, 1)  # replace-bg / cutout: RGB
    sink.write(np.full((240, 320), 255, np.uint8), 2)  # segment: a matte
    sink.close()
    data = np.frombuffer(target.read_bytes(), np.uint8).reshape(3, 240 * 3 // 2, 320)
    assert np.array_equal(data[0], planar.buffer)
    back = cv2.cvtColor(data[1], cv2.COLOR_YUV2RGB_I420)
    assert np.abs(back.astype(int) - rgb).mean() < 3
    matte = I420(data[2].copy(), 320, 240)
    assert matte.y.min() > 230 and abs(int(matte.u.mean()) - 128) <= 1  # white, no colour


def test_video_matte_is_the_stages_in_order_on_every_path(tmp_path, astronaut_rgb):
    """A clip's mattes from the threaded pipeline and from Segmenter.matte(video=True) are,
    bit for bit, the stages composed by hand in frame order: network (one look, no mirror),
    temporal filter at the model's size, sticky subjects, refinement with the video fit, and the
    temporal filter's second pass with the same weights. I420 frames (blur and segment) and RGB."""
    from portraitcli.media.frames import Pyramid
    from portraitcli.matting.refine import VIDEO_FIT, full_resolution
    from portraitcli.media.video import VideoReader
    from portraitcli.pipeline import run_video
    from portraitcli.matting.segmenter import Segmenter
    from portraitcli.matting.subjects import SubjectFilter
    from portraitcli.matting.temporal import TemporalSmoother

    clip = make_person_clip(tmp_path / "c.mp4", astronaut_rgb, seconds=0.8, shift=12, audio=False)
    seg = Segmenter(device="cpu", threads=1)
    for planar in (True, False):
        with VideoReader(clip, planar=planar) as reader:
            frames = [(i, pts, frame) for i, pts, frame in reader]
        smoother, subjects, expected = TemporalSmoother(0.6), SubjectFilter("main"), []
        for _, _, frame in frames:
            small = seg.model.shrink(frame)
            cuts = smoother.scene_cuts
            prob = smoother.smooth(seg.model.predict_small(small), small)
            if smoother.scene_cuts != cuts:
                subjects.reset()
            prob = subjects(prob, sticky=True)
            alpha = full_resolution(prob, frame, True, VIDEO_FIT)
            expected.append(smoother.smooth_alpha(alpha, smoother.weight).copy())
        assert any(not np.array_equal(a, b) for a, b in zip(expected, expected[1:]))  # the person moves

        class Collect:
            got: list = []

            def write(self, pixels, pts):
                self.got.append(pixels)

        sink = Collect()
        run_video(iter(frames), sink, seg, lambda frame, alpha, index, rotation: alpha.copy(), workers=2)
        assert len(sink.got) == len(expected)
        assert all(np.array_equal(a, b) for a, b in zip(sink.got, expected))
        if not planar:
            seg.reset()
            direct = [seg.matte(Pyramid(frame), video=True).copy() for _, _, frame in frames]
            assert all(np.array_equal(a, b) for a, b in zip(direct, expected))
