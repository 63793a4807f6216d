"""Which people the matte keeps: the main subjects (default) or everyone the model finds.

Street and event photos have bystanders behind the subject, and the model finds them too. With
"main", each person region (connected area of probability > 0.5 at the model's resolution) is
kept when it is at least MAIN_SHARE of the largest region's area, or when it lies next to a kept
region (a hand, bag or hair strand cut off from the body at 256x256); the others fade into the
background, as a photographer isolating a subject would want. A group of people of similar size
is all kept. In video the choice is sticky: a region overlapping one kept in the previous frame
stays kept, so a person near the threshold does not blink in and out.
"""
from __future__ import annotations

import cv2
import numpy as np

MODES = ("main", "all")
# Smallest area, as a share of the largest person's, that still counts as a subject. On
# ccp/val full-body street photos (bystanders labelled background), an earlier model, IoU /
# boundary F1 with everyone kept 0.8926 / 0.8146; share 0.1: 0.8982 / 0.8269, 0.2: 0.9031 /
# 0.8313, 0.3: 0.9048 / 0.8322 (head-and-shoulder crops: 0.9500 -> 0.9495 for all three).
# 0.2 rather than 0.3: a child beside an adult can cover a quarter of the adult's area.
MAIN_SHARE = 0.2
# A smaller region this close to a kept one (model pixels) belongs to the same person.
NEIGHBOUR = 4
# How far a person may move between frames (model pixels) and still count as the same.
MOTION = 6
# The photo path's focus pass (segmenter.photo_alpha) looks again at the subjects when their box
# covers at most FOCUS_MAX_SHARE of the photo, widened by FOCUS_MARGIN of its size each way. On
# ccp/val photos shrunk into a wider scene (a first version of models.evaluate --inset 0.5, other
# scenes), IoU with margins 0.03 / 0.05 / 0.08: 0.722 / 0.718 / 0.705 (no second look: 0.660);
# 0.05 leaves room for what the first look missed. The four ccp/val sets never trigger it.
FOCUS_MARGIN = 0.05
FOCUS_MAX_SHARE = 0.7
# blobs under this share of the largest one's area are specks (a lamp, a glint), not people: they
# must not stretch the focus box across the photo (a model may mark a few beside a small person,
# as in tests/test_subjects.py's rocket scene, which would turn the focus pass off there)
FOCUS_SPECK_SHARE = 0.1


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


NEIGHBOUR_DISK, MOTION_DISK, FRINGE_DISK = _disk(NEIGHBOUR), _disk(MOTION), _disk(2)


def _regions(people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 8-connected regions of a 0/1 uint8 mask: (labels, each region's area; label 0 is the
    background and has no area entry)."""
    # areas by bincount: OpenCV's WithStats variant took 5x as long at 256x256
    count, labels = cv2.connectedComponents(people, connectivity=8)
    return labels, np.bincount(labels.ravel(), minlength=count)[1:]


def _mask_of(keep: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """0/1 uint8 mask of the regions whose keep flag is set (label 0 is the background)."""
    return np.concatenate([[0], keep]).astype(np.uint8)[labels]


class SubjectFilter:
    """filter(prob, sticky) -> prob with non-subjects faded out; sticky (video): people kept in
    the previous frame stay kept. reset() between clips."""

    def __init__(self, mode: str = "main", share: float = MAIN_SHARE):
        if mode not in MODES:
            raise ValueError(f"subjects must be one of {', '.join(MODES)}")
        self.mode, self.share = mode, share
        self.reset()

    def reset(self) -> None:
        self._previous: np.ndarray | None = None  # last frame's kept people, widened by MOTION

    def _remember(self, kept: np.ndarray, sticky: bool) -> None:
        """Where the kept people may be next frame (sticky only)."""
        if sticky:
            self._previous = cv2.dilate(kept, MOTION_DISK)

    def __call__(self, prob: np.ndarray, sticky: bool = False) -> np.ndarray:
        if self.mode == "all":
            return prob
        people = (prob > 0.5).view(np.uint8)
        labels, areas = _regions(people)
        if areas.size <= 1:  # nobody, or one person region: nothing to choose
            self._remember(people, sticky)
            return prob
        count = areas.size + 1
        keep = areas >= self.share * areas.max()
        previous = self._previous if sticky and self._previous is not None \
            and self._previous.shape == people.shape else None
        if previous is not None:
            inside = np.bincount(labels[previous > 0], minlength=count)[1:]
            keep |= inside >= 0.5 * areas
        if not keep.all():
            near = cv2.dilate(_mask_of(keep, labels), NEIGHBOUR_DISK) > 0
            keep |= np.bincount(labels[near], minlength=count)[1:] > 0
        if keep.all():
            self._remember(people, sticky)
            return prob
        kept = _mask_of(keep, labels)
        self._remember(kept, sticky)
        # fade the dropped people with their soft fringe, but never a kept person's fringe
        fade = (cv2.dilate(people - kept, FRINGE_DISK) > 0) & (cv2.dilate(kept, FRINGE_DISK) == 0)
        out = prob.copy()
        out[fade] = 0.0
        return out


def subject_box(prob: np.ndarray, height: int, width: int, margin: float = FOCUS_MARGIN,
                max_share: float = FOCUS_MAX_SHARE) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) in the pixels of a height x width photo around everyone in prob
    (> 0.5, at the model's resolution), widened by margin of the box's size each way, then made no
    more elongated than the photo itself (the network's square input stretches the crop no more
    than it stretches the photo). None when nobody is found, or when the box covers more than
    max_share of the photo: a second look at it would gain little resolution. Specks
    (FOCUS_SPECK_SHARE) are left out of the box; outside it the first look's alpha stays."""
    people = (prob > 0.5).view(np.uint8)
    labels, areas = _regions(people)
    if areas.size > 1:
        people = _mask_of(areas >= FOCUS_SPECK_SHARE * areas.max(), labels)
    rows, cols = np.flatnonzero(people.any(axis=1)), np.flatnonzero(people.any(axis=0))
    if not rows.size:
        return None
    sy, sx = height / prob.shape[0], width / prob.shape[1]
    top, bottom = rows[0] * sy, (rows[-1] + 1) * sy
    left, right = cols[0] * sx, (cols[-1] + 1) * sx
    pad_y, pad_x = margin * (bottom - top), margin * (right - left)
    top, bottom = max(0, int(top - pad_y)), min(height, int(np.ceil(bottom + pad_y)))
    left, right = max(0, int(left - pad_x)), min(width, int(np.ceil(right + pad_x)))
    elongation = max(height / width, width / height)
    box_h, box_w = bottom - top, right - left
    if box_h > elongation * box_w:
        left, right = _widen(left, right, int(np.ceil(box_h / elongation)), width)
    elif box_w > elongation * box_h:
        top, bottom = _widen(top, bottom, int(np.ceil(box_w / elongation)), height)
    if (bottom - top) * (right - left) > max_share * height * width:
        return None
    return top, bottom, left, right


def _widen(start: int, end: int, length: int, limit: int) -> tuple[int, int]:
    """The span start..end grown about its centre to length, shifted to stay within 0..limit."""
    length = min(length, limit)
    start = min(max(0, (start + end - length) // 2), limit - length)
    return start, start + length
