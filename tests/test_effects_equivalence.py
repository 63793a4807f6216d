"""The faster compositors give the pixels the code before them gave (tests/reference_effects.py),
within stated tolerances, on a real photo: scikit-image's astronaut, upscaled with sensor noise.
The mattes come from the bundled model's stored probability maps (tests/stored_mattes.py), refined
live: these tests are about the compositors, and a new model must not move their tolerances."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from portraitcli import Segmenter, effects
from portraitcli.matting.refine import VIDEO_FIT, full_resolution
from portraitcli.matting.segmenter import photo_alpha
from portraitcli.media.frames import Pyramid

from . import reference_effects as reference
from .stored_mattes import noisy_portrait, portrait_on_coffee, stored_probability


@pytest.fixture(scope="module")
def segmenter():
    return Segmenter(threads=1)


@pytest.fixture(scope="module")
def photo_12mp(astronaut_rgb):
    rgb = noisy_portrait(astronaut_rgb, 4000, 3000)
    prob = stored_probability("portrait_12mp")
    return rgb, photo_alpha(Pyramid(rgb), lambda _: prob, focus=False)


def level_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int64) - b.astype(np.int64))


def test_replace_background_12mp_matches_previous_code(photo_12mp):
    """Tolerance: mean difference <= 0.05 of an 8-bit level, at most 0.3% of values more than
    one level apart, 99.9% within 2 levels, none more than 16 (the new code estimates the edge
    colour at 1000x750, the halvings, where the old one used 1024x768, its wide local means at
    half that: the few larger differences come from the working sizes, not from the band-limited
    compositing; see the next test)."""
    rgb, alpha = photo_12mp
    from skimage import data

    scene = cv2.resize(data.coffee(), (4000, 3000), interpolation=cv2.INTER_LINEAR)
    for background in (scene, effects.solid((46, 139, 87), 3000, 4000, np.uint8)):
        before = reference.replace_background(rgb, alpha, background)
        now = effects.replace_background(Pyramid(rgb), alpha, background)
        assert now.shape == before.shape and now.dtype == before.dtype
        diff = level_differences(now, before)
        assert diff.mean() <= 0.05
        assert (diff > 1).mean() <= 0.003
        assert np.percentile(diff, 99.9) <= 2
        assert diff.max() <= 16
        # and the person really was composited (not the background passed through)
        assert level_differences(now, background)[alpha > 0.99].mean() > 20


def test_replace_background_same_working_size_within_two_levels(photo_12mp):
    """At the same working resolution (the old code's 1024 px equals one halving of 2048 px),
    skipping corrections under half a level, upsampling band by band, the wide local means and
    the edge light at half that resolution move no 8-bit value by more than 2 levels (mean under
    0.02)."""
    rgb, alpha = photo_12mp
    rgb = cv2.resize(rgb, (2048, 1536), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, (2048, 1536), interpolation=cv2.INTER_AREA)
    background = effects.solid((200, 120, 40), 1536, 2048, np.uint8)
    diff = level_differences(effects.replace_background(rgb, alpha, background),
                             reference.replace_background(rgb, alpha, background))
    assert diff.max() <= 2 and diff.mean() < 0.02
    # 16-bit photos stay 16-bit and within the same 2 levels (of 8-bit scale, 2 x 257)
    rgb16, background16 = rgb.astype(np.uint16) * 257, background.astype(np.uint16) * 257
    now16 = effects.replace_background(rgb16, alpha, background16)
    assert now16.dtype == np.uint16
    assert level_differences(now16, reference.replace_background(rgb16, alpha, background16)).max() <= 2 * 257


def test_cutout_12mp_matches_previous_code(photo_12mp):
    """Cutout's colour wherever the person shows (alpha > 0, unweighted, so the soft edge counts
    fully): mean <= 0.15 level, 99% within 2 levels, 99.9% within 3, none more than 16; weighted
    by alpha, as it shows once composited, mean <= 0.05. Alpha itself is unchanged."""
    rgb, alpha = photo_12mp
    now, before = effects.cutout(Pyramid(rgb), alpha), reference.cutout(rgb, alpha)
    assert np.array_equal(now[:, :, 3], before[:, :, 3])
    diff = level_differences(now[:, :, :3], before[:, :, :3])
    shown = diff[alpha > 0]
    assert shown.mean() <= 0.15 and np.percentile(shown, 99) <= 2 and np.percentile(shown, 99.9) <= 3
    assert shown.max() <= 16
    assert (diff * alpha[:, :, None]).sum() / (alpha.sum() * 3) <= 0.05


@pytest.mark.parametrize("bokeh", [False, True])
def test_video_blur_1080p_matches_previous_code(astronaut_rgb, monkeypatch, bokeh):
    """A 1080p I420 frame (the portrait on a photo backdrop): the background blurred at
    240x135 instead of 480x270 stays within mean 0.3 of a level of the old output, 99.9% within
    2 levels, none more than 12; bokeh is unchanged."""
    from portraitcli.media.frames import I420

    width, height = 1920, 1080
    frame = portrait_on_coffee(astronaut_rgb, width, height)
    i420 = I420(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420), width, height)
    alpha = full_resolution(stored_probability("portrait_on_coffee_1080p"), i420, True, VIDEO_FIT)
    now = effects.blur_background_i420(i420, alpha, 0.5, bokeh).buffer
    monkeypatch.setattr(effects, "_blur_factor", reference.blur_factor)
    before = effects.blur_background_i420(i420, alpha, 0.5, bokeh).buffer
    diff = level_differences(now, before)
    if bokeh:
        assert diff.max() == 0
    else:
        assert diff.mean() <= 0.3 and np.percentile(diff, 99.9) <= 2 and diff.max() <= 12
        assert diff.max() > 0  # the cheaper blur really ran
    # the background really is blurred: far less fine detail than the frame had
    y_before, y_now = i420.y[:, :300], now[:height, :300]
    assert cv2.Laplacian(y_now, cv2.CV_32F).std() < 0.3 * cv2.Laplacian(y_before, cv2.CV_32F).std()


def test_band_limited_refinement_matches_full_frame(photo_12mp, segmenter):
    """The 12 MP refinement computed on the edge band only gives the full-frame upsampling's
    alpha (tolerance 1e-6; in practice identical), on an 8-bit RGB photo and a 16-bit grey one
    of an odd size."""
    from portraitcli.matting import refine as matte

    rgb, _ = photo_12mp
    pixels = Pyramid(rgb)
    prob = segmenter.frame_probability(pixels)
    now, before = matte.refine(prob, pixels), reference.refine(prob, rgb, matte.PHOTO_FIT)
    assert np.abs(now - before).max() <= 1e-6
    assert 0.05 < ((now > 0) & (now < 1)).mean() < 0.5  # a real edge band, not all solid
    grey16 = cv2.cvtColor(cv2.resize(rgb, (3001, 2251), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    grey16 = grey16.astype(np.uint16) * 257
    prob = segmenter.frame_probability(np.dstack([grey16] * 3))
    assert np.abs(matte.refine(prob, grey16) - reference.refine(prob, grey16, matte.PHOTO_FIT)).max() <= 1e-6


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_solid_background_has_the_colour_in_every_dtype(dtype):
    """A colour background is made pixel by pixel from the one converted colour (the whole
    frame in float first cost seconds at 12 MP): the same values the float round trip gave."""
    colour = (46, 139, 87)
    out = effects.solid(colour, 30, 40, dtype)
    expected = effects.from_float(np.array(colour, np.float32)[None, None] / 255.0, dtype)
    assert out.dtype == np.dtype(dtype) and out.shape == (30, 40, 3)
    assert np.array_equal(out, np.broadcast_to(expected, out.shape))
    before = effects.from_float(np.broadcast_to(np.array(colour, np.float32) / 255.0, (30, 40, 3)).copy(), dtype)
    assert np.array_equal(out, before)


def test_composite_copies_whole_person_columns_exactly(photo_12mp, monkeypatch):
    """Columns where the person is whole (alpha 1 down a band) are copied instead of blended:
    8-bit output identical to blending every pixel; float within blendLinear's own 1e-5."""
    rgb, alpha = photo_12mp
    back = np.zeros_like(rgb)
    copied = effects.composite(rgb, back, alpha)
    monkeypatch.setattr(effects, "_COPY_RUN", 10 ** 9)
    blended = effects.composite(rgb, back, alpha)
    assert np.array_equal(copied, blended)
    small, small_alpha = cv2.resize(rgb, (800, 600)).astype(np.float32) / 255, cv2.resize(alpha, (800, 600))
    blended_float = effects.composite(small, np.zeros_like(small), small_alpha)
    monkeypatch.setattr(effects, "_COPY_RUN", 32)
    assert (small_alpha == 1).mean() > 0.2  # the photo has a whole person to copy
    assert np.abs(effects.composite(small, np.zeros_like(small), small_alpha) - blended_float).max() < 1e-4
