"""The bundled model's probability maps for the pictures the compositor tests work on, stored as
16-bit PNGs (tests/fixtures/, 256x256), so that those tests check the compositors, not the model:
a new model changes its mattes, and with them how far a fast compositing path can drift from the
reference code, without any compositing code changing. The refinement and the effects still run
live on each picture. `python -m tests.stored_mattes` rewrites the maps with the bundled model.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def noisy_portrait(rgb: np.ndarray, width: int, height: int, seed: int = 0) -> np.ndarray:
    """The 4:3 top of the portrait (face and shoulders) upscaled to width x height, with noise."""
    top = rgb[: rgb.shape[1] * 3 // 4]
    big = cv2.resize(top, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(seed).normal(0, 3, big.shape)
    return np.clip(big + noise, 0, 255).astype(np.uint8)


def portrait_on_coffee(rgb: np.ndarray, width: int = 1920, height: int = 1080) -> np.ndarray:
    """A video frame: the portrait on a photo backdrop (scikit-image's coffee) left and right of it."""
    from skimage import data

    frame = cv2.resize(data.coffee(), (width, height), interpolation=cv2.INTER_LINEAR)
    frame[:, 400:400 + height] = cv2.resize(rgb, (height, height), interpolation=cv2.INTER_LINEAR)
    return frame


# name -> (the picture made from the astronaut photo, photo or video frame)
PICTURES = {
    "portrait_12mp": (lambda rgb: noisy_portrait(rgb, 4000, 3000), "photo"),
    "portrait_on_coffee_1080p": (portrait_on_coffee, "video"),
}


def stored_probability(name: str) -> np.ndarray:
    """The stored map: float32 256x256 in [0, 1]."""
    stored = cv2.imread(str(FIXTURES / f"{name}_probability.png"), cv2.IMREAD_UNCHANGED)
    if stored is None:
        raise FileNotFoundError(f"{FIXTURES / name}_probability.png: run python -m tests.stored_mattes")
    return stored.astype(np.float32) / 65535


def main() -> None:
    from skimage import data

    from portraitcli.matting.segmenter import Segmenter
    from portraitcli.media.frames import Pyramid

    segmenter = Segmenter(threads=1)
    FIXTURES.mkdir(exist_ok=True)
    for name, (make, kind) in PICTURES.items():
        picture = Pyramid(make(data.astronaut()))
        if kind == "photo":
            prob = segmenter.frame_probability(picture)
        else:
            prob = segmenter.model_frame(picture).probability
            segmenter.reset()
        cv2.imwrite(str(FIXTURES / f"{name}_probability.png"), np.round(np.clip(prob, 0, 1) * 65535).astype(np.uint16))
        print(FIXTURES / f"{name}_probability.png")


if __name__ == "__main__":
    main()
