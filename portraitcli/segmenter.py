"""Segmenter: model -> subject choice -> full-resolution refinement -> (in video) temporal
filter, in one object.

This is the Python API and the exact path the CLI and models.evaluate use:

    seg = Segmenter()
    alpha = seg.matte(rgb)                  # a photo
    for frame in frames:                    # a video: temporal smoothing keeps state
        alpha = seg.matte(frame, video=True)
"""
from __future__ import annotations

import numpy as np

from portraitcli.frames import Pyramid, stored, upright
from portraitcli.matte import full_resolution
from portraitcli.model import PortraitModel
from portraitcli.subjects import SubjectFilter, subject_box
from portraitcli.temporal import TemporalSmoother


def as_rgb_array(image) -> np.ndarray:
    """Accept a numpy RGB/RGBA/grey array or a PIL image; return HxWx3 RGB (dtype kept)."""
    if not isinstance(image, np.ndarray):
        image = np.asarray(image.convert("RGB") if getattr(image, "mode", "RGB") not in ("RGB", "RGBA") else image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


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
    alphas = list(map(lambda pair: full_resolution(pair[1], pair[0], refine), zip(frames, probs)))
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
        full_resolution(prob, crop, refine, out=alphas[i][top:bottom, left:right])

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
        self.mirror_photos = mirror_photos
        self.focus_photos = focus_photos

    @property
    def provider(self) -> str:
        return self.model.provider

    def probability(self, image) -> np.ndarray:
        """The model's raw person probability at its own resolution (e.g. 256x256)."""
        return self.model.predict(as_rgb_array(image))

    def matte(self, image, video: bool = False) -> np.ndarray:
        """Full-resolution float32 alpha in [0, 1] for one photo, or the next frame of a video.
        image: an array or PIL image, or a frames.Pyramid of an RGB array (whose halvings the
        caller then reuses, e.g. for the background blur)."""
        # the network's input and the refinement's guide both start by halving the frame: once
        frame = image if isinstance(image, Pyramid) else Pyramid(as_rgb_array(image))
        if not video:
            return photo_alpha(frame, self.frame_probability, self.refine, self.focus_photos)
        alpha = full_resolution(self.frame_probability(frame, video=True), frame, self.refine, video=True)
        return self.smoother.smooth_alpha(alpha, self.smoother.weight)

    def mattes(self, images: list, map=map) -> list[np.ndarray]:
        """matte() of several photos, the network run once per pass for all of them (a GPU
        batch); map: e.g. a thread pool's, to refine the photos on several cores."""
        frames = [image if isinstance(image, Pyramid) else Pyramid(as_rgb_array(image)) for image in images]
        return photo_alphas(frames, self.frame_probabilities, self.refine, self.focus_photos, map)

    def frame_probabilities(self, frames: list) -> list[np.ndarray]:
        """frame_probability of several photos in one network batch (with their mirror images)."""
        smalls = [self.model.shrink(frame) for frame in frames]
        probs = self.model.predict_smalls(smalls, self.mirror_photos)
        return [self.follow(prob, small) for prob, small in zip(probs, smalls)]

    def frame_probability(self, frame, rotation: int = 0, video: bool = False) -> np.ndarray:
        """The model's probability for a frame (RGB array or I420) at the model's resolution,
        in the frame's stored orientation; the network itself sees the frame upright
        (rotation in ffmpeg's degrees). In video it is smoothed against the previous frames.
        Bystanders are faded out unless the segmenter was made with subjects="all"."""
        small = self.model.shrink(frame)
        mirrored = self.mirror_photos and not video
        prob = stored(self.model.predict_small(upright(small, rotation), mirrored), rotation)
        return self.follow(prob, small, video)

    def follow(self, prob: np.ndarray, small: np.ndarray, video: bool = False) -> np.ndarray:
        """What comes after the network: temporal smoothing (video; small is the frame at the
        model's size) and the choice of subjects."""
        if video:
            cuts = self.smoother.scene_cuts
            prob = self.smoother.smooth(prob, small)
            if self.smoother.scene_cuts != cuts:
                self.subjects.reset()  # who the subject is starts afresh with the scene
        return self.subjects(prob, video)

    def reset(self) -> None:
        """Forget temporal state: call between unrelated clips."""
        self.smoother.reset()
        self.subjects.reset()
