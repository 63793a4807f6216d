"""Video decode/encode with the bundled ffmpeg (imageio-ffmpeg): files, pipes, devices.

Frames travel as raw RGB through pipes; nothing is held in memory beyond a frame or two.

- VideoReader decodes any container/codec ffmpeg reads, without auto-rotation (the pipeline
  rotates an upright view for the model and writes the stored orientation back, so the
  rotation metadata survives), and gives each frame its original timestamp.
- VideoWriter muxes the processed frames with those timestamps (variable frame rate too) into
  a tiny Matroska stream on the encoder's stdin, and copies the source's audio untouched
  (re-encoded only where the container cannot hold its codec).
- ffmpeg is always called with an argument list, never a shell string.
"""
from __future__ import annotations

import collections
import fractions
import os
import re
import struct
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from portraitcli.errors import ExternalToolError, InputError
from portraitcli.media.frames import I420, to_uint8

VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts",
                    ".m2ts", ".flv", ".wmv", ".3gp", ".ogv", ".mxf", ".nut", ".y4m", ".qt"}
ALPHA_CONTAINERS = {".mov", ".webm", ".mkv"}
# audio codecs each container takes as they are; anything else is re-encoded
AUDIO_COPYABLE = {
    ".mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    ".m4v": {"aac", "mp3", "alac", "ac3", "eac3"},
    ".mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le", "pcm_s16be", "pcm_f32le"},
    ".webm": {"opus", "vorbis"},
    ".avi": {"mp3", "ac3", "pcm_s16le", "aac"},
}
AUDIO_FALLBACK = {".webm": ["-c:a", "libopus", "-b:a", "128k"]}
STREAM_FORMATS = {"nut": "nut", "matroska": "matroska", "mkv": "matroska", "mpegts": "mpegts",
                  "ts": "mpegts", "webm": "webm", "mov": "mov", "mp4": "mp4"}


# what ffmpeg's demuxers say when a file stops before the data its headers declare
# (mov/mp4 and Matroska/WebM), at the end of their log line
TRUNCATION_WORDS = (": partial file", "File ended prematurely")


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def is_video_path(path: Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


# --------------------------------------------------------------------------- probing


@dataclass
class VideoInfo:
    width: int = 0
    height: int = 0
    fps: fractions.Fraction = fractions.Fraction(30)
    time_base: fractions.Fraction | None = None
    duration: float | None = None
    rotation: int = 0  # degrees as ffmpeg reports the display matrix (e.g. -90)
    video_codec: str = ""
    audio_codecs: list[str] = field(default_factory=list)
    subtitle_codecs: list[str] = field(default_factory=list)
    language: str = ""  # the video stream's language tag, as the banner shows it (e.g. und, eng)
    timestamps: list[int] | None = None  # per frame, presentation order, in time_base units
    keyframes: list[int] | None = None  # pts of the keyframes (where a piece of the video may start)
    start_us: int = 0  # the container's start time, microseconds
    pix_fmt: str = ""  # as decoded, e.g. yuv420p
    colour: dict[str, str] = field(default_factory=dict)  # ffmpeg output options that tag it, e.g. -colorspace

    @property
    def planar_ok(self) -> bool:
        """Frames can travel as I420 (8-bit 4:2:0, even size) without any conversion."""
        return self.pix_fmt == "yuv420p" and self.width % 2 == 0 and self.height % 2 == 0 and self.width > 0

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_codecs)

    @property
    def upright_size(self) -> tuple[int, int]:
        return (self.height, self.width) if self.rotation % 180 else (self.width, self.height)


_STREAM_RE = re.compile(r"Stream #0:(\d+)(?:\[[^\]]*\])?(?:\(([^)]*)\))?: (Video|Audio|Subtitle): (\w+)(.*)")


def parse_ffmpeg_banner(text: str) -> VideoInfo:
    """Read stream facts from ffmpeg's input banner (stderr of `ffmpeg -i`)."""
    info = VideoInfo()
    seen_video = False
    in_input = False
    for line in text.splitlines():
        if line.startswith("Input #0"):
            in_input = True
        elif line.startswith(("Output #", "Stream mapping")):
            in_input = False
        if not in_input:
            continue
        m = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", line)
        if m:
            info.duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        m = re.search(r", start: (-?)(\d+)\.(\d{6})", line)
        if m:
            info.start_us = (-1 if m.group(1) else 1) * (int(m.group(2)) * 1_000_000 + int(m.group(3)))
        m = _STREAM_RE.search(line)
        if m:
            language, kind, codec, rest = m.group(2), m.group(3), m.group(4), m.group(5)
            if kind == "Audio":
                info.audio_codecs.append(codec)
            elif kind == "Subtitle":
                info.subtitle_codecs.append(codec)
            elif not seen_video and "attached pic" not in rest:
                seen_video = True
                info.video_codec = codec
                info.language = language or ""
                fmt = re.search(r", ([a-z0-9_]+)(?:\(([^)]*)\))?, \d{1,5}x\d{1,5}", rest)
                if fmt:
                    info.pix_fmt, info.colour = fmt.group(1), _colour_tags(fmt.group(2) or "")
                size = re.search(r", (\d{1,5})x(\d{1,5})", rest)
                if size:
                    info.width, info.height = int(size.group(1)), int(size.group(2))
                fps = re.search(r", ([\d.]+)(k?) fps", rest) or re.search(r", ([\d.]+)(k?) tbr", rest)
                if fps:
                    value = float(fps.group(1)) * (1000 if fps.group(2) else 1)
                    info.fps = _nice_fraction(value)
                tbn = re.search(r", ([\d.]+)(k?) tbn", rest)
                if tbn:
                    info.time_base = fractions.Fraction(1, int(float(tbn.group(1)) * (1000 if tbn.group(2) else 1)))
            continue
        m = re.search(r"rotation of (-?[\d.]+) degrees", line)
        if m and seen_video:
            info.rotation = int(round(float(m.group(1)))) % 360
    return info


def _colour_tags(text: str) -> dict[str, str]:
    """'tv, bt709, progressive' or 'tv, bt470bg/bt470bg/smpte170m' -> ffmpeg output options."""
    tags = {}
    for item in (t.strip() for t in text.split(",")):
        if item in ("tv", "pc"):
            tags["-color_range"] = item
        elif re.fullmatch(r"(bt|smpte|gamma|iec|linear|fcc|ycgco|chroma|jedec|ebu|film|log|arib)[\w-]*(/[\w-]+/[\w-]+)?",
                          item):
            parts = item.split("/") if "/" in item else [item] * 3
            for key, value in zip(("-colorspace", "-color_primaries", "-color_trc"), parts):
                if value not in ("unknown", "reserved"):
                    tags[key] = value
    return tags


def _nice_fraction(value: float) -> fractions.Fraction:
    for den in (1001, 1):
        num = value * den
        if abs(num - round(num)) < 0.02 * den / 1000 + 1e-6 or den == 1:
            if den == 1001 and abs(round(num / 1000) * 1000 - num) < 1:
                return fractions.Fraction(int(round(num / 1000) * 1000), 1001)
    return fractions.Fraction(value).limit_denominator(1001)


def last_lines(text: str, count: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-count:]) if lines else "no message"


def probe(path: Path, with_timestamps: bool = True) -> VideoInfo:
    """Stream facts of a file; with_timestamps also lists every frame's pts (demux only, fast).
    Both come from one ffmpeg run: the banner on stderr, the packets' framecrc on stdout."""
    exe = ffmpeg_exe()
    args = [exe, "-hide_banner", "-nostdin", "-i", str(path)]
    if with_timestamps:
        args += ["-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"]
    proc = subprocess.run(args, capture_output=True, text=True, errors="replace")
    info = parse_ffmpeg_banner(proc.stderr)
    if not info.width:
        if "Invalid data" in proc.stderr or "moov atom not found" in proc.stderr or "Audio:" in proc.stderr:
            reason = "no video stream (audio only)" if info.audio_codecs else last_lines(proc.stderr, 1)
        else:
            reason = last_lines(proc.stderr, 1)
        raise InputError(f"{path}: not a readable video ({reason})")
    if with_timestamps and proc.returncode == 0:
        info.timestamps, info.keyframes, tb = _packet_timestamps(proc.stdout)
        if tb is not None:
            info.time_base = tb
    return info


def _packet_timestamps(framecrc: str) -> tuple[list[int] | None, list[int] | None, fractions.Fraction | None]:
    """Every packet's pts (sorted: presentation order) and the keyframes' pts, from framecrc
    lines `stream, dts, pts, duration, size, crc[, F=flags]` (no F: a keyframe)."""
    tb = None
    pts = []
    keys = []
    for line in framecrc.splitlines():
        if line.startswith("#tb 0:"):
            num, den = line.split(":", 1)[1].strip().split("/")
            tb = fractions.Fraction(int(num), int(den))
        elif line and not line.startswith("#"):
            parts = [p.strip() for p in line.split(",")]
            if len(parts) >= 3:
                pts.append(int(parts[2]))
                flags = next((p[2:] for p in parts[6:] if p.startswith("F=")), None)
                if flags is None or int(flags, 16) & 1:
                    keys.append(int(parts[2]))
    return (sorted(pts) if pts else None), (sorted(keys) if pts else None), tb


# --------------------------------------------------------------------------- child processes


class FFmpegProcess:
    """A child ffmpeg whose stderr is drained in a thread (no deadlock), keeping its last lines."""

    def __init__(self, args: list[str], stdin=None, stdout=None, pass_fds=(), label: str = ""):
        self.label = label
        self.tail: collections.deque[str] = collections.deque(maxlen=40)
        self.banner: list[str] = []
        self.banner_done = threading.Event()
        self.said_truncated = False  # ffmpeg found the input shorter than its container declares
        self.proc = subprocess.Popen(args, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                                     pass_fds=pass_fds, start_new_session=False)
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self):
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line.endswith(TRUNCATION_WORDS):
                self.said_truncated = True
            if not self.banner_done.is_set():
                self.banner.append(line)
                if line.startswith(("Stream mapping", "Output #", "Press [q]")) or len(self.banner) > 400:
                    self.banner_done.set()
            self.tail.append(line)
        self.banner_done.set()

    def error_text(self) -> str:
        self._thread.join(timeout=2)
        useful = [ln for ln in self.tail if ln and not ln.startswith(("  ", "frame=", "size="))]
        return last_lines("\n".join(useful or list(self.tail)))

    def wait(self, timeout=None) -> int:
        rc = self.proc.wait(timeout=timeout)
        self._thread.join(timeout=2)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


# --------------------------------------------------------------------------- reading


class VideoReader:
    """Iterate (index, pts, rgb) over a video file, '-' (stdin stream) or an open pipe.

    pts is in info.time_base units (original timestamps when known, else index / fps).
    Frames are the stored orientation; info.rotation says how to display them.
    """

    def __init__(self, source: str | Path, audio_fd: int | None = None, stdin_head: bytes | None = None,
                 planar: bool = False, accept_truncated: bool = False, info: VideoInfo | None = None,
                 first_frame: int = 0, frame_count: int | None = None):
        """first_frame, frame_count: a stretch of a file (frames in presentation order), for a
        piece of a long video; info: its probe, when the caller already has it."""
        self.source = str(source)
        # a file that ends before its declared length fails (InputError) unless accepted; then
        # ended_early says so once every frame has been read
        self.accept_truncated = accept_truncated
        self.ended_early = False
        self.stdin_head = stdin_head
        self.is_stream = self.source == "-"
        exe = ffmpeg_exe()
        if not self.is_stream:
            self.info = info or probe(Path(self.source))
        # planar: frames as decoded (I420), for files whose probe says that needs no conversion
        self.planar = planar and not self.is_stream and self.info.planar_ok
        args = [exe, "-hide_banner", "-nostats", "-loglevel", "info", "-noautorotate"]
        if first_frame:
            args += ["-ss", self._seek_position(first_frame)]
        args += ["-i", "pipe:0" if self.is_stream else self.source, "-map", "0:v:0"]
        if frame_count is not None:
            args += ["-frames:v", str(frame_count)]
        args += ["-f", "rawvideo", "-pix_fmt", "yuv420p" if self.planar else "rgb24", "-fps_mode", "passthrough",
                 "pipe:1"]
        pass_fds = ()
        if audio_fd is not None:
            # live stream: the reader also passes the audio on, untouched, to the writer
            args += ["-map", "0:a?", "-c:a", "copy", "-flush_packets", "1", "-f", "nut", f"pipe:{audio_fd}"]
            pass_fds = (audio_fd,)
        stdin = subprocess.DEVNULL
        if self.is_stream:
            stdin = subprocess.PIPE if stdin_head is not None else None
        self.process = FFmpegProcess(args, stdin=stdin, stdout=subprocess.PIPE, pass_fds=pass_fds,
                                     label=self.source)
        if stdin_head is not None and self.is_stream:
            # bytes already read to tell a photo from a video go first, then the rest of stdin
            threading.Thread(target=_pump_stdin, args=(stdin_head, self.process.proc.stdin), daemon=True).start()
        if self.is_stream:
            self.process.banner_done.wait(timeout=60)
            self.info = parse_ffmpeg_banner("\n".join(self.process.banner))
            if not self.info.width:
                self.close()
                raise InputError(f"{self.source}: not a readable video stream "
                                 f"({self.process.error_text()})")
        self.frame_bytes = self.info.width * self.info.height * 3 // (2 if self.planar else 1)
        self.first_frame = first_frame
        self.frames_read = 0

    def _seek_position(self, index: int) -> str:
        """Input -ss for frame `index`: ffmpeg decodes from the keyframe before it and drops
        every frame earlier than this time, which lies half a frame before the frame's own."""
        stamps, tb = self.info.timestamps, self.info.time_base
        if not stamps or tb is None or index >= len(stamps):
            raise InputError(f"{self.source}: no frame timestamps to start a piece at frame {index}")
        previous = stamps[index - 1] if index > 0 else stamps[index]
        # probe's timestamps, like -ss, count from the container's start
        seconds = (stamps[index] - (stamps[index] - previous) / 2) * tb
        return f"{float(seconds):.6f}"

    def __iter__(self):
        info = self.info
        tb = info.time_base or fractions.Fraction(1, 90000)
        stamps = info.timestamps
        step = 1 / (info.fps * tb) if info.fps else 1
        stdout = self.process.proc.stdout
        while True:
            buf = _read_exact(stdout, self.frame_bytes)
            if buf is None:
                break
            index = self.first_frame + self.frames_read
            if stamps is not None and index < len(stamps):
                pts = stamps[index] - stamps[0]
            else:
                pts = int(round(index * step))
            self.frames_read += 1
            pixels = np.frombuffer(buf, np.uint8)
            if self.planar:
                yield index, pts, I420(pixels, info.width, info.height)
            else:
                yield index, pts, pixels.reshape(info.height, info.width, 3)
        rc = self.process.wait()
        if rc != 0 and self.frames_read == 0 and self.is_stream and (self.stdin_head or b"")[4:8] == b"ftyp":
            # an mp4/mov whose index (moov) comes after the frames cannot be read from a pipe
            raise InputError(f"{self.source}: this mp4/mov keeps its index at the end, which a pipe cannot reach: "
                             "pass the file by path, or make it faststart first "
                             "(ffmpeg -i in.mp4 -c copy -movflags +faststart out.mp4)")
        if rc != 0 and self.frames_read == 0:
            raise InputError(f"{self.source}: ffmpeg could not decode it ({self.process.error_text()})")
        if rc != 0:
            raise ExternalToolError(f"{self.source}: decoding stopped after {self.frames_read} frames "
                                    f"({self.process.error_text()})")
        if self.process.said_truncated and not self.is_stream:
            self.ended_early = True
            if not self.accept_truncated:
                raise InputError(f"{self.source}: input ended early: {self.frames_read} of "
                                 f"{self.frames_declared or 'more'} frames declared (truncated file?); "
                                 "--accept-truncated keeps the frames that are there")

    @property
    def frames_declared(self) -> int | None:
        """Frames the container says the video has (its duration at its frame rate)."""
        if not self.info.duration or not self.info.fps:
            return None
        return int(round(self.info.duration * self.info.fps))

    def close(self):
        self.process.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _pump_stdin(head: bytes, pipe) -> None:
    import sys

    try:
        pipe.write(head)
        source = sys.stdin.buffer
        while True:
            chunk = source.read1(1 << 16) if hasattr(source, "read1") else source.read(1 << 16)
            if not chunk:
                break
            pipe.write(chunk)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def _read_exact(stream, size: int) -> bytes | None:
    data = stream.read(size)
    if not data:
        return None
    while len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            return None  # a torn last frame is dropped
        data += more
    return data


class LoopingVideo:
    """Background video for replace-bg: frame i of the output gets frame i of the background,
    looping when the input is longer, trimmed when shorter. Safe to call from several
    compositor threads (frames may be asked for slightly out of order)."""

    def __init__(self, path: Path, keep: int = 8):
        self.path = path
        self.keep = keep
        self._lock = threading.Lock()
        self._frames: dict[int, np.ndarray] = {}
        self._next = 0  # output index the next decoded frame belongs to
        self._reader = None
        self._iter = None
        self._open()

    def _open(self):
        self._reader = VideoReader(self.path)
        self._iter = iter(self._reader)

    def _decode_next(self) -> np.ndarray:
        for _ in range(2):
            try:
                return next(self._iter)[2]
            except StopIteration:
                self._reader.close()
                self._open()  # loop
        raise InputError(f"{self.path}: background video has no frames")

    def frame(self, index: int) -> np.ndarray:
        with self._lock:
            while self._next <= index:
                self._frames[self._next] = self._decode_next()
                self._next += 1
                for old in [i for i in self._frames if i < self._next - self.keep]:
                    del self._frames[old]
            return self._frames.get(index, self._frames[min(self._frames)])

    def close(self):
        if self._reader:
            self._reader.close()


# --------------------------------------------------------------------------- writing


def _ebml_id(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _ebml_size(n: int) -> bytes:
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | n).to_bytes(length, "big")
    raise ValueError("element too large")


def _el(eid: int, body: bytes | int | str) -> bytes:
    if isinstance(body, int):
        body = body.to_bytes(max(1, (body.bit_length() + 7) // 8), "big")
    elif isinstance(body, str):
        body = body.encode()
    return _ebml_id(eid) + _ebml_size(len(body)) + body


class MatroskaRawMuxer:
    """The smallest Matroska writer that carries raw BGR(A) frames with exact timestamps
    (microseconds) into ffmpeg: a raw pipe has no timestamps, and we need VFR kept."""

    # fourcc and bits per pixel of the raw layouts ffmpeg reads from a VFW track
    LAYOUTS = {"bgr": (0, 24), "bgra": (0, 32), "i420": (int.from_bytes(b"I420", "little"), 12),
               "gray": (int.from_bytes(b"Y800", "little"), 8)}

    def __init__(self, stream, width: int, height: int, layout: str, frame_seconds: float | None = None):
        self.stream = stream
        header = _el(0x1A45DFA3, _el(0x4286, 1) + _el(0x42F7, 1) + _el(0x42F2, 4) + _el(0x42F3, 8)
                     + _el(0x4282, "matroska") + _el(0x4287, 4) + _el(0x4285, 2))
        segment = _ebml_id(0x18538067) + b"\x01\xff\xff\xff\xff\xff\xff\xff"
        info = _el(0x1549A966, _el(0x2AD7B1, 1000) + _el(0x4D80, "portraitcli") + _el(0x5741, "portraitcli"))
        # BITMAPINFOHEADER, negative height = top-down rows, BI_RGB
        fourcc, bits = self.LAYOUTS[layout]
        bih = struct.pack("<IiiHHIIiiII", 40, width, -height, 1, bits, fourcc, width * height * bits // 8,
                          0, 0, 0, 0)
        video = _el(0xE0, _el(0xB0, width) + _el(0xBA, height))
        # DefaultDuration: the encoder's last frame gets a real duration. Without it ffmpeg guesses
        # the rate from the frames it probes, and a 1080p raw frame is most of its probe size: the
        # last frame got duration 0 and the mp4's edit list cut it off (299 of 300 frames shown)
        default_duration = _el(0x23E383, int(round(frame_seconds * 1e9))) if frame_seconds else b""
        track = _el(0xAE, _el(0xD7, 1) + _el(0x73C5, 1) + _el(0x83, 1) + _el(0x9C, 0) + default_duration
                    + _el(0x86, "V_MS/VFW/FOURCC") + _el(0x63A2, bih) + video)
        self.stream.write(header + segment + info + _el(0x1654AE6B, track))

    def write(self, pixels: np.ndarray, microseconds: int) -> None:
        block_head = b"\x81\x00\x00\x80"  # track 1, relative time 0, keyframe
        data = memoryview(np.ascontiguousarray(pixels)).cast("B")  # no copy into bytes
        block = _ebml_id(0xA3) + _ebml_size(len(block_head) + len(data)) + block_head
        timestamp = _el(0xE7, max(0, microseconds))
        cluster_size = len(timestamp) + len(block) + len(data)
        self.stream.write(_ebml_id(0x1F43B675) + _ebml_size(cluster_size) + timestamp + block)
        self.stream.write(data)


@dataclass
class EncodeSettings:
    codec: str | None = None  # None: chosen from the extension
    crf: int = 20
    preset: str = "veryfast"
    stream_format: str = "nut"  # for DEST '-'


def video_codec_args(ext: str, alpha: bool, settings: EncodeSettings) -> list[str]:
    codec = settings.codec
    if codec is None:
        if alpha and ext == ".mov":
            codec = "prores_ks"
        elif alpha and ext == ".webm":
            codec = "libvpx-vp9"
        elif alpha and ext == ".mkv":
            codec = "ffv1"
        elif ext == ".webm":
            codec = "libvpx-vp9"
        else:
            codec = "libx264"
    if codec == "prores_ks":
        return ["-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt", "yuva444p10le" if alpha else "yuv444p10le",
                "-vendor", "apl0"]
    if codec == "libvpx-vp9":
        return ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p" if alpha else "yuv420p", "-crf", str(settings.crf + 12),
                "-b:v", "0", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-auto-alt-ref", "0"]
    if codec == "ffv1":
        return ["-c:v", "ffv1", "-pix_fmt", "bgra" if alpha else "bgr0"]
    if codec in ("libx264", "h264"):
        return ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(settings.crf), "-preset", settings.preset]
    return ["-c:v", codec]


TEXT_SUBTITLES = {"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"}


def subtitle_args(ext: str, codecs: list[str], source_input: int = 1) -> tuple[list[str], list[str]]:
    """Map and codec options that carry the source's subtitle streams into ext, converted only
    where the container needs it; and a note for each one the container cannot hold."""
    args: list[str] = []
    dropped = []
    for i, codec in enumerate(codecs):
        text = codec in TEXT_SUBTITLES
        if ext in (".mp4", ".m4v", ".mov") and text:
            out = "copy" if codec == "mov_text" else "mov_text"
        elif ext == ".mkv":
            out = "srt" if codec == "mov_text" else "copy"
        elif ext == ".webm" and text:
            out = "copy" if codec == "webvtt" else "webvtt"
        else:
            dropped.append(codec)
            continue
        n = len(args) // 4
        args += ["-map", f"{source_input}:s:{i}", f"-c:s:{n}", out]
    notes = [f"{ext} cannot hold {codec} subtitles: subtitle stream not written (.mkv keeps it)" for codec in dropped]
    return args, notes


def audio_args(ext: str, audio_codecs: list[str]) -> list[str]:
    if not audio_codecs:
        return []
    copyable = AUDIO_COPYABLE.get(ext)
    if copyable is None or all(c in copyable for c in audio_codecs):
        return ["-c:a", "copy"]
    return AUDIO_FALLBACK.get(ext, ["-c:a", "aac", "-b:a", "192k"])


def _rotation_args(info: VideoInfo) -> list[str]:
    """Frames stay in their stored orientation; the display matrix goes back on as it was
    (an option of the input that carries the video)."""
    if not info.rotation:
        return []
    degrees = info.rotation if info.rotation <= 180 else info.rotation - 360
    return ["-display_rotation:v:0", str(degrees)]


def _container_args(ext: str, info: VideoInfo, to_stdout: bool = False) -> list[str]:
    args = []
    if info.time_base and ext in (".mp4", ".mov", ".m4v"):
        args += ["-video_track_timescale", str(info.time_base.denominator)]
    if ext in (".mp4", ".mov", ".m4v") and not to_stdout:
        args += ["-movflags", "+faststart"]
    return args


def source_streams_args(out_ext: str, info: VideoInfo, source: str | Path | None) -> tuple[list, list, list]:
    """What an output takes from its source file beside the video (input 0): the input, the
    maps and codecs of its audio and subtitles and its metadata (input 1), the video's language;
    and notes on what the container cannot hold."""
    inputs, maps, notes = [], [], []
    if source is not None and (info.has_audio or info.subtitle_codecs):
        inputs = ["-i", str(source)]
        maps = ["-map", "1:a?", "-map_metadata", "1"] + audio_args(out_ext, info.audio_codecs)
        subtitles, notes = subtitle_args(out_ext, info.subtitle_codecs)
        maps += subtitles
    # our raw stream carries no language, which Matroska reads as English: keep the source's
    maps += ["-metadata:s:v:0", f"language={info.language or 'und'}"]
    return inputs, maps, notes


def join_pieces(pieces: list[tuple[Path, fractions.Fraction | None]], dest: Path, info: VideoInfo,
                audio_source: Path | None, name: str) -> list[str]:
    """Join encoded pieces of one video into dest without re-encoding (ffmpeg's concat
    demuxer, stream copy), the display rotation and the source's audio and metadata put on
    as VideoWriter does. pieces: (file, seconds from its start time to the next one's), so that
    each piece's timestamps stay as they are in it. Returns notes on what dest cannot hold."""
    listing = Path(dest).with_name(Path(dest).name + ".concat.txt")
    lines = ["ffconcat version 1.0"]
    for path, seconds in pieces:
        quoted = str(Path(path).resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
        if seconds is not None:
            lines.append(f"duration {float(seconds):.6f}")
    listing.write_text("\n".join(lines) + "\n")
    ext = Path(dest).suffix.lower()
    args = [ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y"] + _rotation_args(info)
    args += ["-f", "concat", "-safe", "0", "-i", str(listing)]
    inputs, maps, notes = source_streams_args(ext, info, audio_source)
    args += inputs + ["-map", "0:v:0"] + maps
    # the concat demuxer's stream is no one's default: flag it as an encoder's own output is
    args += ["-c:v", "copy", "-disposition:v:0", "default"] + _container_args(ext, info) + [str(dest)]
    try:
        process = FFmpegProcess(args, stdin=subprocess.DEVNULL, label=name)
        if process.wait() != 0:
            raise ExternalToolError(f"{name}: joining the pieces failed "
                                    f"({process.error_text().replace(Path(dest).name, Path(name).name)})")
    finally:
        listing.unlink(missing_ok=True)
    return notes


class VideoWriter:
    """Encode frames to a file (or '-', a stream on stdout) with timestamps, rotation,
    metadata and the source's audio kept."""

    def __init__(self, dest: str | Path, info: VideoInfo, channels: int, settings: EncodeSettings,
                 audio_source: str | Path | None = None, audio_fd: int | None = None, container: str | None = None,
                 name: str | None = None, planar: bool = False, keep_timestamps: bool = False,
                 codec_ext: str | None = None):
        """keep_timestamps: the frames' timestamps as given, not moved to start at 0, and
        codec_ext: the extension whose codec to use (a piece of a long video, in an
        intermediate container, encoded for the final one)."""
        self.dest = str(dest)
        self.name = name or self.dest  # what users call it (dest may be a hidden temporary name)
        self.channels = channels
        self.info = info
        exe = ffmpeg_exe()
        ext = container or Path(self.dest).suffix.lower()
        to_stdout = self.dest == "-"
        args = [exe, "-hide_banner", "-nostats", "-loglevel", "error", "-y"] + (["-copyts"] if keep_timestamps else [])
        args += _rotation_args(info) + ["-noautorotate", "-f", "matroska", "-i", "pipe:0"]
        out_ext = ext if not to_stdout else "." + (container or settings.stream_format)
        if audio_fd is not None:
            args += ["-f", "nut", "-i", f"pipe:{audio_fd}", "-map", "0:v:0", "-map", "1:a?", "-map_metadata", "1"]
            args += audio_args(out_ext, info.audio_codecs) + ["-metadata:s:v:0", f"language={info.language or 'und'}"]
            self.notes: list[str] = []  # what the output could not keep, for the user
        else:
            inputs, maps, self.notes = source_streams_args(out_ext, info, audio_source)
            args += inputs + ["-map", "0:v:0"] + maps
        args += video_codec_args(codec_ext or ext, channels == 4, settings)
        # keep the source's colour tags; for RGB frames they also make ffmpeg convert back to
        # YUV with the source's own matrix, rather than BT.601 (a visible shift on HD video)
        args += [item for pair in info.colour.items() for item in pair]
        # the encoder keeps our microsecond timestamps: with the frame duration declared (above)
        # ffmpeg would otherwise time the encoder by the average frame rate, and a variable
        # frame rate's timestamps would land on that grid (collisions moved a tick apart)
        args += ["-fps_mode", "passthrough", "-enc_time_base:v", "demux"] + _container_args(ext, info, to_stdout)
        if to_stdout:
            fmt = STREAM_FORMATS.get(container or settings.stream_format, settings.stream_format)
            args += ["-f", fmt, "pipe:1"]
        else:
            args += [self.dest]
        # 4:2:0 chroma needs even sizes: odd frames get their last row/column repeated
        codec = args[args.index("-c:v") + 1]
        self.pad = (info.height % 2, info.width % 2) if codec in ("libx264", "libvpx-vp9") else (0, 0)
        if any(self.pad):
            self.notes.append(f"{info.width}x{info.height}: {codec} 4:2:0 needs even sizes, written as "
                              f"{info.width + self.pad[1]}x{info.height + self.pad[0]} (last row/column repeated)")
        depth = re.search(r"p(9|1[0-6])(le|be)$", info.pix_fmt)
        if depth:
            self.notes.append(f"{info.pix_fmt} source ({depth.group(1)}-bit): processed and written in 8 bits")
        self.planar = planar and channels == 3
        self.layout = "i420" if self.planar else {1: "gray", 4: "bgra"}.get(channels, "bgr")
        self.process = FFmpegProcess(args, stdin=subprocess.PIPE, stdout=None,
                                     pass_fds=(audio_fd,) if audio_fd is not None else (), label=self.dest)
        self.muxer = MatroskaRawMuxer(self.process.proc.stdin, info.width + self.pad[1], info.height + self.pad[0],
                                      self.layout, frame_seconds=float(1 / info.fps) if info.fps else None)
        self.tb = info.time_base or fractions.Fraction(1, 90000)
        self.frames = 0
        self.closed = False

    def write(self, pixels, pts: int) -> None:
        """pixels: an I420 frame (planar writers), a grey matte, or RGB / RGBA."""
        import cv2

        if isinstance(pixels, I420):
            raw = pixels.buffer if self.layout == "i420" else cv2.cvtColor(pixels.buffer, cv2.COLOR_YUV2BGR_I420)
        elif pixels.ndim == 2:
            raw = to_uint8(pixels)
            if self.layout != "gray":
                raw = cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
        elif pixels.shape[2] == 4:
            raw = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
        else:
            raw = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
        if any(self.pad):
            raw = np.pad(raw, ((0, self.pad[0]), (0, self.pad[1])) + ((0, 0),) * (raw.ndim - 2), mode="edge")
        try:
            self.muxer.write(raw, int(round(pts * self.tb * 1_000_000)))
        except (BrokenPipeError, OSError):
            self.process.wait(timeout=10)
            raise ExternalToolError(f"{self.name}: ffmpeg encoder stopped ({self._ffmpeg_error()})") from None
        self.frames += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.process.proc.stdin.close()
        except OSError:
            pass
        rc = self.process.wait()
        if rc != 0:
            raise ExternalToolError(f"{self.name}: ffmpeg encoder failed ({self._ffmpeg_error()})")

    def _ffmpeg_error(self) -> str:
        return self.process.error_text().replace(Path(self.dest).name, Path(self.name).name)

    def abort(self) -> None:
        try:
            self.process.proc.stdin.close()
        except OSError:
            pass
        self.process.kill()


class ImageSequenceWriter:
    """A folder of numbered PNG frames (RGBA for cutouts, grey for mattes).

    PNG has no rotation tag: frames of a clip with a display rotation (phones) are turned
    upright here, so the sequence shows what a player shows."""

    def __init__(self, folder: Path, pattern: str = "frame_{:06d}.png", rotation: int = 0):
        from portraitcli.media.atomic import SEQUENCE_MARK

        self.rotation = rotation
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / SEQUENCE_MARK).write_text("image sequence written by portraitcli\n")
        self.pattern = pattern
        self.frames = 0
        self.notes: list[str] = []

    def write(self, pixels: np.ndarray, pts: int) -> None:
        from portraitcli.media.frames import upright
        from portraitcli.media.photo import write_photo

        write_photo(self.folder / self.pattern.format(self.frames), upright(pixels, self.rotation), "PNG")
        self.frames += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class AudioRelay:
    """Carries a live stream's audio from the reader ffmpeg to the writer ffmpeg.

    Two pipes and a buffer between them: the reader must never block on audio while the
    writer is still waiting for video (that is a deadlock: the video it waits for is stuck
    behind the audio in the reader). Audio is small, so buffering it costs little.
    """

    def __init__(self):
        self.reader_end_read, self.reader_fd = os.pipe()  # reader ffmpeg writes into reader_fd
        self.writer_fd, self.writer_end_write = os.pipe()  # writer ffmpeg reads from writer_fd
        self._chunks: collections.deque[bytes] = collections.deque()
        self._ready = threading.Condition()
        self._done = False
        threading.Thread(target=self._collect, daemon=True).start()
        threading.Thread(target=self._deliver, daemon=True).start()

    def _collect(self):
        try:
            while True:
                chunk = os.read(self.reader_end_read, 1 << 16)
                if not chunk:
                    break
                with self._ready:
                    self._chunks.append(chunk)
                    self._ready.notify()
        except OSError:
            pass
        finally:
            with self._ready:
                self._done = True
                self._ready.notify()
            os.close(self.reader_end_read)

    def _deliver(self):
        try:
            while True:
                with self._ready:
                    while not self._chunks and not self._done:
                        self._ready.wait()
                    if not self._chunks:
                        break
                    chunk = self._chunks.popleft()
                os.write(self.writer_end_write, chunk)
        except OSError:
            pass
        finally:
            try:
                os.close(self.writer_end_write)
            except OSError:
                pass

    def close_child_ends(self):
        """Once both children hold their copies, the parent drops its own."""
        for fd in (self.reader_fd, self.writer_fd):
            try:
                os.close(fd)
            except OSError:
                pass
