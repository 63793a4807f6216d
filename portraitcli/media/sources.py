"""Where video frames come from: a file, a stream on stdin or a capture device, behind one
interface, opened by one factory.

A source is a context manager (closed on the way out, whatever happened) and an iterable of
(index, pts, frame) in order, frame an RGB array or an I420 frame in its stored orientation.
It tells what it holds: info (size, rate, time base, rotation, audio; a VideoInfo), planar
(whether its frames are I420) and audio (where a sink finds the audio to keep, or None).
"""
from __future__ import annotations

from dataclasses import dataclass

from portraitcli.media.video import AudioRelay, VideoReader


@dataclass(frozen=True)
class AudioFrom:
    """The audio a sink keeps: the streams of a file (copied by the encoder), or a pipe that
    carries a live stream's audio (fd)."""

    path: str | None = None
    fd: int | None = None


class FileSource(VideoReader):
    """A video file (or a stretch of one: first_frame, frame_count), its audio in the file."""

    @property
    def audio(self) -> AudioFrom:
        return AudioFrom(path=self.source)

    @property
    def name(self) -> str:
        return self.source


class StreamSource:
    """A video stream on stdin (nut, matroska, mpegts...). Its audio cannot be read twice, so the
    decoder passes it on through a relay (media.video.AudioRelay) to the sink's encoder."""

    def __init__(self, stdin_head: bytes):
        self.relay = AudioRelay()
        try:
            self.reader = VideoReader("-", audio_fd=self.relay.reader_fd, stdin_head=stdin_head)
        except BaseException:
            self.relay.close_child_ends()
            raise
        self.info = self.reader.info
        self.planar = self.reader.planar
        self.name = self.reader.source

    @property
    def audio(self) -> AudioFrom | None:
        return AudioFrom(fd=self.relay.writer_fd) if self.info.has_audio else None

    def __iter__(self):
        # the sink's encoder is open by the time frames are asked for, and holds its own copy
        # of the relay's pipe: this process drops its ends, so the audio ends when the stream does
        self.relay.close_child_ends()
        yield from self.reader

    def close(self) -> None:
        self.relay.close_child_ends()
        self.reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_source(kind: str, spec: str, planar: bool = False, accept_truncated: bool = False,
                stdin_head: bytes = b"", first_frame: int = 0, frame_count: int | None = None):
    """The source for a task's input. kind: 'video' (a file; first_frame and frame_count take a
    stretch of it), 'stdin' (a stream, stdin_head its first bytes, already read) or 'live' (a
    capture device, 'webcam:N' or '/dev/videoN'). planar: I420 frames where the input allows."""
    if kind == "video":
        return FileSource(spec, planar=planar, accept_truncated=accept_truncated, first_frame=first_frame,
                          frame_count=frame_count)
    if kind == "stdin":
        return StreamSource(stdin_head)
    if kind == "live":
        from portraitcli.media.devices import CameraSource

        return CameraSource(spec, planar=planar)
    raise ValueError(f"no video source for kind {kind}")
