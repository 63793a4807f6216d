"""Pipeline code as it was before the band-limited rewrites (edge colour, refinement, blur
factor), kept as the oracle the faster versions are compared against
(tests/test_effects_equivalence.py). Not used by portraitcli."""
from __future__ import annotations

import cv2
import numpy as np

from portraitcli.compositing.effects import composite, from_float, to_float


def _normalised_box(values, weight, radius):
    k = (2 * radius + 1, 2 * radius + 1)
    num = cv2.boxFilter(values * weight[:, :, None], -1, k, borderType=cv2.BORDER_REFLECT)
    den = cv2.boxFilter(weight, -1, k, borderType=cv2.BORDER_REFLECT)
    return num / (den[:, :, None] + 1e-5)


def _fusion_step(image, fore, back, alpha, radius):
    fore_mean = _normalised_box(fore, alpha, radius)
    back_mean = _normalised_box(back, 1.0 - alpha, radius)
    a = alpha[:, :, None]
    fore = fore_mean + a * (image - a * fore_mean - (1 - a) * back_mean)
    return np.clip(fore, 0, 1), back_mean


def _small(x, size):
    return cv2.resize(x, size, interpolation=cv2.INTER_AREA) if x.shape[1::-1] != size else x


class ForegroundEstimate:
    def __init__(self, rgb, alpha, work_side=1024):
        height, width = alpha.shape
        scale = min(1.0, work_side / max(height, width))
        self.full_size = (width, height)
        self.size = (max(1, round(width * scale)), max(1, round(height * scale)))
        self.image = to_float(_small(rgb[:, :, :3], self.size))
        self.alpha = _small(alpha, self.size)
        wide = max(3, round(max(self.size) / 12))
        fore, back = _fusion_step(self.image, self.image, self.image, self.alpha, wide)
        fine = max(2, round(max(self.size) / 300))
        self.fore, _ = _fusion_step(self.image, fore, back, self.alpha, fine)
        self.back = back

    def foreground(self, rgb, extra_correction=None):
        correction = self.fore - self.image
        if extra_correction is not None:
            correction = correction + extra_correction
        correction = cv2.resize(correction, self.full_size, interpolation=cv2.INTER_LINEAR)
        return np.clip(to_float(rgb[:, :, :3]) + correction, 0, 1)


def replace_background(rgb, alpha, background, edge_match=0.3):
    estimate = ForegroundEstimate(rgb, alpha)
    light = None
    if edge_match > 0:
        sigma = max(2.0, max(estimate.size) / 100)
        new_small = to_float(_small(background, estimate.size))
        light = cv2.GaussianBlur(new_small, (0, 0), sigma) - cv2.GaussianBlur(estimate.back, (0, 0), sigma)
        edge = (estimate.alpha * (1 - estimate.alpha) * 4)[:, :, None]
        light = edge_match * edge * light
    fore = estimate.foreground(rgb, light)
    return composite(from_float(fore, rgb.dtype), np.ascontiguousarray(background), alpha)


def cutout(rgb, alpha):
    fore = ForegroundEstimate(rgb, alpha).foreground(rgb)
    return np.dstack([from_float(fore, rgb.dtype), from_float(alpha, rgb.dtype)])


def blur_factor(sigma, bokeh):
    """The blur's shrink factor before: the power of two nearest to sigma / 3.5."""
    import math

    factor = 2 ** max(0, round(math.log2(max(sigma, 1.0) / 3.5)))
    return max(1, factor // 2) if bokeh else factor


def refine(prob, frame, fit):
    """matte.refine before: a and b upsampled to full resolution everywhere."""
    from portraitcli.matting.refine import coefficients, full_frame_alpha

    a, b, luma_source = coefficients(prob, frame, fit)
    return full_frame_alpha(a, b, luma_source, frame.shape[1], frame.shape[0])
