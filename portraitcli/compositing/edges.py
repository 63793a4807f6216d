"""Edge controls on the full-resolution matte: feather, shift, threshold, in that order.

They run after refinement (and, in video, after the temporal filter), on the alpha the
compositor receives, so the same pixel sizes mean the same thing for a photo and a video frame:

    feather PX   soften: a Gaussian of sigma PX/2 widens the soft band by about PX on each side
    shift PX     grow (positive) or shrink (negative) the matte by PX pixels (grey dilation/erosion
                 with a disc, so soft edges keep their profile and move as a whole)
    threshold T  hard edge: alpha above T becomes 1, the rest 0
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _disc(radius: int) -> np.ndarray:
    import cv2

    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def feather(alpha: np.ndarray, pixels: float) -> np.ndarray:
    import cv2

    if pixels <= 0:
        return alpha
    sigma = pixels / 2
    return cv2.GaussianBlur(alpha, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)


def shift(alpha: np.ndarray, pixels: int) -> np.ndarray:
    import cv2

    if pixels == 0:
        return alpha
    op = cv2.dilate if pixels > 0 else cv2.erode
    # one large disc costs as much per pixel as its area: repeated small discs cover the same
    # distance (a disc of radius r applied k times reaches k*r) for far less
    radius = abs(int(pixels))
    step = min(radius, 4)
    times, rest = divmod(radius, step)
    out = op(alpha, _disc(step), iterations=times, borderType=cv2.BORDER_REPLICATE)
    if rest:
        out = op(out, _disc(rest), borderType=cv2.BORDER_REPLICATE)
    return out


def threshold(alpha: np.ndarray, level: float) -> np.ndarray:
    return (alpha > level).astype(np.float32)


@dataclass
class EdgeControls:
    feather: float = 0.0
    shift: int = 0
    threshold: float | None = None

    @property
    def active(self) -> bool:
        return bool(self.feather) or bool(self.shift) or self.threshold is not None

    def __call__(self, alpha: np.ndarray) -> np.ndarray:
        """float32 HxW alpha in [0, 1] -> the edited alpha (a new array; the input is left alone)."""
        if not self.active:
            return alpha
        out = np.ascontiguousarray(alpha, dtype=np.float32)
        out = feather(out, self.feather)
        out = shift(out, self.shift)
        if self.threshold is not None:
            out = threshold(out, self.threshold)
        return out
