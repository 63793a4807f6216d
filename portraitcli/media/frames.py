"""The pixel containers the flow passes along, and their conversions: I420 (a video frame in
its decoder's planes), Pyramid (a photo and its halvings), 8-bit and YUV conversions, rotation.

I420: a video frame kept in the 8-bit 4:2:0 planes the decoder produced.

Most video is yuv420p. Converting every frame to RGB and back costs two full-frame colour
conversions in ffmpeg and twice the pipe traffic, and the effects that only need light and
colour in linear combinations (blur, the matte itself) work as well on Y, U and V directly:
luma at full resolution, chroma at half. So the video path keeps such frames as I420 from
decoder to encoder: samples an effect leaves alone come out exactly as decoded.
"""
from __future__ import annotations

import cv2
import numpy as np

# BT.601 limited-range YUV <-> RGB (what ffmpeg assumes for untagged SD and what OpenCV's
# I420 conversions use): only ever applied to small images (the model input, bokeh's blur).
_YUV_TO_RGB = np.array([[1.164, 0.0, 1.596],
                        [1.164, -0.392, -0.813],
                        [1.164, 2.017, 0.0]], np.float32)
_YUV_OFFSET = np.array([16.0, 128.0, 128.0], np.float32)
_RGB_TO_YUV = np.linalg.inv(_YUV_TO_RGB).astype(np.float32)


class I420:
    """One frame as ffmpeg's yuv420p rawvideo: Y (H x W), then U and V (H/2 x W/2), in one
    contiguous (H * 3/2) x W uint8 buffer. Width and height are even."""

    __slots__ = ("buffer", "width", "height")

    def __init__(self, buffer: np.ndarray, width: int, height: int):
        if width % 2 or height % 2:
            raise ValueError("I420 frames need even width and height")
        self.buffer = buffer.reshape(height * 3 // 2, width)
        self.width, self.height = width, height

    @classmethod
    def empty(cls, width: int, height: int) -> "I420":
        return cls(np.empty((height * 3 // 2, width), np.uint8), width, height)

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def y(self) -> np.ndarray:
        return self.buffer[:self.height]

    def _chroma(self, k: int) -> np.ndarray:
        h, w = self.height, self.width
        start = h * w + k * (h // 2) * (w // 2)
        return self.buffer.reshape(-1)[start:start + (h // 2) * (w // 2)].reshape(h // 2, w // 2)

    @property
    def u(self) -> np.ndarray:
        return self._chroma(0)

    @property
    def v(self) -> np.ndarray:
        return self._chroma(1)

    def to_rgb(self) -> np.ndarray:
        """Full-resolution RGB (for effects that need it)."""
        return cv2.cvtColor(self.buffer, cv2.COLOR_YUV2RGB_I420)

    def small_rgb(self, width: int, height: int) -> np.ndarray:
        """RGB at a small size, straight from the planes (no full-size conversion)."""
        if width % 2 or height % 2:
            return yuv_to_rgb(shrink(self.y, width, height), shrink(self.u, width, height),
                              shrink(self.v, width, height))
        half = (width // 2, height // 2)
        small = np.concatenate([shrink(self.y, width, height).reshape(-1), shrink(self.u, *half).reshape(-1),
                                shrink(self.v, *half).reshape(-1)])
        return cv2.cvtColor(small.reshape(height * 3 // 2, width), cv2.COLOR_YUV2RGB_I420)


def halve(plane: np.ndarray) -> np.ndarray:
    """2x2 block average. OpenCV's SIMD path covers exactly 2x: 3x the speed of other integer
    factors on a 12 MP photo. An odd last row or column is dropped."""
    h, w = plane.shape[0] // 2, plane.shape[1] // 2
    return cv2.resize(plane[:2 * h, :2 * w], (w, h), interpolation=cv2.INTER_AREA)


class Pyramid:
    """An image and its successive 2x2 halvings, each made once, when first asked for. A photo's
    model input, refinement guide and background blur all begin by halving the same full-size
    pixels (about 6 ms each time on a 12 MP photo): given one Pyramid, they share the work."""

    __slots__ = ("levels",)

    def __init__(self, image: np.ndarray):
        self.levels = [image]

    @property
    def image(self) -> np.ndarray:
        return self.levels[0]

    @property
    def shape(self) -> tuple:
        return self.levels[0].shape

    def to_rgb(self) -> np.ndarray:
        """The full-size image (as I420.to_rgb, for code that takes either)."""
        return self.levels[0]

    def release_halvings(self) -> None:
        """Forget the halvings (a third of the image's bytes) once nothing will ask for them."""
        del self.levels[1:]

    def halved(self, times: int) -> np.ndarray:
        while len(self.levels) <= times:
            self.levels.append(halve(self.levels[-1]))
        return self.levels[times]

    def shrink(self, width: int, height: int) -> np.ndarray:
        """Area downscale: halved while at least twice the target (the fast path), then the rest."""
        h, w = self.shape[:2]
        times = 0
        while w >= 2 * width and h >= 2 * height:
            w, h, times = w // 2, h // 2, times + 1
        plane = self.halved(times)
        if w == width and h == height:
            return plane
        interp = cv2.INTER_AREA if h > height or w > width else cv2.INTER_LINEAR
        return cv2.resize(plane, (width, height), interpolation=interp)


def pyramid_of(image) -> Pyramid:
    """image itself if it is a Pyramid, else a new one over it."""
    return image if isinstance(image, Pyramid) else Pyramid(image)


def colour_pyramid(image) -> Pyramid:
    """A Pyramid over an image's colour: a Pyramid as it is, an array without its alpha channel
    (a grey plane stays grey)."""
    if isinstance(image, Pyramid):
        return image
    return Pyramid(image[:, :, :3] if image.ndim == 3 else image)


def shrink(image, width: int, height: int) -> np.ndarray:
    """Area downscale of an array or a Pyramid (reusing its halvings): see Pyramid.shrink."""
    return pyramid_of(image).shrink(width, height)


def peak(dtype) -> float:
    """The value of full white in pixels of this dtype (float pixels run to 1)."""
    return 65535.0 if dtype == np.uint16 else 255.0 if dtype == np.uint8 else 1.0


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """8-bit pixels from 8-bit, 16-bit or float [0, 1] ones (mattes and frames for display or encoding)."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return (pixels >> 8).astype(np.uint8)
    return np.clip(pixels.astype(np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """Planes of one size (uint8 or float 0..255) -> RGB (uint8, or float32 in [0, 1])."""
    yuv = np.dstack([y, u, v]).astype(np.float32) - _YUV_OFFSET
    rgb = yuv @ _YUV_TO_RGB.T
    if dtype == np.uint8:
        return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return np.clip(rgb * (1 / 255), 0, 1)


def rgb_to_yuv(rgb: np.ndarray) -> np.ndarray:
    """float32 RGB in [0, 1] -> float32 YUV levels (0..255 scale), 3 channels."""
    return (rgb * 255) @ _RGB_TO_YUV.T + _YUV_OFFSET


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """The image as displayed, given ffmpeg's rotation in degrees (e.g. -90 or 270)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def stored(image: np.ndarray, rotation: int) -> np.ndarray:
    """Inverse of upright: back to the orientation the frames are stored in."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, -k)) if k else image
