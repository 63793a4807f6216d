"""Training samples (models/data.py): the session 6 effects change the picture the way a real
scene would and never the target, on a real photo with the bundled model's matte; the session 7
anti-aliased sampling shrinks sources the way the runtime shrinks frames."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.data import (Corpus, Pyramids, SampleMaker, boundary_band, cast_shadow, crop_affine, patterned_garment,
                         procedural_pattern, warp, warp_antialiased)
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


def shrink_matrix(src_w, src_h, size):
    """The affine map of cv2.resize onto size x size (pixel centres)."""
    sx, sy = size / src_w, size / src_h
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5]], np.float64)


def test_antialiased_warp_shrinks_like_the_runtime(astronaut_rgb):
    h, w = astronaut_rgb.shape[:2]
    for size in (128, 256):
        m = shrink_matrix(w, h, size)
        area = cv2.resize(astronaut_rgb, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
        smooth = warp_antialiased(Pyramids()(astronaut_rgb), m, size).astype(np.float32)
        plain = warp(astronaut_rgb, m, size).astype(np.float32)
        # closer to the area average than a plain bilinear warp, which skips source pixels
        assert np.abs(smooth - area).mean() < 0.6 * np.abs(plain - area).mean()
    # one-pixel stripes shrunk 4x: a flat grey, where point sampling picks stripes
    stripes = np.zeros((512, 512), np.uint8)
    stripes[:, ::2] = 255
    smooth = warp_antialiased(Pyramids()(stripes), shrink_matrix(512, 512, 128), 128).astype(np.float32)
    assert abs(smooth.mean() - 127.5) < 4 and smooth.std() < 4
    # a stretched crop (8x across, 2x down): the pyramid stops at 2x, the blur does the rest across
    stripes = np.zeros((256, 1000), np.uint8)
    stripes[:, np.arange(1000) % 4 < 2] = 255
    smooth = warp_antialiased(Pyramids()(stripes), shrink_matrix(1000, 256, 128), 128).astype(np.float32)
    assert abs(smooth.mean() - 127.5) < 4 and smooth.std() < 4


def test_antialiased_warp_keeps_the_geometry(astronaut_rgb):
    """Rotated, stretched, flipped crops land where the plain warp puts them: the pyramid level's
    scale and pixel-centre offset are accounted for."""
    mask = np.zeros(astronaut_rgb.shape[:2], np.uint8)
    cv2.circle(mask, (230, 160), 60, 255, -1)
    pyramids = Pyramids()
    for angle, aspect, flip in ((0, 1.0, False), (12, 0.6, True), (-7, 1.7, False)):
        m = crop_affine(250, 200, 300 * aspect, 300, 128, angle, flip)
        smooth = warp_antialiased(pyramids(mask), m, 128, border=cv2.BORDER_CONSTANT).astype(np.float64)
        plain = warp(mask, m, 128, border=cv2.BORDER_CONSTANT).astype(np.float64)
        ys, xs = np.mgrid[0:128, 0:128]
        for weights in (smooth, plain):
            assert weights.sum() > 0
        centre = lambda wgt: np.array([(wgt * xs).sum(), (wgt * ys).sum()]) / wgt.sum()
        assert np.abs(centre(smooth) - centre(plain)).max() < 0.25
        assert abs(smooth.sum() / plain.sum() - 1) < 0.02  # same area


def test_antialiased_cutouts_do_not_bleed_hidden_colour():
    """Cutouts are shrunk premultiplied: the colour stored under alpha 0 (here pure green) never
    shows at the pasted edge."""
    rgba = np.zeros((900, 500, 4), np.uint8)
    rgba[:, :, 1] = 255
    cv2.ellipse(rgba, (250, 450), (200, 420), 0, 0, 360, (128, 128, 128, 255), -1)
    grey = np.full((400, 600, 3), 128, np.uint8)
    corpus = Corpus(ccp=[], viton=[], cutouts=[rgba], backgrounds=[grey], unlabelled=[])

    def green_excess(antialias):
        maker = SampleMaker(corpus, 128, {"cutout": 1.0}, seed=3, antialias=antialias)
        worst, pasted = 0.0, 0
        for index in range(16):
            img, target = maker.cutout(np.random.default_rng([3, index]))
            if not 0.05 < target.mean() < 0.95:  # some placements leave the person (mostly) out of frame
                continue
            pasted += 1
            img = img.astype(np.float32)
            worst = max(worst, float((img[:, :, 1] - (img[:, :, 0] + img[:, :, 2]) / 2).max()))
        assert pasted >= 5
        return worst

    assert green_excess(antialias=True) < 3
    assert green_excess(antialias=False) > 20  # the test sees the bleed where it exists


def test_boundary_band_marks_pixels_near_both_person_and_background(sample):
    """The loss weights the band up; it must be exactly the pixels whose 7x7 window (clipped at
    the frame edge) spans more than 0.05 of alpha, as the torch max-pool it replaced computed."""
    _, target = sample
    target = target.astype(np.float32)
    padded_hi = np.pad(target, 3, constant_values=-np.inf)
    padded_lo = np.pad(target, 3, constant_values=np.inf)
    windows_hi = np.lib.stride_tricks.sliding_window_view(padded_hi, (7, 7))
    windows_lo = np.lib.stride_tricks.sliding_window_view(padded_lo, (7, 7))
    expected = (windows_hi.max(axis=(2, 3)) - windows_lo.min(axis=(2, 3))) > 0.05
    band = boundary_band(target)
    assert band.dtype == np.uint8 and band.shape == target.shape
    np.testing.assert_array_equal(band.astype(bool), expected)
    assert 0.01 < band.mean() < 0.5  # a band around the person (this matte is soft), not everywhere


def _standing_person(height: int = 1000, width: int = 660):
    """A street photo's layout: one upright person (head, torso, legs) standing on the bottom part
    of the frame, with the sky above the head (so reflected borders do not mirror the head)."""
    rng = np.random.default_rng(0)
    img = rng.integers(60, 200, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), np.uint8)
    cv2.circle(mask, (width // 2, 260), 45, 255, -1)                                 # head
    cv2.ellipse(mask, (width // 2, 490), (95, 190), 0, 0, 360, 255, -1)              # torso
    cv2.rectangle(mask, (width // 2 - 70, 620), (width // 2 + 70, height - 20), 255, -1)  # legs
    img[mask > 0] = (200, 80, 60)
    ys, xs = np.nonzero(mask)
    return img, mask, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def test_torso_framings_cut_the_person_where_full_body_crops_do_not():
    """Session 13's torso framings (models.data SampleMaker._torso) are shorter than the person, so
    the frame cuts them, mostly through the head or neck, as a zoomed video frame does; the
    full-body crops mostly keep the head in."""
    img, mask, box = _standing_person()
    corpus = Corpus(ccp=[(img, mask, box)], viton=[], cutouts=[], backgrounds=[], unlabelled=[(img, mask)])

    def head_cut_share(kind):
        maker = SampleMaker(corpus, 128, {kind: 1.0}, seed=5)
        cut = 0
        for index in range(40):
            target = getattr(maker, kind)(np.random.default_rng([5, index]))[1]
            assert 0.03 < target.mean() < 0.9  # the person is in the frame, with background beside
            cut += target[0].max() > 0.5  # person on the top row: the frame cuts the head or neck
        return cut / 40

    assert head_cut_share("ccp_torso") >= 0.75
    assert head_cut_share("unlabelled_torso") >= 0.75
    assert head_cut_share("ccp_full") <= 0.4  # 0.9 against 0.275 when written


def test_small_people_stand_whole_in_a_scene_at_a_fraction_of_the_frame():
    """Session 17's ccp_small samples: the labelled person cut out by their mask and shrunk into a
    background scene, a fraction of the frame tall; the scene around them is background, and the
    person's own pixels come with them (the red of the drawn body, not the scene's grey)."""
    img, mask, box = _standing_person()
    scene = np.full((300, 400, 3), 128, np.uint8)
    corpus = Corpus(ccp=[(img, mask, box)], viton=[], cutouts=[], backgrounds=[scene], unlabelled=[])
    maker = SampleMaker(corpus, 128, {"ccp_small": 1.0}, seed=5)
    heights, fulls = [], []
    for index in range(30):
        picture, target = maker.ccp_small(np.random.default_rng([5, index]))
        count, _, stats, _ = cv2.connectedComponentsWithStats((target > 0.5).astype(np.uint8))
        assert count > 1, "the person is in the frame"
        heights.append(stats[1:, cv2.CC_STAT_HEIGHT].max() / 128)  # the taller, when there are two
        person = target > 0.9
        assert picture[person][:, 0].mean() > picture[person][:, 1].mean() + 60  # red body, grey scene
        assert np.abs(picture[target < 0.01].astype(int) - 128).max() <= 3  # the scene untouched elsewhere
        full = SampleMaker(corpus, 128, {"ccp_full": 1.0}, seed=5).ccp_full(np.random.default_rng([5, index]))[1]
        full_rows = np.nonzero((full > 0.5).any(axis=1))[0]
        fulls.append((full_rows[-1] - full_rows[0] + 1) / 128)
    # up to 0.65x tall (0.2-0.65 drawn, the feet may leave the frame; two people may overlap into
    # one taller region); full-body crops fill most of the frame
    assert 0.15 <= np.median(heights) <= 0.5 and np.percentile(heights, 90) <= 0.7
    assert np.median(fulls) >= 0.65
