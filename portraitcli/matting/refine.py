"""Full-resolution alpha from the model's low-resolution probability map.

A fast guided filter (He & Sun, 2015) with the frame's colour as the guide: the linear model
alpha ~ a . (R, G, B) + b is fitted locally at a working resolution, and the smooth coefficients
are then upsampled and applied at full resolution. Edges and hair therefore follow the photo, not
the 256x256 grid. Colour, not luminance alone, separates a person from a background of the same
brightness (ccp/val, both models: +0.003 IoU, +0.004 boundary F1, -0.003 MAE; models/README.md).

Only the luminance term is applied at full resolution; the two colour-difference terms are folded
into the offset at the working resolution. Fine detail is nearly all in luminance (and video's
chroma is stored at half resolution anyway), so this scores as a full-resolution colour filter
would on ccp/val while costing, at full resolution, what a luminance-only filter costs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from portraitcli.media.bands import row_bands, upsample_rows
from portraitcli.media.frames import I420, colour_pyramid, peak


@dataclass(frozen=True)
class Fit:
    """How the guided filter is fitted: on the guide downscaled so its long side is at most
    `side`, with a box radius of 1/64 of it; `eps` regularises (small: alpha snaps to weaker
    colour edges; large: smoother); `gain` narrows the network's edge ramp first (sharpen)."""
    side: int
    eps: float
    gain: float


# The colour fit costs about 4x the luminance-only one per pixel, so it runs coarser than the
# luminance fit did (640): on a 12 MP photo, 480 costs what luminance at 640 cost, and video
# frames, which have a few milliseconds each, get 320. Both beat luminance at 640 on ccp/val
# (IoU / boundary F1 / MAE, full bodies, eps 1e-3, gain 3: luminance 640: 0.9047 / 0.8349 /
# 0.0371; colour 640: 0.9075 / 0.8412 / 0.0333, 480: 0.9074 / 0.8395 / 0.0340, 320: 0.9072 /
# 0.8380 / 0.0332). Photos: eps 1e-4 and gain 4 follow weaker colour edges; they
# scored better than eps 1e-3 and gain 3 on both halves of ccp/val alike (full bodies, even and
# odd ids: IoU +0.0003 / +0.0008, boundary F1 +0.0026 / +0.0033, MAE -0.002; crops BF1 +0.0005
# / +0.0012; whole set, ours 0.9074 / 0.8395 / 0.0340 -> 0.9080 / 0.8425 / 0.0317, MediaPipe's
# 0.9315 / 0.8896 -> 0.9317 / 0.8909). Video keeps eps 1e-3 and gain 3: on bench/temporal.py's
# clips the photo values gave no IoU (0.9269 against 0.9270) and a little more still-camera
# flicker (0.0008 against 0.0007 smoothed).
PHOTO_FIT = Fit(480, 1e-4, 4.0)
VIDEO_FIT = Fit(320, 1e-3, 3.0)

# Alpha this close to 0 or 1 (under one 8-bit level of difference) is snapped to it.
SNAP = 1 / 255

# An I420 frame's Y plane is the luma OpenCV's RGB->grey gives, in BT.601 video levels:
# grey = 1.164 * (Y - 16) / 255.
_Y_SCALE, _Y_BLACK = 1.164 / 255, 16.0


def upsample(prob: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)


# The logit gain applied before the fit: the network's edges are a few model pixels wide and a
# guided filter can only move an edge within its radius, so the ramp is narrowed first and
# the filter then places it on the photo's own edge. It also firms up a person the model is
# only 80% sure of inside (gain 3: 0.8 -> 0.985), where the blurred background would show through.
def sharpen(prob: np.ndarray, gain: float) -> np.ndarray:
    p = np.clip(prob, 1e-4, 1 - 1e-4)
    # cv2.pow multiplies for whole-number powers: 10x numpy's general power on a 256x256 map
    return 1.0 / (1.0 + cv2.pow((1 - p) / p, gain))


def _guide(frame, width: int, height: int):
    """frame: I420, an RGB or grey array, or a Pyramid of one -> (working-resolution guide: float32
    RGB in [0, 1], or one grey plane; the full-resolution luma source (a luma plane, or the RGB
    image whose grey `luma` makes, only where it is needed); its scale and black level to [0, 1]
    grey)."""
    if isinstance(frame, I420):
        small = np.multiply(frame.small_rgb(width, height), np.float32(1 / 255), dtype=np.float32)
        return small, frame.y, _Y_SCALE, _Y_BLACK
    levels = colour_pyramid(frame)
    image = levels.image
    unit = 1.0 / peak(image.dtype)
    # (resizing 8-bit pixels is far cheaper than a float copy)
    small = np.multiply(levels.shrink(width, height), np.float32(unit), dtype=np.float32)
    return small, image, unit, 0.0


def luma(source: np.ndarray, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
    """The luma of part of a luma source (_guide): the plane itself, or the grey of RGB pixels."""
    part = source[rows, cols]
    return part if part.ndim == 2 else cv2.cvtColor(part, cv2.COLOR_RGB2GRAY)


def _fit(guide: np.ndarray, p: np.ndarray, radius: int, eps: float):
    """Guided-filter coefficients, box-averaged: (a, b) with alpha ~ a . guide + b. For a grey
    guide a is one plane; for colour, a list of one per channel, from each pixel's 3x3 system
    solved in closed form. (OpenCV's element-wise ops throughout: 2-3x numpy's speed on these
    float images; numpy where a 4x1 image would pass OpenCV's binding as a scalar.)"""
    ksize = (2 * radius + 1, 2 * radius + 1)
    mul, sub, add = cv2.multiply, cv2.subtract, cv2.add

    def box(x):
        return cv2.boxFilter(x, -1, ksize, borderType=cv2.BORDER_REFLECT)

    def covariance(x, y, mean_x, mean_y):
        return sub(box(mul(x, y)), mul(mean_x, mean_y))

    mean_p = box(p)
    if guide.ndim == 2:
        mean_i = box(guide)
        a = cv2.divide(covariance(guide, p, mean_i, mean_p),
                       covariance(guide, guide, mean_i, mean_i) + np.float32(eps))
        return box(a), box(sub(mean_p, mul(a, mean_i)))
    planes = cv2.split(guide)
    means = [box(x) for x in planes]
    v = [covariance(x, p, m, mean_p) for x, m in zip(planes, means)]
    s = {(i, j): covariance(planes[i], planes[j], means[i], means[j]) for i in range(3) for j in range(i, 3)}
    for i in range(3):
        s[i, i] += np.float32(eps)
    # inverse of the symmetric covariance by cofactors (eps keeps it positive definite)

    def det2(w, x, y, z):
        return sub(mul(w, x), mul(y, z))

    c = {(0, 0): det2(s[1, 1], s[2, 2], s[1, 2], s[1, 2]), (0, 1): det2(s[0, 2], s[1, 2], s[0, 1], s[2, 2]),
         (0, 2): det2(s[0, 1], s[1, 2], s[0, 2], s[1, 1]), (1, 1): det2(s[0, 0], s[2, 2], s[0, 2], s[0, 2]),
         (1, 2): det2(s[0, 1], s[0, 2], s[0, 0], s[1, 2]), (2, 2): det2(s[0, 0], s[1, 1], s[0, 1], s[0, 1])}
    inv_det = np.float32(1) / add(add(mul(s[0, 0], c[0, 0]), mul(s[0, 1], c[0, 1])), mul(s[0, 2], c[0, 2]))
    a, b = [], mean_p
    for i in range(3):
        row = [c[min(i, j), max(i, j)] for j in range(3)]
        a_i = mul(add(add(mul(row[0], v[0]), mul(row[1], v[1])), mul(row[2], v[2])), inv_det)
        b = sub(b, mul(a_i, means[i]))
        a.append(box(a_i))
    return a, box(b)


def refine(prob: np.ndarray, frame, fit: Fit = PHOTO_FIT, out: np.ndarray | None = None) -> np.ndarray:
    """prob: model output (any size); frame: the full-resolution RGB (8/16-bit or float), grey
    plane, a Pyramid of either, or an I420 frame -> float32 HxW alpha in [0, 1], written into
    out when given (e.g. a region of a larger alpha)."""
    a, b, luma_source = coefficients(prob, frame, fit)
    height, width = frame.shape[:2]
    if a.shape != (height, width) and width * height >= _BAND_MIN_PIXELS:
        return _upsampled_alpha(a, b, luma_source, width, height, out)
    return full_frame_alpha(a, b, luma_source, width, height, out)


def full_frame_alpha(a: np.ndarray, b: np.ndarray, luma_source: np.ndarray, width: int, height: int,
                     out: np.ndarray | None = None) -> np.ndarray:
    """clip(a * luma + b) with a and b upsampled over the whole frame (the frames under
    _BAND_MIN_PIXELS; the reference the band-by-band path is tested against). Big frames go
    band by band: a and b are never made at full size (8 bytes a pixel)."""
    bands = list(row_bands(height, width))
    if out is None and len(bands) > 1:
        out = np.empty((height, width), np.float32)
    scaled = a.shape != (height, width)
    for rows in bands:
        a_rows = upsample_rows(a, width, height, rows) if scaled else a[rows]
        b_rows = upsample_rows(b, width, height, rows) if scaled else b[rows]
        # alpha = a * luma + b at full resolution, in two OpenCV passes with no float copy of
        # the luma, written over a (no new full-size buffer: 12 MP refinement 57 -> 49 ms)
        alpha = cv2.multiply(a_rows, luma(luma_source, rows), dst=a_rows, dtype=cv2.CV_32F)
        cv2.add(alpha, b_rows, dst=alpha)
        np.clip(alpha, 0.0, 1.0, out=alpha if out is None else out[rows])
    return alpha if out is None else out


def coefficients(prob: np.ndarray, frame, fit: Fit = PHOTO_FIT):
    """The refinement's linear model at the working resolution: (a, b, luma source) such that
    the full-resolution alpha is clip(upsampled a * luma + upsampled b)."""
    height, width = frame.shape[:2]
    scale = min(1.0, fit.side / max(height, width))
    radius = max(1, round(fit.side / 64))
    w_small, h_small = max(1, round(width * scale)), max(1, round(height * scale))
    guide, luma_source, luma_scale, luma_black = _guide(frame, w_small, h_small)
    p = cv2.resize(sharpen(prob.astype(np.float32), fit.gain), (w_small, h_small), interpolation=cv2.INTER_LINEAR)
    a, b = _fit(guide, p, radius, fit.eps)
    if isinstance(a, list):
        # sum(a_c * c) = sum(a_c) * luma + sum(a_c * (c - luma)) since the luma weights sum to 1:
        # the luma term is applied at full resolution, the colour differences here, at the
        # working resolution, in the offset
        small_luma = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY)
        for a_c, plane in zip(a, cv2.split(guide)):
            b = cv2.add(b, cv2.multiply(a_c, cv2.subtract(plane, small_luma)))
        a = cv2.add(cv2.add(a[0], a[1]), a[2])
    # The stretch of [SNAP, 1 - SNAP] onto [0, 1] (0.5 stays 0.5) and the luma's black level are
    # folded into a and b, which the upsampling keeps: alpha within one 8-bit level of 0 or 1
    # becomes exactly 0 or 1 at refine's clip, so whole background and whole person are exact,
    # and compositing can copy them instead of blending.
    stretch = 1.0 / (1.0 - 2 * SNAP)
    b = (b - a * np.float32(luma_black * luma_scale) - np.float32(SNAP)) * np.float32(stretch)
    a = a * np.float32(stretch * luma_scale)
    return a, b, luma_source


# Rows per band of the band-by-band upsampling (rounded up to whole alignment units), and the
# frame size from which it pays: its many small upsamplings cost more than they save below a
# few megapixels (one thread, the same frames: 12 MP portrait 48 against 64 ms for the whole
# refinement; a 720p video frame 7.8 against 6.2 ms).
_BAND_ROWS = 64
_BAND_MIN_PIXELS = 4_000_000
# Pixels per band when filling the whole-person and whole-background parts of the alpha.
_FILL_PIXELS = 1_000_000


def _upsampled_alpha(a: np.ndarray, b: np.ndarray, luma_source: np.ndarray, width: int, height: int,
                     out: np.ndarray | None = None) -> np.ndarray:
    """clip(a * luma + b) at full resolution, with a and b upsampled bilinearly from the working
    resolution: the pixels a full-frame upsampling gives, computed only where they can fall
    strictly between 0 and 1 (the edge band: about a fifth of a 12 MP portrait). Elsewhere the
    working-resolution bounds of a * luma + b over the whole luma range settle the answer,
    exactly 0 or 1. Written into out when given; no full-size temporary either way."""
    h_small, w_small = a.shape
    top = np.float32(peak(luma_source.dtype))
    low = b + np.minimum(a, 0) * top
    high = b + np.maximum(a, 0) * top
    # each full pixel interpolates the two working pixels around its nearest-neighbour one in
    # each direction, so a class holds only where its whole 3x3 neighbourhood has it
    around = np.ones((3, 3), np.uint8)
    one = cv2.erode((low >= 1).view(np.uint8), around)
    zero = cv2.erode((high <= 0).view(np.uint8), around)
    alpha = np.empty((height, width), np.float32) if out is None else out
    # whole person 1, whole background 0, from each pixel's nearest working pixel, band by band
    nearest_rows = np.minimum(np.arange(height) * h_small // height, h_small - 1)
    ones = one.astype(np.float32)
    step = max(1, _FILL_PIXELS // width)
    for y0 in range(0, height, step):
        rows = slice(y0, min(height, y0 + step))
        alpha[rows] = cv2.resize(ones[nearest_rows[rows]], (width, rows.stop - rows.start),
                                 interpolation=cv2.INTER_NEAREST)
    mixed = (one | zero) == 0
    if not mixed.any():
        return alpha
    # A crop of a and b upsamples to the pixels of the full-frame upsampling when its origin
    # falls on a whole pixel at both resolutions: every `unit` full pixels (`step` working ones).
    unit_x, unit_y = width // math.gcd(width, w_small), height // math.gcd(height, h_small)
    step_x, step_y = w_small * unit_x // width, h_small * unit_y // height
    units = mixed.reshape(h_small // step_y, step_y, w_small // step_x, step_x).any(axis=(1, 3))
    band = max(1, -(-_BAND_ROWS // unit_y))
    for r0 in range(0, units.shape[0], band):
        r1 = min(units.shape[0], r0 + band)
        columns = units[r0:r1].any(axis=0)
        # runs of mixed unit columns, a one-unit gap bridged (each crop carries a unit of margin)
        columns[1:-1] |= columns[:-2] & columns[2:]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], columns.view(np.int8), [0]])))
        for c0, c1 in zip(edges[::2], edges[1::2]):
            rows, cols = slice(r0 * unit_y, r1 * unit_y), slice(int(c0) * unit_x, int(c1) * unit_x)
            sy0, sy1 = max(0, (r0 - 1) * step_y), min(h_small, (r1 + 1) * step_y)
            sx0, sx1 = max(0, (int(c0) - 1) * step_x), min(w_small, (int(c1) + 1) * step_x)
            size = ((sx1 - sx0) // step_x * unit_x, (sy1 - sy0) // step_y * unit_y)
            oy, ox = rows.start - sy0 // step_y * unit_y, cols.start - sx0 // step_x * unit_x
            inside = (slice(oy, oy + rows.stop - rows.start), slice(ox, ox + cols.stop - cols.start))
            a_up = cv2.resize(a[sy0:sy1, sx0:sx1], size, interpolation=cv2.INTER_LINEAR)[inside]
            b_up = cv2.resize(b[sy0:sy1, sx0:sx1], size, interpolation=cv2.INTER_LINEAR)[inside]
            part = cv2.multiply(a_up, luma(luma_source, rows, cols), dtype=cv2.CV_32F)
            alpha[rows, cols] = np.clip(cv2.add(part, b_up, dst=part), 0.0, 1.0, out=part)
    return alpha


def full_resolution(prob: np.ndarray, frame, refine_edges: bool = True, fit: Fit = PHOTO_FIT,
                    out: np.ndarray | None = None) -> np.ndarray:
    """The one place that turns a model probability into a full-resolution alpha.
    frame: the RGB array (or a Pyramid of it), or an I420 video frame. fit: the refinement's
    (PHOTO_FIT or VIDEO_FIT). out: where to write it."""
    if refine_edges:
        return refine(prob, frame, fit, out)
    height, width = frame.shape[:2]
    alpha = np.clip(upsample(prob.astype(np.float32), width, height), 0.0, 1.0)
    if out is None:
        return alpha
    out[...] = alpha
    return out
