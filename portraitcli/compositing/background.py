"""A replacement background for replace-bg: a solid colour, a still image or a looping video,
fitted to each frame's size."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from portraitcli.compositing import effects


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
