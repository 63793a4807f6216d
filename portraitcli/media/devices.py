"""Live sources and sinks: webcams and capture devices in, virtual cameras and windows out.

- CameraSource: 'webcam:N' or '/dev/videoN' through OpenCV (the bundled ffmpeg has no v4l2),
  as RGB or, for the effects that work on planes, I420.
- V4L2LoopbackSink: a v4l2loopback device as a virtual camera, I420 frames written directly.
- PreviewSink: a window, where a display exists (OpenCV's HighGUI, else Tk).
CameraSource is a source as media/sources.py describes; the sinks are opened by media/sinks.py.
"""
from __future__ import annotations

import fractions
import os
import struct
import time

import numpy as np

from portraitcli.errors import InputError, PortraitError
from portraitcli.media.video import VideoInfo


def camera_frame(bgr: np.ndarray, planar: bool):
    """A captured BGR frame as the pipeline takes it: I420 (planar) or RGB."""
    import cv2

    from portraitcli.media.frames import I420

    if planar:
        height, width = bgr.shape[:2]
        return I420(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), width, height)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def to_bgr(pixels) -> np.ndarray:
    """A rendered frame (I420, grey matte, RGB or RGBA) as BGR for display."""
    import cv2

    from portraitcli.media.frames import I420, to_uint8

    if isinstance(pixels, I420):
        return cv2.cvtColor(pixels.buffer, cv2.COLOR_YUV2BGR_I420)
    if pixels.ndim == 2:
        return cv2.cvtColor(to_uint8(pixels), cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(np.ascontiguousarray(pixels[:, :, :3]), cv2.COLOR_RGB2BGR)


class CameraSource:
    """Frames from a capture device. planar: yield I420 frames (for effects that work on the
    planes, like the file path): cheaper to blur and to hand to a v4l2loopback device than RGB."""

    def __init__(self, spec: str, planar: bool = False):
        import cv2

        self.spec = spec
        target: int | str = int(spec.split(":", 1)[1] or 0) if spec.startswith("webcam:") else spec
        if isinstance(target, str) and not os.path.exists(target):
            raise InputError(f"{spec}: no such capture device")
        self.capture = cv2.VideoCapture(target)
        if not self.capture.isOpened():
            raise InputError(f"{spec}: cannot open capture device")
        # a live source must never queue stale frames
        self.capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        fps = self.capture.get(cv2.CAP_PROP_FPS) or 30.0
        self.info = VideoInfo(width=int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                              height=int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                              fps=fractions.Fraction(fps).limit_denominator(1001),
                              time_base=fractions.Fraction(1, 1_000_000))
        self.planar = planar and self.info.width % 2 == 0 and self.info.height % 2 == 0

    def __iter__(self):
        start = time.monotonic()
        index = 0
        while True:
            ok, bgr = self.capture.read()
            if not ok:
                break
            pts = int((time.monotonic() - start) * 1_000_000)
            yield index, pts, camera_frame(bgr, self.planar)
            index += 1

    @property
    def name(self) -> str:
        return self.spec

    audio = None  # OpenCV captures pictures only

    def close(self):
        self.capture.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# struct v4l2_format for VIDIOC_S_FMT on 64-bit Linux: u32 type, 4 bytes padding, 200-byte union
VIDIOC_S_FMT = 0xC0D05605
V4L2_BUF_TYPE_VIDEO_OUTPUT = 2
V4L2_FIELD_NONE = 1
V4L2_COLORSPACE_SRGB = 8


def fourcc(code: str) -> int:
    return struct.unpack("<I", code.encode())[0]


class V4L2LoopbackSink:
    """Frames to a v4l2loopback device, e.g. `modprobe v4l2loopback` then /dev/video10."""

    def __init__(self, device: str, width: int, height: int):
        import fcntl

        width, height = width - width % 2, height - height % 2
        self.width, self.height = width, height
        try:
            self.fd = os.open(device, os.O_RDWR)
        except OSError as exc:
            raise PortraitError(f"{device}: cannot open for writing ({exc.strerror})") from None
        size = width * height * 3 // 2
        pix = struct.pack("<IIIIIIIIIIII", width, height, fourcc("YU12"), V4L2_FIELD_NONE, width, size,
                          V4L2_COLORSPACE_SRGB, 0, 0, 0, 0, 0)
        fmt = struct.pack("<II", V4L2_BUF_TYPE_VIDEO_OUTPUT, 0) + pix + bytes(200 - len(pix))
        try:
            fcntl.ioctl(self.fd, VIDIOC_S_FMT, fmt)
        except OSError as exc:
            os.close(self.fd)
            raise PortraitError(f"{device}: not a v4l2loopback output device ({exc.strerror})") from None
        self.device = device

    def write(self, pixels, pts: int) -> None:
        import cv2

        from portraitcli.media.frames import I420

        if not (isinstance(pixels, I420) and pixels.shape == (self.height, self.width)):
            rgb_frame = not isinstance(pixels, I420) and pixels.ndim == 3 and pixels.dtype == np.uint8
            # RGB converts straight to I420; anything else by way of its BGR display form
            picture = (pixels[:, :, :3] if rgb_frame else to_bgr(pixels))[: self.height, : self.width]
            code = cv2.COLOR_RGB2YUV_I420 if rgb_frame else cv2.COLOR_BGR2YUV_I420
            pixels = I420(cv2.cvtColor(np.ascontiguousarray(picture), code), self.width, self.height)
        os.write(self.fd, pixels.buffer)  # I420 frames go out as they are

    def close(self) -> None:
        os.close(self.fd)

    abort = close  # a virtual camera has nothing to take back


class PreviewSink:
    """A window showing the result; closing it (or q / Esc) ends the stream."""

    def __init__(self, title: str = "portraitcli"):
        import cv2

        self.title = title
        self.backend = None
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.name == "nt"
                or os.uname().sysname == "Darwin"):
            raise PortraitError("--preview needs a display (no DISPLAY or WAYLAND_DISPLAY set)")
        try:
            cv2.namedWindow(title)
            self.backend = "opencv"
        except cv2.error:
            import tkinter  # opencv-python-headless has no windows: fall back to Tk

            self.root = tkinter.Tk()
            self.root.title(title)
            self.label = tkinter.Label(self.root)
            self.label.pack()
            self.backend = "tk"

    def write(self, pixels, pts: int) -> None:
        import cv2

        bgr = to_bgr(pixels)
        if self.backend == "opencv":
            cv2.imshow(self.title, bgr)
            if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                raise KeyboardInterrupt
            return
        import tkinter

        ok, png = cv2.imencode(".png", bgr)
        self._image = tkinter.PhotoImage(data=png.tobytes())
        self.label.configure(image=self._image)
        self.root.update()

    def close(self) -> None:
        if self.backend == "opencv":
            import cv2

            cv2.destroyWindow(self.title)
        elif self.backend == "tk":
            self.root.destroy()

    abort = close
