"""Training-sample effects (models/data.py, session 6 recipe): they change the picture the way
a real scene would and never the target, on a real photo with the bundled model's matte."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.data import cast_shadow, patterned_garment, procedural_pattern
from portraitcli.segmenter import Segmenter

SIZE = 256


@pytest.fixture(scope="module")
def sample(astronaut_rgb):
    img = cv2.resize(astronaut_rgb, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    target = cv2.resize(Segmenter(device="cpu", threads=1).matte(astronaut_rgb), (SIZE, SIZE),
                        interpolation=cv2.INTER_AREA)
    assert 0.1 < (target > 0.5).mean() < 0.8  # a person, and background around her
    return img, target


def test_cast_shadow_darkens_background_only(sample):
    img, target = sample
    person, background = target > 0.999, target < 0.001
    darkened = 0
    for seed in range(8):
        out = cast_shadow(img, target, np.random.default_rng(seed)).astype(np.int16)
        assert out.shape == img.shape
        assert np.array_equal(out[person], img[person])  # the person is not in her own shadow
        assert (out <= img.astype(np.int16)).all()  # a shadow never brightens
        darkened += (img.astype(np.int16) - out)[background].mean() > 1.0
    assert darkened >= 4  # most shadows land in the frame


def test_patterned_garment_prints_on_the_body_below_the_head(sample):
    img, target = sample
    ys = np.nonzero(target > 0.5)[0]
    head = slice(0, int(ys.min() + 0.12 * (ys.max() - ys.min())))
    outside = target < 0.001
    changed_people = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        out = patterned_garment(img, target, procedural_pattern(rng, SIZE), rng)
        assert np.array_equal(out[outside], img[outside])  # the background keeps its pixels
        assert np.array_equal(out[head], img[head])  # the face is never printed over
        diff = np.abs(out.astype(np.int16) - img).max(axis=2)
        changed_people += (diff[target > 0.999] > 20).mean() > 0.1
    assert changed_people >= 4


def test_procedural_patterns_are_textures():
    for seed in range(6):
        pattern = procedural_pattern(np.random.default_rng(seed), SIZE)
        assert pattern.shape == (SIZE, SIZE, 3) and pattern.dtype == np.uint8
        assert len(np.unique(pattern.reshape(-1, 3), axis=0)) >= 2
