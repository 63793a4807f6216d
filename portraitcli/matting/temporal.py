"""Temporal smoothing of the matte in video, without lag.

A recursive blend, gated by what changed in the picture:

    out_t = w * new_t + (1 - w) * out_{t-1}

The weight of the new frame w is 1 wherever the picture itself changed (beyond sensor noise)
or the prediction jumped (real motion): there the matte follows the current frame at once,
so nothing trails. Where the picture is still, w drops to 1 - strength and the matte is held
steady: any change there is flicker (noise and compression fooling the model or the edge
refinement), not motion. The state is reset on scene cuts.

It runs twice with the same per-pixel weights:
  1. on the model's probability map (cheap, before refinement), and
  2. on the full-resolution alpha after edge refinement, because the guided filter follows
     the current frame's pixels, noise included, and would otherwise put the flicker back.
Step 2 needs the previous frame's final alpha, so the pipeline's compositors pass through
it in frame order (`smooth_alpha(..., sequence=n)`), while the effects still run in parallel.
"""
from __future__ import annotations

import threading

import cv2
import numpy as np

# A change of probability this large counts as motion and passes straight through.
MOTION_DELTA = 0.5
# Grey-level change (0..255, after a 3x3 mean at the model's size): below IMAGE_NOISE it is
# noise; IMAGE_MOTION levels above that it is certainly motion.
IMAGE_NOISE, IMAGE_MOTION = 2.0, 6.0
# Mean absolute difference of 32x32 grey thumbnails above which a frame starts a new scene.
SCENE_CUT = 0.18


def _grey(image: np.ndarray) -> np.ndarray:
    grey = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)
    if grey.dtype == np.uint16:
        return grey.astype(np.float32) * (255 / 65535)
    return grey.astype(np.float32) * (255.0 if grey.dtype == np.float32 else 1.0)


class TemporalSmoother:
    """Stateful filter: feed frames in order with smooth(prob, image), then smooth_alpha() on
    the refined alpha; reset() between clips."""

    def __init__(self, strength: float = 0.6):
        if not 0.0 <= strength <= 1.0:
            raise ValueError("smoothing strength must be within 0..1")
        self.strength = float(strength)
        self.scene_cuts = 0
        self._turn = threading.Condition()
        self.reset()

    def reset(self) -> None:
        self.previous: np.ndarray | None = None
        self.previous_grey: np.ndarray | None = None
        self.previous_thumb: np.ndarray | None = None
        self.weight: np.ndarray | None = None  # the last frame's new-frame weights (None: take it as is)
        self.previous_alpha: np.ndarray | None = None
        self._next_sequence = 0
        self._sequence = 0

    def _is_scene_cut(self, grey: np.ndarray) -> bool:
        thumb = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA) * (1 / 255)
        cut = self.previous_thumb is not None and float(np.mean(np.abs(thumb - self.previous_thumb))) > SCENE_CUT
        self.previous_thumb = thumb
        return cut

    def smooth(self, prob: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
        """prob: this frame's model output; image: the frame, best the model's small input (it
        tells motion from noise and finds scene cuts). Also sets self.weight for smooth_alpha."""
        prob = prob.astype(np.float32, copy=False)
        grey = None
        if image is not None:
            grey = _grey(image)
            if grey.shape != prob.shape:
                grey = cv2.resize(grey, prob.shape[::-1], interpolation=cv2.INTER_AREA)
            if self._is_scene_cut(grey):
                self.scene_cuts += 1
                self.previous = None
            grey = cv2.blur(grey, (3, 3))  # sensor noise averages out, motion does not
        if self.strength == 0.0 or self.previous is None or self.previous.shape != prob.shape:
            self.previous, self.previous_grey, self.weight = prob.copy(), grey, None
            return prob
        certainty = np.minimum(np.abs(prob - self.previous) * (1 / MOTION_DELTA), 1.0)
        if grey is not None and self.previous_grey is not None:
            changed = np.clip((np.abs(grey - self.previous_grey) - IMAGE_NOISE) * (1 / IMAGE_MOTION), 0.0, 1.0)
            certainty = np.maximum(certainty, changed)
        else:  # no picture to compare: only confident pixels follow at once
            confidence = np.abs(prob * 2 - 1)
            certainty = np.maximum(certainty, confidence * confidence)
        weight = 1.0 - self.strength * (1.0 - certainty)
        out = self.previous + weight * (prob - self.previous)
        self.previous, self.previous_grey, self.weight = out, grey, weight
        return out

    def smooth_alpha(self, alpha: np.ndarray | None, weight: np.ndarray | None,
                     sequence: int | None = None) -> np.ndarray | None:
        """Second pass on the full-resolution alpha with the weights smooth() produced for the
        same frame; alpha is overwritten with the result. sequence: the frame's position when
        several threads call this (each waits for its turn); alpha None (that frame failed) only
        passes the turn on."""
        # the weights' upsampling needs no earlier frame: done before waiting for this frame's
        # turn, so the frames' ordered section is only the blend itself
        full = None
        if alpha is not None and weight is not None:
            full = cv2.resize(weight, alpha.shape[::-1], interpolation=cv2.INTER_LINEAR)
        with self._turn:
            if sequence is None:
                sequence = self._sequence
                self._sequence += 1
            if not self._turn.wait_for(lambda: self._next_sequence >= sequence, timeout=60):
                raise RuntimeError("temporal smoothing: an earlier frame never arrived")
            try:
                if alpha is None:
                    return None
                previous = self.previous_alpha
                if full is not None and previous is not None and previous.shape == alpha.shape:
                    # previous + full * (alpha - previous), computed over the new alpha (the
                    # caller's fresh array): no further full-size buffers per frame
                    cv2.subtract(alpha, previous, dst=alpha)
                    cv2.multiply(full, alpha, dst=alpha)
                    cv2.add(previous, alpha, dst=alpha)
                self.previous_alpha = alpha
                return alpha
            finally:
                self._next_sequence = sequence + 1
                self._turn.notify_all()
