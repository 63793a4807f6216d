"""Full-size float work on big images in bands of rows, so its temporaries stay a few MB
(the refinement's upsampling, the effects' blends)."""
from __future__ import annotations

import cv2
import numpy as np

# Pixels above which full-size float work goes in bands of rows (a 48 MP photo's float alpha
# alone is 192 MB; each full-size float temporary would cost as much again). Below it, whole
# images, as fast as before.
BAND_ABOVE_PIXELS = 16_000_000
BAND_PIXELS = 1_000_000  # pixels per band: a few MB of temporaries


def row_bands(height: int, width: int):
    """Slices of rows that split an image of this size into bands (one band when it is small)."""
    if height * width <= BAND_ABOVE_PIXELS:
        yield slice(0, height)
        return
    step = max(8, BAND_PIXELS // max(1, width))
    for y0 in range(0, height, step):
        yield slice(y0, min(height, y0 + step))


def upsample_rows(small: np.ndarray, width: int, height: int, rows: slice) -> np.ndarray:
    """Rows `rows` of cv2.resize(small, (width, height), INTER_LINEAR), computing only those:
    the horizontal pass on the few source rows they need (OpenCV), the vertical blend here."""
    if rows.start == 0 and rows.stop == height:
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    h_small = small.shape[0]
    src = (np.arange(rows.start, rows.stop, dtype=np.float64) + 0.5) * (h_small / height) - 0.5
    top = np.floor(src)
    frac = (src - top).astype(np.float32)
    frac[top < 0] = 0.0  # OpenCV clamps at the edges: the first and last rows are replicated
    top = np.clip(top.astype(np.int64), 0, h_small - 1)
    bottom = np.minimum(top + 1, h_small - 1)
    first, last = int(top[0]), int(bottom[-1])
    wide = cv2.resize(small[first:last + 1], (width, last - first + 1), interpolation=cv2.INTER_LINEAR)
    weight = frac.reshape((-1,) + (1,) * (wide.ndim - 1))
    upper, lower = wide[top - first], wide[bottom - first]
    lower -= upper
    lower *= weight
    upper += lower
    return upper
