"""Crop to the subject: the box around the main subjects in the final matte, plus a margin,
optionally at a fixed aspect ratio centred on them; inside the photo unless padding is allowed.

    box = subject_crop(alpha, CropSpec(margin=0.1, aspect=(4, 5)))
    out = apply_crop(pixels, box, fill=0)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# matte pixels above this count as the subject when boxing it: soft hair at the edge is inside
# the margin anyway, while a faint haze in the background must not stretch the box
SUBJECT_ALPHA = 0.25
# blobs under this share of the largest one's area are specks (a glint), not subjects
SPECK_SHARE = 0.05
# the speck search runs on the matte shrunk to at most this side (connected regions of a
# 24-megapixel mask cost a lot and change nothing at this scale)
SEARCH_SIDE = 512


def parse_aspect(text: str | None) -> tuple[int, int] | None:
    """'4:5' -> (4, 5); None stays None. Raises ValueError with a readable reason."""
    if not text:
        return None
    parts = text.replace("x", ":").split(":")
    try:
        w, h = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"aspect {text!r}: expected W:H, e.g. 4:5, 1:1, 3:2") from None
    if w <= 0 or h <= 0 or not (math.isfinite(w) and math.isfinite(h)):
        raise ValueError(f"aspect {text!r}: both sides must be positive")
    return w, h


@dataclass
class CropSpec:
    margin: float = 0.1  # share of the subject box's width / height added on each side
    aspect: tuple[float, float] | None = None  # (W, H)
    pad: bool = False  # may the box reach outside the photo (filled by the caller)


@dataclass
class CropBox:
    left: int
    top: int
    right: int
    bottom: int
    subject: bool = True  # False: nobody found, the whole frame
    notes: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def as_report(self) -> dict:
        return {"x": self.left, "y": self.top, "width": self.width, "height": self.height,
                "subject": self.subject}


def subject_bounds(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) around the subjects in a full-resolution alpha, specks left
    out; None when there is nobody."""
    import cv2

    height, width = alpha.shape
    scale = min(1.0, SEARCH_SIDE / max(height, width))
    small = alpha if scale == 1.0 else cv2.resize(alpha, (max(1, round(width * scale)), max(1, round(height * scale))),
                                                  interpolation=cv2.INTER_AREA)
    people = (small > SUBJECT_ALPHA).astype(np.uint8)
    count, labels = cv2.connectedComponents(people, connectivity=8)
    if count <= 1:
        return None
    areas = np.bincount(labels.ravel(), minlength=count)[1:]
    keep = np.concatenate([[False], areas >= SPECK_SHARE * areas.max()])
    kept = keep[labels]
    rows, cols = np.flatnonzero(kept.any(axis=1)), np.flatnonzero(kept.any(axis=0))
    # back to full resolution, one shrunk pixel of slack, then exact on the full-size alpha
    sy, sx = height / small.shape[0], width / small.shape[1]
    top, bottom = max(0, int((rows[0] - 1) * sy)), min(height, int(math.ceil((rows[-1] + 2) * sy)))
    left, right = max(0, int((cols[0] - 1) * sx)), min(width, int(math.ceil((cols[-1] + 2) * sx)))
    window = alpha[top:bottom, left:right] > SUBJECT_ALPHA
    r, c = np.flatnonzero(window.any(axis=1)), np.flatnonzero(window.any(axis=0))
    if not r.size:
        return None
    return left + int(c[0]), top + int(r[0]), left + int(c[-1]) + 1, top + int(r[-1]) + 1


def _fit_span(start: float, length: float, limit: int, pad: bool) -> tuple[int, int]:
    """A span of `length` starting at `start`, moved (not shrunk) to lie within 0..limit unless
    padding is allowed."""
    start, length = int(round(start)), int(round(length))
    if not pad:
        start = min(max(0, start), limit - length)
    return start, start + length


def subject_crop(alpha: np.ndarray, spec: CropSpec) -> CropBox:
    height, width = alpha.shape
    bounds = subject_bounds(alpha)
    if bounds is None:
        return CropBox(0, 0, width, height, subject=False, notes=["no person found: the whole frame kept"])
    left, top, right, bottom = bounds
    box_w, box_h = right - left, bottom - top
    cx, cy = (left + right) / 2, (top + bottom) / 2
    w, h = box_w * (1 + 2 * spec.margin), box_h * (1 + 2 * spec.margin)
    notes: list[str] = []
    if spec.aspect:
        ratio = spec.aspect[0] / spec.aspect[1]
        w, h = max(w, h * ratio), max(h, w / ratio)  # grow the short side: the subject stays whole
        if not spec.pad and (w > width or h > height):
            # the largest box of that shape inside the photo, as near the subject's centre as it goes
            shrink = min(width / w, height / h)
            w, h = w * shrink, h * shrink
            notes.append(f"the {spec.aspect[0]:g}:{spec.aspect[1]:g} box around the subject is larger than the "
                         "photo: cropped to the largest one that fits (use --pad to keep the whole subject)")
    elif not spec.pad:
        w, h = min(w, width), min(h, height)
    x0, x1 = _fit_span(cx - w / 2, w, width, spec.pad)
    y0, y1 = _fit_span(cy - h / 2, h, height, spec.pad)
    if not spec.pad:
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    return CropBox(x0, y0, max(x1, x0 + 1), max(y1, y0 + 1), notes=notes)


def canvas_for(box: CropBox, height: int, width: int) -> CropBox | None:
    """The box covering both the photo and a crop box that reaches outside it; None when the
    crop box lies inside the photo."""
    if not any(padding(box, height, width)):
        return None
    return CropBox(min(0, box.left), min(0, box.top), max(width, box.right), max(height, box.bottom))


def moved(box: CropBox, dx: int, dy: int) -> CropBox:
    return CropBox(box.left + dx, box.top + dy, box.right + dx, box.bottom + dy, box.subject, box.notes)


def report_of(box: CropBox, canvas: CropBox | None) -> dict:
    """The crop box in the photo's own pixel coordinates (negative or beyond its size where padded)."""
    if canvas is not None:
        box = moved(box, canvas.left, canvas.top)
    return box.as_report()


def padding(box: CropBox, height: int, width: int) -> tuple[int, int, int, int]:
    """How far (top, bottom, left, right) the box reaches outside a height x width photo."""
    return max(0, -box.top), max(0, box.bottom - height), max(0, -box.left), max(0, box.right - width)


def apply_crop(pixels: np.ndarray, box: CropBox, mode: str = "constant", fill=0) -> np.ndarray:
    """The box's pixels; parts outside the photo are padded (mode: 'constant' with fill, or
    'reflect' for a continued background)."""
    height, width = pixels.shape[:2]
    top, bottom, left, right = padding(box, height, width)
    inner = pixels[max(0, box.top):min(height, box.bottom), max(0, box.left):min(width, box.right)]
    if not (top or bottom or left or right):
        return np.ascontiguousarray(inner)
    widths = [(top, bottom), (left, right)] + [(0, 0)] * (pixels.ndim - 2)
    if mode == "reflect":
        import cv2

        return cv2.copyMakeBorder(np.ascontiguousarray(inner), top, bottom, left, right, cv2.BORDER_REFLECT_101)
    return np.pad(inner, widths, mode="constant", constant_values=fill)
