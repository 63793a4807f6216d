"""One task end to end: source -> model -> refinement -> (temporal) -> compositor -> sink.

run_task takes a photo (a file, or bytes on stdin) through the photo path, and anything with
frames (a video file, a stream on stdin, a capture device) through the one video loop:
open_source -> run_frames (matte, render) -> open_sink. Each returns a TaskOutcome: the notes
on what was adapted (e.g. alpha flattened for JPEG), a crop box, the frames written.
"""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from portraitcli.compositing import effects
from portraitcli.allocator import keep_freed_memory
from portraitcli.errors import InputError
from portraitcli.media.frames import Pyramid
from portraitcli.media import photo as photo_io

log = logging.getLogger("portraitcli")

PHOTO_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM")


def looks_like_photo(head: bytes) -> bool:
    return (head.startswith(PHOTO_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
            or photo_io.is_heif(head) or photo_io.is_avif(head))


@dataclass
class TaskOutcome:
    """What a finished task tells the report beyond done: notes, a photo's crop box, a video's
    frames written and whether its input ended early (--accept-truncated)."""

    notes: list[str] = field(default_factory=list)
    crop: dict | None = None
    frames: int | None = None
    ended_early: bool = False


def run_task(task, worker) -> TaskOutcome:
    keep_freed_memory()
    if task.kind == "photo":
        return run_photo(task, worker)
    head = b""
    if task.kind == "stdin":
        head = sys.stdin.buffer.read(64)
        if looks_like_photo(head):
            data = head + sys.stdin.buffer.read()
            return run_photo(task, worker, data=data)
    if task.kind in ("video", "stdin", "live"):
        return run_video_task(task, worker, head)
    raise ValueError(f"unknown task kind {task.kind}")


# --------------------------------------------------------------------------- photos


def photo_output(photo: photo_io.Photo, pixels: Pyramid, alpha: np.ndarray, worker,
                 fmt: str) -> tuple[np.ndarray, list[str], dict | None]:
    """Render and adapt the result to what the output format can hold. pixels: the photo's
    RGB as the Pyramid the matte was made from, so the blur reuses its halvings.
    Returns (pixels, notes, the crop box for the report or None)."""
    s = worker.settings
    notes = list(photo.notes)
    alpha = worker.renderer.edges(alpha)
    source_alpha = photo.alpha
    box = None
    if s.crop:
        from portraitcli.compositing import crop

        box = crop.subject_crop(alpha, crop.CropSpec(s.crop_margin, s.crop_aspect, s.crop_pad))
        notes += box.notes
        canvas = crop.canvas_for(box, *alpha.shape)
        if canvas is not None:
            # the box reaches outside the photo: the effect runs on a canvas that covers both,
            # the photo continued by reflection with no person in it (blurred or replaced
            # background; transparent in a cutout, 0 in a matte)
            pixels = crop.apply_crop(photo.rgb, canvas, "reflect")
            alpha = crop.apply_crop(alpha, canvas)
            if source_alpha is not None:
                source_alpha = crop.apply_crop(source_alpha, canvas)
            box = crop.moved(box, -canvas.left, -canvas.top)
    renderer = worker.renderer
    out, adapted = renderer.effect.render_photo(renderer, photo, pixels, alpha, source_alpha, fmt)
    notes += adapted
    if box is None:
        return out, notes, None
    from portraitcli.compositing import crop

    out = crop.apply_crop(out, box)
    return out, notes, crop.report_of(box, canvas)


def _output_format(task, photo: photo_io.Photo, s) -> str:
    if task.dest != "-":
        return photo_io.format_for(Path(task.dest))
    fmt = photo_io.format_for(Path("x"), s.format) if s.format else (s.render.effect.photo_format or photo.format)
    return fmt if fmt in photo_io.FORMAT_EXTENSIONS else "PNG"


def _finish_photo(task, parts: list, worker) -> TaskOutcome:
    """Compositing, encoding and writing of one photo whose alpha is known. parts: [photo, its
    Pyramid, alpha], emptied here, so the last references are this function's own."""
    photo, pixels, alpha = parts
    parts.clear()
    s = worker.settings
    fmt = _output_format(task, photo, s)
    if not s.render.effect.reuses_halvings:
        pixels.release_halvings()  # big photos: a third of the image's bytes
    out, notes, cropped = photo_output(photo, pixels, alpha, worker, fmt)
    # Big photos: the encoder makes its own copy of the output, so the source pixels, their
    # halvings and the matte go first (a 48 MP photo: 8 bytes a pixel less at that peak).
    meta = photo.without_pixels()
    del photo, pixels, alpha
    if task.dest == "-":
        sys.stdout.buffer.write(photo_io.encode_photo(out, fmt, meta, s.quality))
        sys.stdout.buffer.flush()
    else:
        dest = Path(task.dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        photo_io.write_photo(dest, out, fmt, meta, s.quality)
    return TaskOutcome(notes, cropped)


def _read_photo(source, name: str, s) -> photo_io.Photo:
    return photo_io.read_photo(source, name, s.max_pixels, photo_io.RawOptions(s.raw_space, s.raw_preview))


def run_photo(task, worker, data: bytes | None = None) -> TaskOutcome:
    s = worker.settings
    name = "<stdin>" if data is not None else task.source
    photo = _read_photo(data if data is not None else Path(task.source), name, s)
    pixels = Pyramid(photo.rgb)
    parts = [photo, pixels, worker.segmenter.matte(pixels)]
    del photo, pixels
    return _finish_photo(task, parts, worker)


def run_photo_batch(tasks: list, worker, pool) -> list:
    """Photo files through the model together: decoding, refinement, compositing and encoding on
    pool's threads (all the host's cores), the network once per pass for all of them (on a GPU,
    several photos per inference). Returns, per task, its TaskOutcome or the exception that
    stopped it (a bad file fails alone; the others go on)."""
    keep_freed_memory()
    s = worker.settings

    def attempt(function, *args):
        try:
            return function(*args)
        except Exception as exc:  # noqa: BLE001 - handed back to the caller, per task
            return exc

    def load(task):
        photo = _read_photo(Path(task.source), task.source, s)
        return photo, Pyramid(photo.rgb)

    results: list = list(pool.map(lambda task: attempt(load, task), tasks))
    good = [i for i, item in enumerate(results) if not isinstance(item, Exception)]
    alphas = worker.segmenter.mattes([results[i][1] for i in good], map=pool.map) if good else []
    parts = {i: [*results[i], alpha] for i, alpha in zip(good, alphas)}
    del alphas
    for i in good:
        results[i] = None  # parts holds them now, and _finish_photo lets them go
    finished = pool.map(lambda i: attempt(_finish_photo, tasks[i], parts.pop(i), worker), good)
    for i, result in zip(good, finished):
        results[i] = result
    return results


# --------------------------------------------------------------------------- video


# Frames refined and composited at once: one per core (2 on the 2-core machine, as before), up
# to 8, so a host feeding a GPU keeps it busy; more frames in flight only hold more memory.
VIDEO_WORKERS = max(2, min(8, os.cpu_count() or 2))


def _compositor(worker, alpha_out: bool):
    """The renderer, flattening an output with alpha (a cutout) when the destination has none."""
    renderer = worker.renderer
    if not renderer.effect.keeps_alpha or alpha_out:
        return renderer
    colour = renderer.flatten_colour

    def flat(frame, alpha, index, rotation=0):
        return effects.flatten(renderer(frame, alpha, index, rotation), colour)

    return flat


def encode_settings(s):
    from portraitcli.media.video import EncodeSettings

    return EncodeSettings(codec=s.codec, crf=s.crf, preset=s.preset, stream_format=s.format or s.stream_format)


def video_alpha_out(task, settings) -> tuple[bool, list[str]]:
    """Whether a video output keeps the cutout's alpha, and the note when it cannot."""
    from portraitcli.media.video import ALPHA_CONTAINERS

    effect = settings.render.effect
    ext = Path(task.dest).suffix.lower() if task.dest != "-" else "." + (settings.format or settings.stream_format)
    alpha_out = effect.keeps_alpha and ext in ALPHA_CONTAINERS
    if effect.keeps_alpha and not alpha_out:
        colour = effect.flatten_colour(settings.render)
        return False, [f"{ext} cannot hold alpha: {effect.name} composited onto {colour}"]
    return alpha_out, []


def video_output(task, worker) -> tuple[int, object, list[str]]:
    """What a video file's frames become: the channels the writer takes, the compositor, and
    the notes on what was adapted (a cutout flattened where the container has no alpha)."""
    alpha_out, notes = video_alpha_out(task, worker.settings)
    return worker.renderer.effect.output_channels(alpha_out), _compositor(worker, alpha_out), notes


def is_sequence_task(task) -> bool:
    """A video file whose output is a PNG sequence (planning marks it: see media.sinks.is_sequence_dest)."""
    from portraitcli.media.sinks import is_sequence_dest

    return task.kind == "video" and task.dest != "-" and is_sequence_dest(task.dest)


@dataclass
class FrameFlow:
    """How a video task's frames go from its source to its sink: the choices each input kind
    makes (frame_flow); the loop itself is one (run_frames)."""

    channels: int  # what the sink takes: 1 a matte, 3 RGB, 4 with alpha
    compositor: object  # (frame, alpha, index, rotation) -> output pixels
    notes: list[str] = field(default_factory=list)  # adaptations the report lists
    live: bool = False  # shallow queues: a frame leaves soon after it enters (streams, cameras)
    drop_stale: bool = False  # capture: the model takes the newest frame, skipping older ones
    workers: int = VIDEO_WORKERS  # frames refined and composited at once
    progress: bool = True  # a frame progress bar where the batch shows one
    needs_frames: bool = True  # an output without a frame is a failure
    sink_notes: bool = True  # a video file's: the sink's own notes (audio dropped, size padded) join the report's


def frame_flow(task, worker) -> FrameFlow:
    """What a video file, a stream on stdin or a capture device asks of the loop."""
    s = worker.settings
    effect = s.render.effect
    if task.kind == "live":
        # shown or recorded as it comes: flattened, the newest camera frame first; a recording
        # stopped before its first frame is no failure
        return FrameFlow(effect.output_channels(alpha_ok=False), _compositor(worker, False), live=True,
                         drop_stale=True, workers=2, progress=False, needs_frames=False)
    if task.kind == "stdin":
        from portraitcli.media.video import ALPHA_CONTAINERS

        alpha_out = task.dest != "-" and effect.keeps_alpha and Path(task.dest).suffix.lower() in ALPHA_CONTAINERS
        return FrameFlow(4 if alpha_out else 3, _compositor(worker, alpha_out), live=True)
    notes = ["--crop is for photos: video frames kept whole"] if s.crop else []
    if is_sequence_task(task):
        # PNG frames hold whatever the effect makes, alpha included
        return FrameFlow(effect.channels, worker.renderer, notes, needs_frames=False)
    channels, compositor, adapted = video_output(task, worker)
    return FrameFlow(channels, compositor, notes + adapted, sink_notes=task.dest != "-")


def run_frames(source, sink, worker, flow: FrameFlow):
    """The one frame loop: every frame of source through the matte and the compositor to sink,
    on the threaded pipeline (portraitcli/pipeline.py). The caller's `with open_sink(...)` closes
    the sink (or aborts it when this raises)."""
    from portraitcli.pipeline import run_video

    tick = worker.frame_progress(len(source.info.timestamps or []), source.name) if flow.progress else None
    try:
        stats = run_video(iter(source), sink, worker.segmenter, flow.compositor, source.info.rotation,
                          live=flow.live, workers=flow.workers, on_frame=tick, drop_stale=flow.drop_stale)
    finally:
        if tick is not None:
            tick.close()
    if flow.needs_frames and stats.frames == 0:
        raise InputError(f"{source.name}: no video frames decoded")
    return stats


def run_video_task(task, worker, stdin_head: bytes = b"") -> TaskOutcome:
    """A video file, a stream on stdin or a capture device: open source -> matte -> render -> sink.
    A file's output gets its final name only when complete; a stream keeps its audio (through
    the sink's encoder); a camera feeds a file, stdout, a virtual camera and/or a window."""
    from portraitcli.media.sinks import open_sink
    from portraitcli.media.sources import open_source

    s = worker.settings
    # the planar commands (blur, segment) work on the decoder's own 4:2:0 planes when the file
    # has them: no colour conversion on the way in or out, and half the bytes through the pipes
    planar = s.render.effect.planar and not is_sequence_task(task)
    with open_source(task.kind, task.source, planar=planar, accept_truncated=s.accept_truncated,
                     stdin_head=stdin_head) as source:
        flow = frame_flow(task, worker)
        with open_sink(task.dest, source.info, flow.channels, encode_settings(s), planar=source.planar,
                       audio=source.audio, sequence=is_sequence_task(task), live=task.kind == "live",
                       preview=s.preview) as sink:
            stats = run_frames(source, sink, worker, flow)
        if task.kind != "video":
            return TaskOutcome()  # a stream's or a camera's report: done, no notes or frame count
        if task.dest != "-":
            log.info("%s: %d frames at %.1f fps", task.source, stats.frames, stats.fps)
        notes = flow.notes + (sink.notes if flow.sink_notes else [])
        if source.ended_early:
            notes.append(f"input ended early: {source.frames_read} of {source.frames_declared or 'more'} frames "
                         "declared; kept the frames that are there (--accept-truncated)")
        return TaskOutcome(notes, frames=stats.frames, ended_early=source.ended_early)
