"""Compositors: what to do with a frame once its full-resolution alpha is known.

Every function takes the frame as HxWx3 RGB (uint8, uint16 or float32 in [0, 1]) and alpha as
float32 HxW in [0, 1], and returns pixels of the frame's own dtype, so 16-bit photos stay 16-bit.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from portraitcli.media.bands import row_bands
from portraitcli.media.frames import colour_pyramid, halve, peak, pyramid_of

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


def _blend(front: np.ndarray, back: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """weight * front + (1 - weight) * back for one patch, in front's dtype."""
    if front.dtype in (np.uint8, np.float32) and back.dtype == front.dtype:
        # cv2.blendLinear does the weighted sum in one fast pass for 8-bit and float
        return cv2.blendLinear(front, back, weight, 1.0 - weight)
    a = weight[:, :, None] if front.ndim == 3 else weight
    return from_float(to_float(front) * a + to_float(back) * (1 - a), front.dtype)


# Columns of a band whose alpha is 1 all the way down are copied rather than blended when they
# run at least this wide (inside a person): a copy moves a third of the bytes a blend moves.
_COPY_RUN = 32


def _blend_into(dst: np.ndarray, front: np.ndarray, back: np.ndarray, weight: np.ndarray) -> None:
    """dst = weight * front + (1 - weight) * back, for patches of one band of rows (dst may be
    back itself); where weight is 1 throughout a run of columns, front is copied."""
    whole = weight.min(axis=0) >= 1.0
    start = 0
    if whole.any():
        edges = np.flatnonzero(np.diff(np.concatenate([[0], whole.view(np.int8), [0]])))
        for c0, c1 in zip(edges[::2].tolist(), edges[1::2].tolist()):
            if c1 - c0 < _COPY_RUN:
                continue
            if c0 > start:
                dst[:, start:c0] = _blend(front[:, start:c0], back[:, start:c0], weight[:, start:c0])
            dst[:, c0:c1] = front[:, c0:c1]
            start = c1
    if start < weight.shape[1]:
        dst[:, start:] = _blend(front[:, start:], back[:, start:], weight[:, start:])


def composite(front: np.ndarray, back: np.ndarray, alpha: np.ndarray, reuse_back: bool = False) -> np.ndarray:
    """alpha * front + (1 - alpha) * back, in the dtype of front. reuse_back: back is a
    scratch array the caller no longer needs, and receives the result (no full-size copy)."""
    if front.dtype in (np.uint8, np.float32) and back.dtype == front.dtype:
        out = back if reuse_back else back.copy()
        for rows, cols in _partial_spans(alpha):
            _blend_into(out[rows, cols], front[rows, cols], back[rows, cols], alpha[rows, cols])
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
    # the one pixel converted, then filled in: a 12 MP frame in float first cost 1-2 s
    value = from_float(np.array(colour, np.float32) / 255.0, dtype)
    out = np.empty((height, width, 3), dtype)
    # one row filled, then copied down: numpy broadcasts a whole row as a plain copy, which
    # is 8x faster than broadcasting the 3-value pixel over every pixel (12 MP: 45 -> 6 ms)
    if height:
        out[0] = value
        out[1:] = out[0]
    return out


def as_dtype(pixels: np.ndarray, dtype) -> np.ndarray:
    """pixels in another dtype's range (8/16-bit, float [0, 1]); as they are if already in it."""
    return pixels if pixels.dtype == np.dtype(dtype) else from_float(to_float(pixels), dtype)


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


def _normalised_box(values: np.ndarray, weight3: np.ndarray, weight: np.ndarray, radius: int) -> np.ndarray:
    k = (2 * radius + 1, 2 * radius + 1)
    num = cv2.boxFilter(cv2.multiply(values, weight3), -1, k, borderType=cv2.BORDER_REFLECT)
    den = cv2.boxFilter(weight, -1, k, borderType=cv2.BORDER_REFLECT)
    inverse = cv2.divide(1.0, cv2.add(den, 1e-5))
    return cv2.multiply(num, cv2.merge([inverse] * 3))


class _Weights:
    """alpha and 1 - alpha, as planes and as 3-channel images, made once per resolution."""

    def __init__(self, alpha: np.ndarray):
        self.alpha, self.rest = alpha, cv2.subtract(1.0, alpha)
        self.alpha3, self.rest3 = cv2.merge([alpha] * 3), cv2.merge([self.rest] * 3)


def _local_means(fore, back, w: _Weights, radius):
    """Box means of the foreground colour weighted by alpha and of the background colour
    weighted by 1 - alpha."""
    return (_normalised_box(fore, w.alpha3, w.alpha, radius), _normalised_box(back, w.rest3, w.rest, radius))


def _fusion_step(image, fore, back, w: _Weights, radius, means=None):
    """One step of blur-fusion foreground estimation (Forte & Pitie, 2021): local mean
    foreground and background colours (means, if already known), then the residual of the
    compositing equation pushed into the foreground. (OpenCV's element-wise ops: 2-3x
    numpy's speed here.)"""
    a, b = w.alpha3, w.rest3
    fore_mean, back_mean = means if means is not None else _local_means(fore, back, w, radius)
    # fore_mean + a * (image - a * fore_mean - (1 - a) * back_mean)
    residual = cv2.subtract(cv2.subtract(image, cv2.multiply(a, fore_mean)), cv2.multiply(b, back_mean))
    fore = cv2.add(fore_mean, cv2.multiply(a, residual))
    return np.clip(fore, 0, 1, out=fore), back_mean


def _work_factor(long_side: int, work_side: int) -> int:
    """The power of two that brings a frame's long side to at most work_side: halving is
    OpenCV's fast path (and a photo's Pyramid already holds the first halvings), and an exact
    integer factor lets any band of the frame be upsampled on its own, seamlessly."""
    factor = 1
    while long_side > work_side * factor:
        factor *= 2
    return factor


# A colour correction under half an 8-bit level changes no 8-bit output by more than one level:
# pixels whose correction stays under it keep the photo's own colour, with no full-size float work.
_NEGLIGIBLE = 0.5 / 255


class ForegroundEstimate:
    """Decontaminated foreground colour F and local background colour B, such that
    rgb ~ alpha * F + (1 - alpha) * B, so edges carry no trace of the old background.

    Both fusion passes run at a working resolution (the frame halved until its long side is
    <= work_side); full resolution only receives the colour correction F - rgb, upsampled. The
    correction is smooth, while the detail stays the photo's own. It is negligible wherever the
    matte is whole person (F is the photo there), so full-resolution work is needed on the soft
    edge band only: `corrected` upsamples any band of rows on its own.
    rgb: an array or a Pyramid of it (whose halvings the matte already made).
    """

    def __init__(self, rgb, alpha: np.ndarray, work_side: int = 1024):
        levels = colour_pyramid(rgb)
        height, width = alpha.shape
        self.factor = _work_factor(max(height, width), work_side)
        times = self.factor.bit_length() - 1
        self.full_size = (width, height)
        self.image = to_float(levels.halved(times))
        self.alpha = pyramid_of(alpha).halved(times)
        self.size = self.alpha.shape[1::-1]
        wide = max(3, round(max(self.size) / 12))
        # the wide means are as smooth as a box of a twelfth of the frame: found at half the
        # working size (a quarter of the cost) and upsampled, they move no 8-bit output by more
        # than a level or two (tests/test_effects_equivalence.py)
        weights = _Weights(self.alpha)
        if min(self.size) >= 64:
            half = to_float(levels.halved(times + 1))
            half_weights = _Weights(pyramid_of(self.alpha).halved(1))
            means = [cv2.resize(m, self.size, interpolation=cv2.INTER_LINEAR)
                     for m in _local_means(half, half, half_weights, max(2, wide // 2))]
        else:
            means = None
        fore, back = _fusion_step(self.image, self.image, self.image, weights, wide, means)
        fine = max(2, round(max(self.size) / 300))
        self.fore, _ = _fusion_step(self.image, fore, back, weights, fine)
        self.back = back

    def correction(self, extra: np.ndarray | None = None) -> np.ndarray:
        """F - rgb at the working resolution (plus an extra correction of the same size)."""
        correction = cv2.subtract(self.fore, self.image)
        return correction if extra is None else cv2.add(correction, extra)

    def upsampled(self, small: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
        """The rows x cols part of small (working resolution) bilinearly upsampled to full
        resolution: the same pixels a full-frame cv2.resize gives there, from a crop with one
        working pixel of margin (the factor is a power of two, so the sampling grids line up)."""
        f = self.factor
        h_small, w_small = small.shape[:2]
        y0, y1, x0, x1 = rows.start, rows.stop, cols.start, cols.stop
        r0, r1 = max(0, y0 // f - 1), min(h_small, -(-y1 // f) + 1)
        c0, c1 = max(0, x0 // f - 1), min(w_small, -(-x1 // f) + 1)
        up = cv2.resize(np.ascontiguousarray(small[r0:r1, c0:c1]), None, fx=f, fy=f,
                        interpolation=cv2.INTER_LINEAR)
        # the ragged bottom and right edge (under f pixels the halvings dropped) repeats the last
        short_y, short_x = max(0, y1 - r1 * f), max(0, x1 - c1 * f)
        if short_y or short_x:
            up = cv2.copyMakeBorder(up, 0, short_y, 0, short_x, cv2.BORDER_REPLICATE)
        return up[y0 - r0 * f:y1 - r0 * f, x0 - c0 * f:x1 - c0 * f]

    def corrected(self, image: np.ndarray, small: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
        """The foreground colour of image[rows, cols] in image's dtype, given the correction."""
        up = self.upsampled(small, rows, cols)
        if image.dtype == np.uint8:
            # pixels + 255 x correction, rounded and saturated in one OpenCV pass (the same
            # values as the float round trip, at a third of its cost)
            return cv2.add(image[rows, cols], np.multiply(up, np.float32(255), out=up), dtype=cv2.CV_8U)
        return from_float(cv2.add(to_float(image[rows, cols]), up), image.dtype)

    def significance(self, small: np.ndarray, tolerance: float) -> np.ndarray:
        """Working-resolution mask of where the correction small reaches tolerance, widened by
        the one working pixel each full-resolution pixel's bilinear upsampling also draws from."""
        # (inRange: every channel within +-tolerance, one OpenCV pass; numpy's max over the
        # channel axis took 15x as long)
        low = cv2.inRange(small, (-tolerance,) * 3, (np.nextafter(tolerance, 0),) * 3)
        return cv2.dilate(cv2.bitwise_not(low) // 255, np.ones((3, 3), np.uint8))

    def significant_columns(self, mask: np.ndarray, rows: slice) -> np.ndarray:
        """Per full-resolution column of a band of rows: True where the mask (significance) is."""
        f = self.factor
        h_small = mask.shape[0]
        band = mask[min(rows.start // f, h_small - 1):min(h_small, (rows.stop - 1) // f + 1)].any(axis=0)
        columns = np.repeat(band, f)
        width = self.full_size[0]
        if columns.size < width:  # the ragged right edge follows the last working column
            columns = np.concatenate([columns, np.repeat(columns[-1:], width - columns.size)])
        return columns

    def foreground(self, rgb, extra_correction: np.ndarray | None = None) -> np.ndarray:
        """Full-resolution float32 F: the photo plus the upsampled colour correction."""
        image = colour_pyramid(rgb).image
        width, height = self.full_size
        correction = self.correction(extra_correction)
        out = np.empty((height, width, 3), np.float32)
        for rows in row_bands(height, width):  # one band unless the photo is big
            out[rows] = np.clip(cv2.add(to_float(image[rows]), self.upsampled(correction, rows, slice(0, width))), 0, 1)
        return out


def estimate_foreground(rgb, alpha: np.ndarray) -> np.ndarray:
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
    OpenCV's fast path, 3x the speed of other factors). A Gaussian is well sampled down to
    sigma 1.75 px at the small size, so the factor is the largest that leaves it there or above
    (sigma 1.75-3.5 px): a 1080p frame blurs at 240x135, not 480x270, at a quarter of the cost
    (the same frame as the nearest-power rule it replaces: mean 0.2 of an 8-bit level apart,
    tests/test_effects_equivalence.py). Bokeh keeps the nearest power and works one step
    finer, so its discs keep their edges."""
    if bokeh:
        return max(1, 2 ** max(0, round(math.log2(max(sigma, 1.0) / 3.5))) // 2)
    return 2 ** max(0, math.ceil(math.log2(max(sigma, 1.0) / 3.5)))


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
    from portraitcli.media.frames import I420, rgb_to_yuv, yuv_to_rgb

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


def replace_background(rgb, alpha: np.ndarray, background: np.ndarray,
                       edge_match: float = 0.3) -> np.ndarray:
    """Composite the (decontaminated) person over background (same size and dtype as rgb).
    edge_match 0..1 shifts the colour of soft edges toward the new background's light, so a
    person lifted off a green wall carries no green fringe onto a beach.
    rgb: an array or a Pyramid of it. Full-resolution work is done only where the person shows
    (alpha > 0), and the colour correction only where it reaches half an 8-bit level (the edge
    band): a 12 MP portrait costs about what blur costs."""
    levels = colour_pyramid(rgb)
    image = np.ascontiguousarray(levels.image)
    estimate = ForegroundEstimate(levels, alpha)
    light = None
    if edge_match > 0:
        # the light difference between new and old surroundings, on the soft edge only;
        # blurring the difference once is blurring each and subtracting (the blur is linear)
        sigma = max(2.0, max(estimate.size) / 100)
        new_small = to_float(_downscale_by(background, estimate.factor))
        # (a blur this wide loses nothing at a quarter of the area, and costs a quarter)
        difference = cv2.subtract(new_small, estimate.back)
        half = _downscale_by(difference, 2)
        sigma *= half.shape[1] / difference.shape[1]
        light = cv2.resize(cv2.GaussianBlur(half, (0, 0), sigma), estimate.size, interpolation=cv2.INTER_LINEAR)
        edge = estimate.alpha * (1 - estimate.alpha) * 4
        light = cv2.multiply(light, cv2.merge([edge * np.float32(edge_match)] * 3))
    correction = estimate.correction(light)
    mask = estimate.significance(correction, 0.5 / peak(np.uint16) if image.dtype == np.uint16 else _NEGLIGIBLE)
    out = np.array(background, copy=True, order="C")
    for rows, cols in _partial_spans(alpha):
        significant = estimate.significant_columns(mask, rows)[cols]
        # runs of columns alternating between the photo's own colour and corrected colour
        edges = np.flatnonzero(np.diff(significant.astype(np.int8))) + 1
        bounds = [0, *edges.tolist(), significant.size]
        for start, stop in zip(bounds[:-1], bounds[1:]):
            span = slice(cols.start + start, cols.start + stop)
            fore = estimate.corrected(image, correction, rows, span) if significant[start] else image[rows, span]
            _blend_into(out[rows, span], fore, out[rows, span], alpha[rows, span])
    return out


def cutout(rgb, alpha: np.ndarray) -> np.ndarray:
    """RGBA: the decontaminated person with alpha, in the frame's dtype (rgb: an array or its
    Pyramid). Band by band: no full-size float image (big photos)."""
    levels = colour_pyramid(rgb)
    image = levels.image
    estimate = ForegroundEstimate(levels, alpha)
    correction = estimate.correction()
    height, width = alpha.shape
    out = np.empty((height, width, 4), image.dtype)
    for rows in row_bands(height, width):
        out[rows, :, :3] = estimate.corrected(image, correction, rows, slice(0, width))
        out[rows, :, 3] = from_float(alpha[rows], image.dtype)
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

