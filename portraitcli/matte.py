"""Full-resolution alpha from the model's low-resolution probability map.

A fast guided filter (He & Sun, 2015): the linear model alpha ~ a * I + b is fitted locally
at a working resolution, with the photo's own luminance I as the guide, and the smooth
coefficients a, b are then upsampled and applied to the full-resolution luminance. Edges and
hair therefore follow the photo, not the 256x256 grid, at the cost of a few full-resolution
multiply-adds.
"""
from __future__ import annotations

import cv2
import numpy as np

from portraitcli.frames import guide_of, shrink

# The fit runs with the guide downscaled so its long side is at most this.
WORKING_SIDE = 640
# Alpha this close to 0 or 1 (under one 8-bit level of difference) is snapped to it.
SNAP = 1 / 255


def upsample(prob: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)


# Logit gain applied before the fit: the network's edges are a few model pixels wide and a
# guided filter can only move an edge within its radius, so the ramp is narrowed first and
# the filter then places it on the photo's own edge. It also firms up a person the model is
# only 80% sure of inside (0.8 -> 0.985), where the blurred background would show through.
# On ccp/val, gain 2 -> 3 -> 4: boundary F1 0.7855 -> 0.7871 -> 0.7878, MAE 0.0448 -> 0.0429
# -> 0.0423, IoU equal; 3 keeps soft hair softer than the binary val masks would reward.
EDGE_GAIN = 3.0


def sharpen(prob: np.ndarray, gain: float = EDGE_GAIN) -> np.ndarray:
    p = np.clip(prob, 1e-4, 1 - 1e-4)
    # cv2.pow multiplies for whole-number powers: 10x numpy's general power on a 256x256 map
    return 1.0 / (1.0 + cv2.pow((1 - p) / p, gain))


def refine(prob: np.ndarray, rgb: np.ndarray, radius: int = 10, eps: float = 1e-3) -> np.ndarray:
    """prob: model output (any size), rgb: the full-resolution frame -> float32 HxW alpha in [0, 1].

    radius is in working-resolution pixels; eps trades edge-snapping (small) for smoothness.
    """
    height, width = rgb.shape[:2]
    grey = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb[:, :, :3], cv2.COLOR_RGB2GRAY)
    unit = 1 / 255 if grey.dtype == np.uint8 else 1 / 65535 if grey.dtype == np.uint16 else 1.0
    scale = min(1.0, WORKING_SIDE / max(height, width))
    w_small, h_small = max(1, round(width * scale)), max(1, round(height * scale))
    # fit at working resolution (resizing the 8-bit grey is far cheaper than a float copy)
    small = shrink(grey, w_small, h_small) if scale < 1 else grey
    guide = np.multiply(small, np.float32(unit), dtype=np.float32)
    p = cv2.resize(sharpen(prob.astype(np.float32)), (w_small, h_small), interpolation=cv2.INTER_LINEAR)

    ksize = (2 * radius + 1, 2 * radius + 1)

    def box(x):
        return cv2.boxFilter(x, -1, ksize, borderType=cv2.BORDER_REFLECT)

    # (OpenCV's element-wise ops throughout: 2-3x numpy's speed on these float images)
    mean_i, mean_p = box(guide), box(p)
    var_i = cv2.subtract(box(cv2.multiply(guide, guide)), cv2.multiply(mean_i, mean_i))
    cov_ip = cv2.subtract(box(cv2.multiply(guide, p)), cv2.multiply(mean_i, mean_p))
    # The stretch of [SNAP, 1 - SNAP] onto [0, 1] (0.5 stays 0.5) is folded into a and b,
    # which the box filter keeps: alpha within one 8-bit level of 0 or 1 becomes exactly 0
    # or 1 at the clip below, so whole background and whole person are exact, and
    # compositing can copy them instead of blending.
    stretch = 1.0 / (1.0 - 2 * SNAP)
    a = cv2.divide(cov_ip, var_i + np.float32(eps), scale=stretch)
    b = cv2.addWeighted(mean_p, stretch, cv2.multiply(a, mean_i), -1.0, -SNAP * stretch)  # (b - SNAP) * stretch
    mean_a, mean_b = box(a), box(b)
    if scale < 1:
        mean_a = cv2.resize(mean_a, (width, height), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (width, height), interpolation=cv2.INTER_LINEAR)
    # alpha = a * I + b at full resolution, in two OpenCV passes with no float copy of I, written
    # over a (no new full-size buffer: 12 MP refinement 57 -> 49 ms)
    alpha = cv2.multiply(mean_a, grey, dst=mean_a, dtype=cv2.CV_32F, scale=unit)
    cv2.add(alpha, mean_b, dst=alpha)
    return np.clip(alpha, 0.0, 1.0, out=alpha)


def full_resolution(prob: np.ndarray, frame, refine_edges: bool = True) -> np.ndarray:
    """The one place that turns a model probability into a full-resolution alpha.
    frame: the RGB array, or an I420 video frame (its luma is the guide)."""
    rgb = guide_of(frame)
    if refine_edges:
        return refine(prob, rgb)
    return np.clip(upsample(prob.astype(np.float32), rgb.shape[1], rgb.shape[0]), 0.0, 1.0)
