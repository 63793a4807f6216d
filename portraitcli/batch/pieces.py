"""A long video in parallel pieces: cut at keyframes, each piece processed by its own worker
(a local process or a Ray actor), joined without re-encoding, the audio copied once.

    plan_pieces ──> run_piece (one per worker, in parallel) ──> join (concat demuxer, stream copy)

Each piece decodes and processes a short warm-up before its cut (the frames just before it)
so the temporal filter and the subject choice reach the state a whole-video run has there;
those frames are not written. Every piece keeps the whole video's timestamps and the join
leaves them where they are, so the output has every frame and timestamp of a whole run, its
rotation and its audio (copied once, from the source).
"""
from __future__ import annotations

import dataclasses
import fractions
import logging
import math
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("portraitcli")

DEFAULT_SPLIT_SECONDS = 120.0
WARMUP_SECONDS = 1.0  # the smoother's memory fades by >= 0.6 a frame: a second is ample
MIN_PIECE_SECONDS = 1.0


@dataclass
class Piece:
    number: int
    first: int  # first frame written (a keyframe of the source), in presentation order
    end: int  # one past the last frame written
    warmup: int  # first frame decoded and processed (first minus the warm-up)
    path: str  # where the encoded piece goes (a hidden working folder beside the output)


def wants_split(source: str, dest: str, split_over: float, workers: int) -> bool:
    """A video file to a video file, longer than split_over seconds, with workers to share it
    (a quick look at the container's header only)."""
    from portraitcli.media.video import probe
    from portraitcli.media.sinks import is_sequence_dest

    if workers < 2 or split_over <= 0 or dest == "-" or is_sequence_dest(dest):
        return False
    try:
        info = probe(Path(source), with_timestamps=False)
    except Exception:  # noqa: BLE001 - an unreadable file fails in the normal path, with its reason
        return False
    return bool(info.duration and info.duration > split_over)


def piece_extension(ext: str) -> str:
    """The container pieces are written in: one that keeps every timestamp as the final
    container will round it. Matroska (ms) is its own; mp4/mov pieces go to NUT (the encoder's
    own time base), since mp4's edit list would put a piece's start on a millisecond."""
    return ext if ext in (".mkv", ".webm") else ".nut"


def plan_pieces(info, workers: int, folder: Path, ext: str) -> list[Piece]:
    """Up to `workers` pieces of about equal length, each starting at a keyframe; ext: the
    output's extension."""
    stamps = info.timestamps or []
    if not stamps or not info.keyframes or info.time_base is None:
        return []
    count = len(stamps)
    index_of = {pts: i for i, pts in enumerate(stamps)}
    keys = sorted(index_of[k] for k in set(info.keyframes) if k in index_of)
    fps = float(info.fps or 30)
    warmup = max(1, round(fps * WARMUP_SECONDS))
    min_frames = max(warmup, round(fps * MIN_PIECE_SECONDS))
    cuts = [0]
    for n in range(1, workers):
        target = n * count // workers
        nearest = min((k for k in keys if k > cuts[-1] + min_frames and k < count - min_frames),
                      key=lambda k: abs(k - target), default=None)
        if nearest is not None and nearest > cuts[-1]:
            cuts.append(nearest)
    cuts.append(count)
    return [Piece(number=i, first=a, end=b, warmup=max(0, a - warmup), path=str(folder / f"piece_{i:04d}{piece_extension(ext)}"))
            for i, (a, b) in enumerate(zip(cuts, cuts[1:]))]


# Added to every piece's timestamps: with it, no piece's first packets (B-frames decode before
# they show) get a negative decoding time, which the muxer would shift for that piece alone.
# The join removes it with the first piece's start.
LEAD_SECONDS = 10


class _AfterWarmup:
    """The piece's sink: drops the warm-up frames, moves the timestamps by `lead`."""

    def __init__(self, writer, skip: int, lead: int):
        self.writer, self.skip, self.lead = writer, skip, lead
        self.frames = 0

    def write(self, pixels, pts: int) -> None:
        if self.skip:
            self.skip -= 1
            return
        self.writer.write(pixels, pts + self.lead)
        self.frames += 1


def run_piece(task, piece: Piece, worker) -> int:
    """Process one piece of task's video into piece.path; returns the frames written."""
    from portraitcli.batch.task import FrameFlow, encode_settings, run_frames, video_output
    from portraitcli.errors import InputError
    from portraitcli.media.sinks import open_sink
    from portraitcli.media.sources import open_source

    s = worker.settings
    with open_source("video", task.source, planar=s.render.effect.planar, first_frame=piece.warmup,
                     frame_count=piece.end - piece.warmup) as source:
        info = source.info
        channels, compositor, _ = video_output(task, worker)
        # a piece carries neither audio nor rotation: the join puts both on, once
        bare = dataclasses.replace(info, audio_codecs=[], rotation=0)
        # the piece keeps the whole video's timestamps (as a whole run rounds them to the
        # container's time step); the join lines the pieces up by their start times
        # an attempt writes its own temporary, renamed when whole: the encoder of an attempt
        # whose worker died cannot write into the retry's piece
        with open_sink(piece.path, bare, channels, encode_settings(s), planar=source.planar, name=task.dest,
                       keep_timestamps=True, codec_ext=Path(task.dest).suffix.lower()) as writer:
            sink = _AfterWarmup(writer, piece.first - piece.warmup, math.ceil(LEAD_SECONDS / info.time_base))
            run_frames(source, sink, worker, FrameFlow(channels, compositor, workers=2, progress=False,
                                                       needs_frames=False))
            if sink.frames != piece.end - piece.first:
                raise InputError(f"{task.source}: piece {piece.number} decoded {sink.frames} frames of "
                                 f"{piece.end - piece.first}")
    return sink.frames


def run_split_video(task, settings, workers: int, run_pieces):
    """The whole of a long video in pieces: plan, run_pieces(task, pieces) (in parallel,
    raising the first failure), join into task.dest; a task.TaskOutcome. None when it
    cannot be split (too few keyframes): the caller runs it whole."""
    from portraitcli.media.atomic import atomic_output, temporary_folder
    from portraitcli.media.video import join_pieces, probe
    from portraitcli.batch.task import TaskOutcome, video_alpha_out

    info = probe(Path(task.source))
    dest = Path(task.dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with temporary_folder(dest) as folder:
        pieces = plan_pieces(info, workers, folder, dest.suffix.lower())
        if len(pieces) < 2:
            return None
        log.info("%s: %d pieces from frames %s", task.source, len(pieces), [p.first for p in pieces])
        _, notes = video_alpha_out(task, settings)
        run_pieces(task, pieces)
        # the concat demuxer moves each piece to the sum of the durations before it, less the
        # piece's start time (both in microseconds): durations between the pieces' own start
        # times leave every timestamp where its piece has it
        starts = [probe(Path(p.path), with_timestamps=False).start_us for p in pieces]
        durations = [fractions.Fraction(b - a, 1_000_000) for a, b in zip(starts, starts[1:])] + [None]
        with atomic_output(dest) as tmp:
            notes += join_pieces([(Path(p.path), d) for p, d in zip(pieces, durations)], tmp, info,
                                 Path(task.source), name=task.dest)
    return TaskOutcome(notes, frames=len(info.timestamps))
