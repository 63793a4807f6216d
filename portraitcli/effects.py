"""Compositors: what to do with a frame once its full-resolution alpha is known.

Every function takes the frame as HxWx3 RGB (uint8, uint16 or float32 in [0, 1]) and alpha as
float32 HxW in [0, 1], and returns pixels of the frame's own dtype, so 16-bit photos stay 16-bit.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from portraitcli.frames import colour_pyramid, halve, peak, pyramid_of, row_bands, upsample_rows

# --------------------------------------------------------------------------- dtype helpers


def to_float(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.float32:
        return pixels
    return pixels.astype(np.float32) * (1.0 / peak(pixels.dtype))


def from_float(x: np.ndarray, dtype) -> np.ndarray:
    if dtype == np.float32:
        return np.clip(x, 0, 1)
    top = peak(dtype)
    if x.ndim < 2 or len(bands := list(row_bands(*x.shape[:2]))) == 1:
        return np.clip(x * top + 0.5, 0, top).astype(dtype)
    out = np.empty(x.shape, dtype)
    for rows in bands:  # a big photo: no full-size float temporaries
        out[rows] = np.clip(x[rows] * top + 0.5, 0, top)
    return out


# Rows per band when compositing: small enough that a band's pixels stay in cache.
_BAND = 32


def _partial_spans(alpha: np.ndarray):
    """(rows, columns) slices, one per band of rows, covering every pixel with alpha > 0.
    Where a photo's matte is exactly 0 (most of a background, after matte.SNAP) the
    composite is the background itself, so nothing there needs blending."""
    height, width = alpha.shape
    whole = height // _BAND * _BAND
    # each band's column maxima in one vectorised pass (a loop of per-band reductions cost
    # as much as blending a 720p plane's background)
    band_max = alpha[:whole].reshape(-1, _BAND, width).max(axis=1)
    if whole < height:
        band_max = np.vstack([band_max, alpha[whole:].max(axis=0, keepdims=True)])
    used = band_max > 0
    first = used.argmax(axis=1)
    end = width - used[:, ::-1].argmax(axis=1)
    for band in np.flatnonzero(used.any(axis=1)):
        y0 = int(band) * _BAND
        yield slice(y0, min(height, y0 + _BAND)), slice(int(first[band]), int(end[band]))


def composite(front: np.ndarray, back: np.ndarray, alpha: np.ndarray, reuse_back: bool = False) -> np.ndarray:
    """alpha * front + (1 - alpha) * back, in the dtype of front. reuse_back: back is a
    scratch array the caller no longer needs, and receives the result (no full-size copy)."""
    if front.dtype in (np.uint8, np.float32) and back.dtype == front.dtype:
        out = back if reuse_back else back.copy()
        for rows, cols in _partial_spans(alpha):
            weight = alpha[rows, cols]
            # cv2.blendLinear does the weighted sum in one fast pass for 8-bit and float
            out[rows, cols] = cv2.blendLinear(front[rows, cols], back[rows, cols], weight, 1.0 - weight)
        return out
    a = alpha[:, :, None]
    return from_float(to_float(front) * a + to_float(back) * (1 - a), front.dtype)


# --------------------------------------------------------------------------- colours and fitting


def parse_colour(text: str) -> tuple[int, int, int]:
    """'white', '#00ff00', '0,255,0' -> (r, g, b)."""
    from PIL import ImageColor

    text = text.strip()
    if "," in text:
        parts = [int(p) for p in text.split(",")]
        if len(parts) != 3 or not all(0 <= p <= 255 for p in parts):
            raise ValueError(f"colour {text!r}: expected three numbers 0..255")
        return tuple(parts)  # type: ignore[return-value]
    try:
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise ValueError(f"colour {text!r}: not a colour name, #rrggbb or r,g,b") from None


def solid(colour: tuple[int, int, int], height: int, width: int, dtype) -> np.ndarray:
    value = np.array(colour, np.float32) / 255.0
    out = np.empty((height, width, 3), np.dtype(dtype))
    out[...] = from_float(value[None, None], dtype)  # one pixel converted, then filled (no float image)
    return out


def fit_background(background: np.ndarray, height: int, width: int, mode: str = "cover") -> np.ndarray:
    """Scale a background to (height, width): 'cover' fills and crops, 'contain' fits and pads
    with the background's own blurred edges, 'stretch' ignores the aspect ratio."""
    bh, bw = background.shape[:2]
    if mode == "stretch":
        return cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)
    scale = max(width / bw, height / bh) if mode == "cover" else min(width / bw, height / bh)
    nw, nh = max(1, round(bw * scale)), max(1, round(bh * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(background, (nw, nh), interpolation=interp)
    if mode == "cover":
        x0, y0 = (nw - width) // 2, (nh - height) // 2
        return resized[y0:y0 + height, x0:x0 + width]
    if mode != "contain":
        raise ValueError(f"fit mode {mode!r}: choose cover, contain or stretch")
    canvas = cv2.GaussianBlur(cv2.resize(background, (width, height)), (0, 0), max(width, height) / 50)
    x0, y0 = (width - nw) // 2, (height - nh) // 2
    canvas[y0:y0 + nh, x0:x0 + nw] = resized
    return canvas


# --------------------------------------------------------------------------- foreground colour


def _normalised_box(values: np.ndarray, weight: np.ndarray, radius: int) -> np.ndarray:
    k = (2 * radius + 1, 2 * radius + 1)
    num = cv2.boxFilter(values * weight[:, :, None], -1, k, borderType=cv2.BORDER_REFLECT)
    den = cv2.boxFilter(weight, -1, k, borderType=cv2.BORDER_REFLECT)
    return num / (den[:, :, None] + 1e-5)


def _fusion_step(image, fore, back, alpha, radius):
    """One step of blur-fusion foreground estimation (Forte & Pitie, 2021): local mean
    foreground and background colours, then the residual of the compositing equation
    pushed into the foreground."""
    fore_mean = _normalised_box(fore, alpha, radius)
    back_mean = _normalised_box(back, 1.0 - alpha, radius)
    a = alpha[:, :, None]
    fore = fore_mean + a * (image - a * fore_mean - (1 - a) * back_mean)
    return np.clip(fore, 0, 1), back_mean


def _small(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(x, size, interpolation=cv2.INTER_AREA) if x.shape[1::-1] != size else x


class ForegroundEstimate:
    """Decontaminated foreground colour F and local background colour B, such that
    rgb ~ alpha * F + (1 - alpha) * B, so edges carry no trace of the old background.

    Both fusion passes run at a working resolution (long side <= work_side); full resolution
    only receives the colour correction F - rgb, upsampled. The correction is smooth, while
    the detail stays the photo's own, so a 12 MP photo costs a few full-size passes, not dozens.
    """

    def __init__(self, rgb: np.ndarray, alpha: np.ndarray, work_side: int = 1024):
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

    def foreground(self, rgb: np.ndarray, extra_correction: np.ndarray | None = None) -> np.ndarray:
        """Full-resolution float32 F: the photo plus the upsampled colour correction."""
        width, height = self.full_size
        return self.foreground_rows(rgb, slice(0, height), extra_correction)

    def foreground_rows(self, rgb: np.ndarray, rows: slice,
                        extra_correction: np.ndarray | None = None) -> np.ndarray:
        """F for a band of rows only (big photos go band by band: a full-size float F is 12
        bytes a pixel)."""
        correction = self.fore - self.image
        if extra_correction is not None:
            correction = correction + extra_correction
        width, height = self.full_size
        correction = upsample_rows(correction, width, height, rows)
        return np.clip(to_float(rgb[rows, :, :3]) + correction, 0, 1)


def estimate_foreground(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Full-resolution decontaminated foreground colour (float32 [0, 1])."""
    return ForegroundEstimate(rgb, alpha).foreground(rgb)


# --------------------------------------------------------------------------- effects


def blur_radius(strength: float, height: int, width: int) -> float:
    """Gaussian sigma in pixels for strength 0..1, relative to the frame so a photo and its
    thumbnail look alike."""
    return max(0.0, strength) * 0.02 * max(height, width)


def _masked_background_blur(small: np.ndarray, weight: np.ndarray, sigma: float, bokeh: bool) -> np.ndarray:
    """Blur only background pixels and renormalise, so the person never bleeds into the
    background (no halo) and the area behind the person is filled from its surroundings."""
    if bokeh:
        radius = max(1, int(round(sigma * 1.6)))
        kernel = np.zeros((2 * radius + 1, 2 * radius + 1), np.float32)
        cv2.circle(kernel, (radius, radius), radius, 1.0, -1, lineType=cv2.LINE_AA)
        kernel /= kernel.sum()

        def spread(x):
            return cv2.filter2D(x, -1, kernel, borderType=cv2.BORDER_REFLECT)
    else:
        def spread(x):
            return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    channels = small.shape[2]
    # (OpenCV rather than numpy broadcasting throughout: 3-5x faster at video sizes)
    num = spread(cv2.multiply(small, cv2.merge([weight] * channels)))
    den = spread(weight)
    inverse = cv2.divide(1.0, np.maximum(den, 1e-6))
    out = cv2.multiply(num, cv2.merge([inverse] * channels))
    # Deep inside the person no background is near, and alpha is (almost) 1 there: the
    # person's own colour is the fill that cannot show as a seam. (A blur of the whole
    # frame here cost as much as the background blur itself.)
    deep = den <= 1e-3
    np.copyto(out, small, where=deep[:, :, None])
    return out


def _downscale_by(image, factor: int) -> np.ndarray:
    """Area average of an array (or a Pyramid's image) over factor x factor blocks; the ragged
    right and bottom edge, under factor pixels, is dropped. Factors of two go by halving
    (OpenCV's fastest path), reusing a Pyramid's halvings."""
    levels = pyramid_of(image)
    factor = min(factor, *levels.shape[:2])  # a sliver of a photo still keeps one pixel
    times = 0
    while factor > 1 and factor % 2 == 0:
        times, factor = times + 1, factor // 2
    image = levels.halved(times)
    if factor <= 1:
        return image
    h, w = image.shape[0] // factor, image.shape[1] // factor
    return cv2.resize(image[:h * factor, :w * factor], (max(1, w), max(1, h)), interpolation=cv2.INTER_AREA)


def _blur_factor(sigma: float, bokeh: bool) -> int:
    """How much to shrink a frame before blurring it by sigma px: a power of two (halving is
    OpenCV's fast path, 3x the speed of other factors) that leaves sigma about 3.5 px at the
    small size, where a Gaussian is still well sampled; bokeh works one step finer, so its
    discs keep their edges."""
    factor = 2 ** max(0, round(math.log2(max(sigma, 1.0) / 3.5)))
    return max(1, factor // 2) if bokeh else factor


def _blurred_background(small: np.ndarray, small_alpha: np.ndarray, sigma: float, bokeh: bool,
                        highlight_gain: float, to_rgb=None, from_rgb=None) -> np.ndarray:
    """The background alone, blurred, at the small working size (float32 [0, 1], 3 channels).
    to_rgb/from_rgb convert other colour spaces for bokeh, which needs linear light."""
    # exclude anything partly person (hair, motion blur) from the background sample
    weight = np.clip(1.0 - small_alpha * 1.5, 0.0, 1.0) ** 2
    if not bokeh:
        return _masked_background_blur(small, weight, sigma, False)
    rgb = to_rgb(small) if to_rgb else small
    linear = rgb * rgb  # ~gamma 2 to linear light: highlights bloom, as through a lens
    lum = linear.max(axis=2)
    boost = 1.0 + highlight_gain * np.clip((lum - 0.6) / 0.4, 0, 1) ** 2
    blurred = np.sqrt(np.clip(_masked_background_blur(linear * boost[:, :, None], weight, sigma, True), 0, 1))
    return from_rgb(blurred) if from_rgb else blurred


def blur_background(rgb, alpha: np.ndarray, strength: float = 0.5, bokeh: bool = False,
                    highlight_gain: float = 6.0) -> np.ndarray:
    """Lens-like background blur. bokeh=True uses a disc kernel in linear light where bright
    highlights bloom into discs, as they do through a real aperture. rgb: the array, or a
    Pyramid of it whose halvings the matte already made."""
    levels = colour_pyramid(rgb)
    rgb = levels.image
    height, width = alpha.shape
    sigma = blur_radius(strength, height, width)
    if sigma < 0.5:
        return rgb.copy()
    # Work small: a wide blur loses nothing at reduced resolution and is far cheaper.
    factor = _blur_factor(sigma, bokeh)
    small = to_float(_downscale_by(levels, factor))
    small_alpha = _downscale_by(alpha, factor)
    blurred = _blurred_background(small, small_alpha, sigma / factor, bokeh, highlight_gain)
    # back to the frame's dtype while still small: upsampling 8-bit is far cheaper than float
    back = cv2.resize(from_float(blurred, rgb.dtype), (width, height), interpolation=cv2.INTER_LINEAR)
    return composite(np.ascontiguousarray(rgb), back, alpha, reuse_back=True)


def blur_background_i420(frame, alpha: np.ndarray, strength: float = 0.5, bokeh: bool = False,
                         highlight_gain: float = 6.0):
    """blur_background on an I420 video frame, plane by plane: luma blended at full
    resolution, chroma at half, so no RGB copy of the frame is ever made."""
    from portraitcli.frames import I420, rgb_to_yuv, yuv_to_rgb

    height, width = alpha.shape
    sigma = blur_radius(strength, height, width)
    if sigma < 0.5:
        return I420(frame.buffer.copy(), width, height)
    factor = max(2, _blur_factor(sigma, bokeh))  # even: chroma shrinks by factor / 2
    y = _downscale_by(frame.y, factor)
    u, v = _downscale_by(frame.u, factor // 2), _downscale_by(frame.v, factor // 2)
    small = cv2.merge([y, u, v]).astype(np.float32) * (1 / 255)
    alpha_half = halve(alpha)  # the chroma planes' alpha, and the first step down for the blur
    blurred = _blurred_background(
        small, _downscale_by(alpha_half, factor // 2), sigma / factor, bokeh, highlight_gain,
        to_rgb=lambda yuv: yuv_to_rgb(*(yuv * 255).transpose(2, 0, 1), dtype=np.float32),
        from_rgb=lambda rgb: rgb_to_yuv(rgb) * (1 / 255))
    back = from_float(blurred, np.uint8)
    out = I420.empty(width, height)
    half = (width // 2, height // 2)
    planes = ((out.y, frame.y, (width, height), alpha), (out.u, frame.u, half, alpha_half),
              (out.v, frame.v, half, alpha_half))
    for channel, (dst, src, size, weight) in enumerate(planes):
        # the blurred plane is upsampled straight into the output, then the person blended over it
        cv2.resize(np.ascontiguousarray(back[:, :, channel]), size, dst=dst, interpolation=cv2.INTER_LINEAR)
        composite(np.ascontiguousarray(src), dst, weight, reuse_back=True)
    return out


def replace_background(rgb: np.ndarray, alpha: np.ndarray, background: np.ndarray,
                       edge_match: float = 0.3) -> np.ndarray:
    """Composite the (decontaminated) person over background (same size and dtype as rgb).
    edge_match 0..1 shifts the colour of soft edges toward the new background's light, so a
    person lifted off a green wall carries no green fringe onto a beach."""
    estimate = ForegroundEstimate(rgb, alpha)
    light = None
    if edge_match > 0:
        # the light difference between new and old surroundings, on the soft edge only
        sigma = max(2.0, max(estimate.size) / 100)
        new_small = to_float(_small(background, estimate.size))
        light = cv2.GaussianBlur(new_small, (0, 0), sigma) - cv2.GaussianBlur(estimate.back, (0, 0), sigma)
        edge = (estimate.alpha * (1 - estimate.alpha) * 4)[:, :, None]
        light = edge_match * edge * light
    out = np.array(background, copy=True, order="C")
    height, width = alpha.shape
    for rows in row_bands(height, width):  # one band unless the photo is big
        fore = from_float(estimate.foreground_rows(rgb, rows, light), rgb.dtype)
        out[rows] = composite(fore, out[rows], alpha[rows], reuse_back=True)
    return out


def cutout(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGBA: the decontaminated person with alpha, in the frame's dtype."""
    estimate = ForegroundEstimate(rgb, alpha)
    height, width = alpha.shape
    out = np.empty((height, width, 4), rgb.dtype)
    for rows in row_bands(height, width):  # one band unless the photo is big
        out[rows, :, :3] = from_float(estimate.foreground_rows(rgb, rows), rgb.dtype)
        out[rows, :, 3] = from_float(alpha[rows], rgb.dtype)
    return out


def flatten(rgba: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """RGBA onto a solid colour: for outputs that cannot hold alpha (JPEG, mp4)."""
    alpha = to_float(rgba[:, :, 3])
    back = solid(colour, rgba.shape[0], rgba.shape[1], rgba.dtype)
    return composite(np.ascontiguousarray(rgba[:, :, :3]), back, alpha, reuse_back=True)


def matte_image(alpha: np.ndarray, threshold: float | None = None, dtype=np.uint8) -> np.ndarray:
    """Alpha as a single-channel image; threshold gives a hard 0/max mask."""
    if threshold is not None:
        alpha = (alpha > threshold).astype(np.float32)
    return from_float(alpha, dtype)


def contact_tile(images: list[np.ndarray], height: int = 256) -> np.ndarray:
    """Side-by-side uint8 RGB strip of images (RGB, RGBA on a checkerboard, or single-channel)."""
    tiles = []
    for img in images:
        if img.dtype != np.uint8:
            img = from_float(to_float(img), np.uint8)
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        h, w = img.shape[:2]
        tile_w = max(1, round(w * height / h))
        img = cv2.resize(img, (tile_w, height), interpolation=cv2.INTER_AREA)
        if img.shape[2] == 4:
            img = flatten_on_checkerboard(img)
        tiles.append(img)
    return np.concatenate(tiles, axis=1)


def flatten_on_checkerboard(rgba: np.ndarray, cell: int = 16) -> np.ndarray:
    h, w = rgba.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    board = np.where(((yy // cell + xx // cell) % 2)[:, :, None] == 0, 200, 150).astype(np.uint8)
    board = np.repeat(board, 3, axis=2)
    return composite(np.ascontiguousarray(rgba[:, :, :3]), board, rgba[:, :, 3].astype(np.float32) / 255,
                     reuse_back=True)

