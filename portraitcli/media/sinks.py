"""Where rendered frames go: a video file, a stream on stdout, a PNG sequence, a virtual camera,
a window (or several of those at once), behind one interface, opened by one factory.

A sink has write(pixels, pts), close() and abort(), and a list of notes (what the output could
not keep). open_sink is a context manager: the sink is closed at the end of the with block (a
file output then takes its final name) or aborted when the block ends by an exception (a file
output then never appears). The sink decides what it needs from what it is told: the frames'
channels, the source's info (size, rate, time base, rotation, audio streams) and its audio.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from portraitcli.errors import PortraitError
from portraitcli.media.atomic import atomic_output
from portraitcli.media.video import EncodeSettings, ImageSequenceWriter, VideoInfo, VideoWriter

NO_DEST = ("", "none", "null")  # a live run that only shows a preview window


def is_sequence_dest(dest: str) -> bool:
    """An image-sequence output: a folder name, marked by a trailing separator or no extension."""
    return dest.endswith(("/", "\\")) or not Path(dest).suffix


class TeeSink:
    """The same frames to several sinks (a virtual camera and a preview window, say). Closed,
    not aborted, when the run stops: a live recording keeps what it has."""

    def __init__(self, sinks):
        self.sinks = sinks
        self.notes: list[str] = []
        self.closed = False

    def write(self, pixels, pts):
        for s in self.sinks:
            s.write(pixels, pts)

    def close(self):
        if not self.closed:
            self.closed = True
            for s in self.sinks:
                s.close()

    abort = close


def _live_sink(dest: str, info: VideoInfo, channels: int, encode: EncodeSettings, planar: bool,
               preview: bool) -> TeeSink:
    from portraitcli.media.devices import PreviewSink, V4L2LoopbackSink

    sinks = []
    if preview:
        sinks.append(PreviewSink())
    if dest.startswith("/dev/video"):
        sinks.append(V4L2LoopbackSink(dest, info.width, info.height))
    elif dest == "-":
        sinks.append(VideoWriter("-", info, channels, encode, container=encode.stream_format, planar=planar))
    elif dest not in NO_DEST:
        sinks.append(VideoWriter(dest, info, channels, encode, planar=planar))
    if not sinks:
        raise PortraitError("nothing to write to: give DEST or --preview")
    return TeeSink(sinks)


@contextlib.contextmanager
def _finished(sink):
    """sink for a with block: closed at its end, aborted if the block ends by an exception."""
    try:
        yield sink
    except BaseException:
        sink.abort()
        raise
    sink.close()


def _writer_audio(audio) -> dict:
    """VideoWriter's arguments for the audio a source offers (media.sources.AudioFrom)."""
    if audio is None:
        return {}
    return {"audio_fd": audio.fd} if audio.fd is not None else {"audio_source": audio.path}


@contextlib.contextmanager
def open_sink(dest: str, info: VideoInfo, channels: int, encode: EncodeSettings, planar: bool = False,
              audio=None, sequence: bool = False, live: bool = False, preview: bool = False, name: str | None = None,
              keep_timestamps: bool = False, codec_ext: str | None = None):
    """The sink for DEST, as a context manager. dest: a video file, '-' (a stream on stdout in
    encode.stream_format), with sequence a folder for PNG frames (see is_sequence_dest), or,
    live (a capture device's frames), also a v4l2loopback device or nothing but the preview window.
    channels: 1 (a matte), 3 or 4 (with alpha); planar: the frames will be I420 (the encoder
    takes them as they are); audio: the source's (media.sources.AudioFrom) or None; name: what
    users call the output, where dest is an intermediate file (a piece of a long video);
    keep_timestamps, codec_ext: see VideoWriter."""
    if live:
        # no temporary name: a recording from a camera has no end to wait for, and keeps what
        # it has when stopped
        with _finished(_live_sink(dest, info, channels, encode, planar, preview)) as sink:
            yield sink
        return
    if dest == "-":
        with _finished(VideoWriter("-", info, channels, encode, container=encode.stream_format, planar=planar,
                                   **_writer_audio(audio))) as sink:
            yield sink
        return
    if sequence:
        folder = Path(dest.rstrip("/\\"))
        folder.parent.mkdir(parents=True, exist_ok=True)
        # frames go to a hidden folder renamed when complete: an interrupted sequence is
        # never mistaken for a finished one on the next run
        with atomic_output(folder) as tmp, _finished(ImageSequenceWriter(tmp, rotation=info.rotation)) as sink:
            if info.has_audio:
                sink.notes.append("an image sequence holds no audio: audio not written")
            yield sink
        return
    path = Path(dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp, \
            _finished(VideoWriter(tmp, info, channels, encode, name=name or dest, planar=planar,
                                  keep_timestamps=keep_timestamps, codec_ext=codec_ext,
                                  **_writer_audio(audio))) as sink:
        yield sink
