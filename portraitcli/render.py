"""The compositor step: one Renderer per job turns (frame, alpha) into output pixels.

It is built once from the command's options and used for every photo or video frame, so the
photo path, the video pipeline and the Python API share exactly the same effect code.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from portraitcli import effects
from portraitcli.frames import I420, Pyramid, colour_pyramid, stored
from portraitcli.options import COMMANDS, RenderOptions


def looks_like_colour(text: str) -> bool:
    try:
        effects.parse_colour(text)
        return not Path(text).exists()
    except ValueError:
        return False


class BackgroundSource:
    """A replacement background for frame i at a given size: a solid colour, a still image or
    a video (looped when shorter than the input, trimmed when longer)."""

    def __init__(self, spec: str):
        self.spec = spec
        self.colour: tuple[int, int, int] | None = None
        self.image: np.ndarray | None = None
        self.video = None
        self._cache: dict = {}
        self._lock = threading.Lock()
        if looks_like_colour(spec):
            self.colour = effects.parse_colour(spec)
            return
        path = Path(spec)
        if not path.exists():
            raise ValueError(f"background {spec!r}: no such file, and not a colour")
        from portraitcli.media.video import is_video_path

        if is_video_path(path):
            from portraitcli.media.video import LoopingVideo

            self.video = LoopingVideo(path)
        else:
            from portraitcli.media.photo import read_photo

            self.image = read_photo(path).rgb

    def frame(self, index: int, height: int, width: int, dtype, fit: str) -> np.ndarray:
        with self._lock:  # photos on the GPU path render on several threads
            return self._frame(index, height, width, dtype, fit)

    def _frame(self, index: int, height: int, width: int, dtype, fit: str) -> np.ndarray:
        if self.colour is not None:
            key = ("colour", height, width, np.dtype(dtype).str)
            if key not in self._cache:
                self._cache = {key: effects.solid(self.colour, height, width, dtype)}
            return self._cache[key]
        if self.image is not None:
            key = ("image", height, width, np.dtype(dtype).str, fit)
            if key not in self._cache:
                fitted = effects.fit_background(self.image, height, width, fit)
                self._cache = {key: effects.as_dtype(fitted, dtype)}
            return self._cache[key]
        frame = self.video.frame(index)
        return effects.as_dtype(effects.fit_background(frame, height, width, fit), dtype)

    def close(self) -> None:
        if self.video is not None:
            self.video.close()


def flatten_colour(options: RenderOptions) -> tuple[int, int, int]:
    """The colour a cutout is flattened onto where the output has no alpha."""
    if options.command == "cutout" and options.background:
        return effects.parse_colour(options.background)
    return (255, 255, 255)


class Renderer:
    def __init__(self, options: RenderOptions):
        if options.command not in COMMANDS:
            raise ValueError(f"unknown command {options.command!r}")
        self.options = options
        self.edges = options.edges
        self.background = None
        self.flatten_colour = flatten_colour(options)
        if options.command == "replace-bg":
            if not options.background:
                raise ValueError("replace-bg needs --background IMAGE|VIDEO|COLOUR")
            self.background = BackgroundSource(options.background)

    @property
    def output_channels(self) -> int:
        """1 for a matte, 4 for a cutout, 3 otherwise."""
        return {"segment": 1, "cutout": 4}.get(self.options.command, 3)

    def __call__(self, frame, alpha: np.ndarray, index: int = 0, rotation: int = 0):
        """The edge controls (feather, shift, threshold) on the alpha, then the effect."""
        return self.composite(frame, self.edges(alpha), index, rotation)

    def composite(self, frame, alpha: np.ndarray, index: int = 0, rotation: int = 0):
        """The effect alone, on an alpha whose edges are final.
        frame: RGB array, its Pyramid (a photo's halvings, shared with the matte) or I420 video
        frame (blur keeps I420; the others work in RGB);
        rotation: the frame's display rotation, so a new background goes on the right way up."""
        o = self.options
        if o.command == "segment":
            return effects.matte_image(alpha, None, np.uint16 if o.sixteen_bit_matte else np.uint8)
        if o.command == "blur":
            if isinstance(frame, I420):
                return effects.blur_background_i420(frame, alpha, o.strength, o.bokeh)
            return effects.blur_background(frame, alpha, o.strength, o.bokeh)
        # a photo's Pyramid goes on as it is: the foreground estimate reuses its halvings
        rgb = frame if isinstance(frame, (np.ndarray, Pyramid)) else frame.to_rgb()
        if o.command == "replace-bg":
            h, w = alpha.shape
            if (rotation // 90) % 2:
                h, w = w, h
            dtype = colour_pyramid(rgb).image.dtype
            back = stored(self.background.frame(index, h, w, dtype, o.fit), rotation)
            return effects.replace_background(rgb, alpha, back, o.edge_match)
        return effects.cutout(rgb, alpha)

    def close(self) -> None:
        if self.background is not None:
            self.background.close()
