"""Segmenter: model -> subject choice -> full-resolution refinement -> (in video) temporal
filter, in one object.

This is the Python API and the exact path the CLI and models.evaluate use:

    seg = Segmenter()
    alpha = seg.matte(rgb)                  # a photo
    for frame in frames:                    # a video: temporal smoothing keeps state
        alpha = seg.matte(frame, video=True)

A photo and a video frame are matted by two profiles, each chosen once: a photo runs with its
mirror image and may get a second look at small subjects; a video frame runs once, through the
temporal filter, with its subjects remembered from frame to frame and a lighter refinement. The
threaded video pipeline runs a frame's two steps on different threads: model_frame (network,
temporal filter and subjects at the model's size, in frame order) and finish_frame (refinement
to full resolution, then the temporal filter's second pass, in frame order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from portraitcli.media.frames import Pyramid, stored, upright
from portraitcli.matting.refine import PHOTO_FIT, VIDEO_FIT, Fit, full_resolution
from portraitcli.matting.model import PortraitModel
from portraitcli.matting.subjects import SubjectFilter, subject_box
from portraitcli.matting.temporal import TemporalSmoother


def as_rgb_array(image) -> np.ndarray:
    """Accept a numpy RGB/RGBA/grey array or a PIL image; return HxWx3 RGB (dtype kept)."""
    if not isinstance(image, np.ndarray):
        image = np.asarray(image.convert("RGB") if getattr(image, "mode", "RGB") not in ("RGB", "RGBA") else image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


@dataclass(frozen=True)
class Profile:
    """How one kind of picture is matted."""

    fit: Fit  # the refinement's working resolution and smoothing (refine.py)
    mirrored: bool  # the network also sees the mirror image; the two maps are averaged
    focus: bool  # a second look at subjects that fill little of the picture (photo_alphas)
    sticky: bool  # the subjects kept in one frame stay kept in the next (subjects.py)


@dataclass
class ModelledFrame:
    """A video frame after model_frame: its probability at the model's size (smoothed, subjects
    chosen) and the temporal filter's weights for it, which finish_frame applies again."""

    probability: np.ndarray
    weight: np.ndarray | None


def photo_alphas(frames: list, probabilities, refine: bool = True, focus: bool = True, map=map) -> list[np.ndarray]:
    """Full-resolution alphas of several photos from probabilities(images) -> the model's maps
    (e.g. Segmenter.frame_probabilities, one network batch for all of them: what a GPU wants).
    frames: RGB arrays or Pyramids of them. map: e.g. a thread pool's, for the per-photo
    refinement on several cores.
    focus: where the subjects fill little of the photo (subjects.subject_box), the network looks
    again at a crop around them, so it sees them at a higher resolution, and that alpha replaces
    the first inside the crop (ccp/val photos shrunk into a wider scene, models.evaluate
    --inset 0.5: IoU 0.663 -> 0.757, boundary F1 0.688 -> 0.776); the crops go in one batch too."""
    probs = probabilities(frames)
    alphas = list(map(lambda pair: full_resolution(pair[1], pair[0], refine, PHOTO_FIT), zip(frames, probs)))
    boxes = [subject_box(p, *f.shape[:2]) if focus else None for f, p in zip(frames, probs)]
    looks = [(i, box) for i, box in enumerate(boxes) if box is not None]
    if not looks:
        return alphas
    crops = []
    for i, (top, bottom, left, right) in looks:
        image = frames[i].image if isinstance(frames[i], Pyramid) else frames[i]
        crops.append(np.ascontiguousarray(image[top:bottom, left:right]))

    def paste(item):
        (i, (top, bottom, left, right)), crop, prob = item
        # written straight into its region: no second alpha of the crop's size (big photos)
        full_resolution(prob, crop, refine, PHOTO_FIT, out=alphas[i][top:bottom, left:right])

    list(map(paste, zip(looks, crops, probabilities(crops))))
    return alphas


def photo_alpha(frame, probability, refine: bool = True, focus: bool = True) -> np.ndarray:
    """A photo's full-resolution alpha from probability(image) -> the model's map (e.g.
    Segmenter.frame_probability): photo_alphas for one photo."""
    return photo_alphas([frame], lambda images: [probability(image) for image in images], refine, focus)[0]


class Segmenter:
    def __init__(self, model: str | PortraitModel | None = None, device: str = "auto", refine: bool = True,
                 smooth: float = 0.6, threads: int | None = None, subjects: str = "main",
                 mirror_photos: bool = True, focus_photos: bool = True, precision: str = "fp32"):
        """model: an ONNX path (None: the bundled one), or a loaded PortraitModel to share.
        mirror_photos: a photo also runs mirrored and the two are averaged (ccp/val IoU +0.002,
        boundary F1 +0.004, crops +0.003 / +0.009, for one more inference); video frames run
        once, to stay real-time.
        focus_photos: a photo whose subjects fill little of it gets a second look at them
        (photo_alpha); video frames never do.
        precision: the bundled model's fp32 (default) or int8 variant (models/quantize.py)."""
        self.model = model if isinstance(model, PortraitModel) else PortraitModel(model, device=device,
                                                                                   threads=threads,
                                                                                   precision=precision)
        self.refine = refine
        self.smoother = TemporalSmoother(smooth)
        self.subjects = SubjectFilter(subjects)
        self.photo = Profile(PHOTO_FIT, mirrored=mirror_photos, focus=focus_photos, sticky=False)
        self.video = Profile(VIDEO_FIT, mirrored=False, focus=False, sticky=True)

    @property
    def provider(self) -> str:
        return self.model.provider

    @property
    def scene_cuts(self) -> int:
        """Scene cuts the temporal filter has found since the segmenter was made."""
        return self.smoother.scene_cuts

    def matte(self, image, video: bool = False) -> np.ndarray:
        """Full-resolution float32 alpha in [0, 1] for one photo, or the next frame of a video.
        image: an array or PIL image, or a frames.Pyramid of an RGB array (whose halvings the
        caller then reuses, e.g. for the background blur)."""
        # the network's input and the refinement's guide both start by halving the frame: once
        frame = image if isinstance(image, Pyramid) else Pyramid(as_rgb_array(image))
        if video:
            return self.finish_frame(self.model_frame(frame), frame)
        return photo_alpha(frame, self.frame_probability, self.refine, self.photo.focus)

    def mattes(self, images: list, map=map) -> list[np.ndarray]:
        """matte() of several photos, the network run once per pass for all of them (a GPU
        batch); map: e.g. a thread pool's, to refine the photos on several cores."""
        frames = [image if isinstance(image, Pyramid) else Pyramid(as_rgb_array(image)) for image in images]
        return photo_alphas(frames, self.frame_probabilities, self.refine, self.photo.focus, map)

    def frame_probabilities(self, frames: list) -> list[np.ndarray]:
        """frame_probability of several photos in one network batch (with their mirror images)."""
        smalls = [self.model.shrink(frame) for frame in frames]
        probs = self.model.predict_smalls(smalls, self.photo.mirrored)
        return [self.subjects(prob, sticky=self.photo.sticky) for prob in probs]

    def frame_probability(self, frame) -> np.ndarray:
        """A photo's (upright) probability at the model's resolution. Bystanders are faded out
        unless the segmenter was made with subjects="all"."""
        prob = self.model.predict_small(self.model.shrink(frame), self.photo.mirrored)
        return self.subjects(prob, sticky=self.photo.sticky)

    def model_frame(self, frame, rotation: int = 0) -> ModelledFrame:
        """A video frame's first step (RGB array or I420, in its stored orientation; the network
        sees it upright): the network, then follow_frame. Frames in order."""
        small = self.model.shrink(frame)
        prob = stored(self.model.predict_small(upright(small, rotation), self.video.mirrored), rotation)
        return self.follow_frame(prob, small)

    def follow_frame(self, prob: np.ndarray, small: np.ndarray) -> ModelledFrame:
        """What follows the network for a video frame (small: the frame at the model's size):
        the temporal filter, and the subjects, sticky from frame to frame."""
        cuts = self.smoother.scene_cuts
        prob = self.smoother.smooth(prob, small)
        if self.smoother.scene_cuts != cuts:
            self.subjects.reset()  # who the subject is starts afresh with the scene
        return ModelledFrame(self.subjects(prob, sticky=self.video.sticky), self.smoother.weight)

    def finish_frame(self, modelled: ModelledFrame, frame, sequence: int | None = None) -> np.ndarray:
        """A video frame's second step: its alpha refined to full resolution, then the temporal
        filter's second pass with the frame's own weights. Refinements may run in parallel; the
        second pass waits for the frame's turn (sequence: its position, counting from 0 after
        reset(); None: the order of the calls)."""
        alpha = None
        try:
            alpha = full_resolution(modelled.probability, frame, self.refine, self.video.fit)
        finally:  # a frame that failed still passes the turn on
            alpha = self.smoother.smooth_alpha(alpha, modelled.weight, sequence)
        return alpha

    def reset(self) -> None:
        """Forget temporal state: call between unrelated clips."""
        self.smoother.reset()
        self.subjects.reset()
