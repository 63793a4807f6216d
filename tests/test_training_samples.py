"""Training samples (models/data.py) on real photos and drawn scenes: framings cut people where
they should, pasted people keep exact labels, incomplete labels are masked out of the loss, and
sources are shrunk the way the runtime shrinks frames."""
from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from models.data import (Corpus, Labelled, Person, Pyramids, SampleMaker, boundary_band, crop_affine,
                         incomplete_label_valid, warp_antialiased)
from portraitcli.matting.segmenter import Segmenter

SIZE = 256


@pytest.fixture(scope="module")
def sample(astronaut_rgb):
    img = cv2.resize(astronaut_rgb, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    target = cv2.resize(Segmenter(device="cpu", threads=1).matte(astronaut_rgb), (SIZE, SIZE),
                        interpolation=cv2.INTER_AREA)
    assert 0.1 < (target > 0.5).mean() < 0.8  # a person, and background around her
    return img, target


def plain_warp(img, m, size, border=cv2.BORDER_REFLECT101):
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)


def corpus_of(people=(), backgrounds=(), ccp=(), picsart=(), scenes=(), teacher_labelled=(), viton=()):
    return Corpus(ccp=list(ccp), picsart=list(picsart), scenes=list(scenes), viton=list(viton),
                  teacher_labelled=list(teacher_labelled), people=list(people), backgrounds=list(backgrounds))


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
        plain = plain_warp(astronaut_rgb, m, size).astype(np.float32)
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
        plain = plain_warp(mask, m, 128, border=cv2.BORDER_CONSTANT).astype(np.float64)
        ys, xs = np.mgrid[0:128, 0:128]
        for weights in (smooth, plain):
            assert weights.sum() > 0
        centre = lambda wgt: np.array([(wgt * xs).sum(), (wgt * ys).sum()]) / wgt.sum()
        assert np.abs(centre(smooth) - centre(plain)).max() < 0.25
        assert abs(smooth.sum() / plain.sum() - 1) < 0.02  # same area


def test_pasted_people_do_not_bleed_hidden_colour():
    """People are shrunk premultiplied: the colour stored under alpha 0 (here pure green) never
    shows at the pasted edge."""
    rgba = np.zeros((900, 500, 4), np.uint8)
    rgba[:, :, 1] = 255
    cv2.ellipse(rgba, (250, 450), (200, 420), 0, 0, 360, (128, 128, 128, 255), -1)
    grey = np.full((400, 600, 3), 128, np.uint8)
    maker = SampleMaker(corpus_of(people=[Person(rgba, whole=True)], backgrounds=[grey]), 128, {"cutout": 1.0}, 3)
    worst, pasted = 0.0, 0
    for index in range(16):
        img, target = maker.cutout(np.random.default_rng([3, index]))
        if not 0.05 < target.mean() < 0.95:  # some placements leave the person (mostly) out of frame
            continue
        pasted += 1
        img = img.astype(np.float32)
        worst = max(worst, float((img[:, :, 1] - (img[:, :, 0] + img[:, :, 2]) / 2).max()))
    assert pasted >= 5 and worst < 3


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


def test_a_frame_reaching_past_the_photo_leaves_the_mirrored_part_unlabelled():
    """Past the photo's edge the frame shows the photo's mirror image, mirrored person and all: those
    pixels are left out of the loss (a mirrored half-person labelled person taught a network that a
    flag hanging into the frame is one); inside the photo every pixel keeps its label."""
    img, mask, box = _standing_person(400, 300)
    item = Labelled(img, mask, None, box)
    maker = SampleMaker(corpus_of(picsart=[item]), 128, {"picsart": 1.0}, seed=3)
    m = crop_affine(50, 200, 400, 400, 128, 0.0, False)  # the left 150 of 400 px lie past the photo
    out, target, valid = maker._framed(None, item, m)
    assert (valid[:, :47] == 0).all() and (valid[:, 49:] == 1).all()
    assert target[:, :47].max() > 0.5  # the mirrored person is there, and not learnt from
    assert out[:, :47].mean() > 50  # a mirror image, not a black bar
    m = crop_affine(150, 200, 280, 380, 128, 0.0, False)  # inside the photo: nothing left out
    assert len(maker._framed(None, item, m)) == 2
    ignored = [(maker(i)[2] == 0).mean() for i in range(30)]  # the sampler's own framings
    assert 0 < np.mean(ignored) < 0.5


def test_torso_framings_cut_the_person_where_full_body_crops_do_not():
    """Torso framings are shorter than the person, so the frame cuts them, mostly through the head
    or neck, as a zoomed video frame does; the full-body crops mostly keep the head in."""
    img, mask, box = _standing_person()
    maker = SampleMaker(corpus_of(ccp=[Labelled(img, mask, None, box)]), 128, {"ccp_full": 1.0}, seed=5)

    def head_cut_share(kind):
        cut = 0
        for index in range(40):
            target = getattr(maker, kind)(np.random.default_rng([5, index]))[1]
            assert 0.03 < target.mean() < 0.9  # the person is in the frame, with background beside
            cut += target[0].max() > 0.5  # person on the top row: the frame cuts the head or neck
        return cut / 40

    assert head_cut_share("ccp_torso") >= 0.75
    assert head_cut_share("ccp_full") <= 0.4


def _whole_person_cutout():
    img, mask, box = _standing_person()
    x0, y0, x1, y1 = box
    return Person(np.dstack([img, mask])[y0:y1, x0:x1].copy(), whole=True)


def test_small_people_stand_on_the_ground_a_fraction_of_the_frame_tall():
    """Wide scenes: people well under the frame's height, with ground below their feet most of the
    time (a model that saw only portraits runs every person down to the bottom edge)."""
    scene = np.full((300, 400, 3), 128, np.uint8)
    maker = SampleMaker(corpus_of(people=[_whole_person_cutout()], backgrounds=[scene]), 128,
                        {"small_people": 1.0}, seed=5)
    heights, on_ground = [], 0
    for index in range(30):
        picture, target = maker.small_people(np.random.default_rng([5, index]))
        count, _, stats, _ = cv2.connectedComponentsWithStats((target > 0.5).astype(np.uint8))
        assert count > 1, "someone is in the frame"
        heights.append(stats[1:, cv2.CC_STAT_HEIGHT].max() / 128)
        on_ground += not target[-3:].max() > 0.5
        person = target > 0.9
        assert picture[person][:, 0].mean() > picture[person][:, 1].mean() + 60  # red body, grey scene
    assert np.median(heights) <= 0.5 and on_ground >= 20


def test_viton_upper_bodies_are_framed_or_put_on_other_backgrounds():
    """viton: the studio photo framed as it is, or the person cut out by the mask and put on another
    scene (green here): every body pixel labelled person, every pixel of the new scene background."""
    img, mask, box = _standing_person(400, 300)
    img[mask == 0] = (230, 230, 230)  # the studio backdrop
    scene = np.full((300, 400, 3), (0, 160, 0), np.uint8)
    maker = SampleMaker(corpus_of(backgrounds=[scene], viton=[Labelled(img, mask, None, box)]), 128,
                        {"viton": 1.0}, seed=4)
    composited = 0
    for index in range(30):
        out = maker.viton(np.random.default_rng([4, index]))
        picture, target = out[0].astype(int), out[1]
        body = picture[:, :, 0] - picture[:, :, 1] > 60
        assert body.any() and (target[body] > 0.5).mean() > 0.97
        green = picture[:, :, 1] - np.maximum(picture[:, :, 0], picture[:, :, 2]) > 100
        if green.mean() > 0.05:
            assert (target[green] < 0.05).mean() > 0.97
            composited += 1
    assert 10 <= composited <= 26  # 60% of the samples


def test_groups_label_every_person():
    """Groups: several people pasted side by side, each one's own pixels under a person label."""
    scene = np.full((300, 400, 3), 128, np.uint8)
    maker = SampleMaker(corpus_of(people=[_whole_person_cutout()], backgrounds=[scene]), 256, {"group": 1.0}, 11)
    people_counts = []
    for index in range(20):
        picture, target = maker.group(np.random.default_rng([11, index]))
        red = (picture[:, :, 0].astype(int) - picture[:, :, 1]) > 60  # the drawn body's colour
        assert (target[red] > 0.5).mean() > 0.97  # every visible body pixel is labelled person
        assert (target[np.abs(picture.astype(int) - 128).max(axis=2) <= 2] < 0.05).mean() > 0.97
        people_counts.append(cv2.connectedComponents((target > 0.5).astype(np.uint8))[0] - 1)
    assert max(people_counts) >= 3 and np.median(people_counts) >= 2


def test_unlabelled_bystanders_are_left_out_of_the_loss():
    """A street photo whose labels miss a person the teacher sees: that person is not valid (no
    loss), the labelled people and the plain background are."""
    labelled = np.zeros((200, 300), np.uint8)
    labelled[50:150, 40:80] = 255
    teacher = labelled.copy()
    teacher[60:150, 200:230] = 230  # a bystander nobody labelled
    ignore = np.zeros_like(labelled, bool)
    ignore[0:10] = True  # the set's own ignore label
    valid = incomplete_label_valid(labelled, teacher, ignore)
    assert valid[100, 215] == 0 and valid[100, 60] == 1 and valid[180, 150] == 1 and valid[5, 150] == 0
    # the loss does not change with what the target says where valid is 0 (torch: the train extra)
    torch = pytest.importorskip("torch", reason="the training loss needs torch (pip install -e '.[train]')")
    from models.train import loss_fn

    logits = torch.randn(1, 1, 200, 300)
    band = torch.zeros(1, 1, 200, 300, dtype=torch.uint8)
    target = torch.from_numpy(labelled / 255.0).float()[None, None]
    other = target.clone()
    other[0, 0, 60:150, 200:230] = 1.0
    v = torch.from_numpy(valid)[None, None]
    assert torch.isclose(loss_fn(logits, target, band, v, 3.0), loss_fn(logits, other, band, v, 3.0))
    assert not torch.isclose(loss_fn(logits, target, band, torch.ones_like(v), 3.0),
                             loss_fn(logits, other, band, torch.ones_like(v), 3.0))


def test_close_portrait_framings_fill_the_frame_with_the_person():
    """picsart_close: face and shoulders fill most of the frame (selfies, video calls)."""
    img, mask, box = _standing_person(400, 300)
    maker = SampleMaker(corpus_of(picsart=[Labelled(img, mask, None, box)]), 128, {"picsart": 1.0}, 2)
    close = [maker.picsart_close(np.random.default_rng([2, i]))[1].mean() for i in range(20)]
    taken = [maker.picsart(np.random.default_rng([2, i]))[1].mean() for i in range(20)]
    assert np.median(close) > np.median(taken) + 0.1


def test_clutter_pastes_things_that_are_not_people_and_hides_people_behind_them():
    """clutter: things cut from other photos' person-free parts (green here) stand in front of and
    behind the people (red pasted people, magenta photographed ones): every visible person pixel is
    labelled person, and a thing in front takes the label away from what it hides."""
    img, mask, box = _standing_person(400, 300)
    img[mask == 0] = (0, 160, 0)
    img[mask > 0] = (220, 0, 220)
    photo = Labelled(img, mask, None, box)
    scene = Labelled(img, mask, np.ones_like(mask), box)
    grey = np.full((300, 400, 3), 128, np.uint8)
    maker = SampleMaker(corpus_of(people=[_whole_person_cutout()], backgrounds=[grey], ccp=[photo],
                                  picsart=[photo], scenes=[scene], teacher_labelled=[photo], viton=[photo]),
                        256, {"clutter": 1.0}, seed=3)
    with_things = 0
    for index in range(24):
        out = maker.clutter(np.random.default_rng([3, index]))
        picture, target = out[0].astype(int), out[1]
        person_coloured = picture[:, :, 0] - picture[:, :, 1] > 60
        if person_coloured.any():  # a person-free scene has neither
            assert (target[person_coloured] > 0.5).mean() > 0.97
            reddish = picture[:, :, 0] - picture[:, :, 1] > 20  # a soft edge mixes in the thing's colour
            assert reddish[target > 0.75].mean() > 0.97
        else:
            assert target.max() < 0.5
        with_things += (picture[:, :, 1] - picture[:, :, 0] > 60).mean() > 0.01
    assert with_things >= 16


def test_scene_remainders_are_person_free_windows_of_the_labelled_photos():
    """scene_remainder: windows of the photos people stand in (green here) that hold none of the
    person (magenta), labelled background; the grey backgrounds only when no window is free."""
    img, mask, box = _standing_person(1000, 1500)  # a wide street scene, one person in it
    img[mask == 0] = (0, 160, 0)
    img[mask > 0] = (220, 0, 220)
    photo = Labelled(img, mask, None, box)
    grey = np.full((300, 400, 3), 128, np.uint8)
    maker = SampleMaker(corpus_of(backgrounds=[grey], ccp=[photo], picsart=[photo], scenes=[photo]),
                        128, {"scene_remainder": 1.0}, seed=4)
    from_the_photo = 0
    for index in range(20):
        picture, target = maker.scene_remainder(np.random.default_rng([4, index]))[:2]
        picture = picture.astype(int)
        assert target.max() < 0.05
        assert not (picture[:, :, 0] - picture[:, :, 1] > 60).any()  # no part of the person
        from_the_photo += (picture[:, :, 1] - picture[:, :, 0] > 60).mean() > 0.9
    assert from_the_photo >= 12


@pytest.fixture(scope="module")
def teacher():
    pytest.importorskip("ai_edge_litert", reason="the teacher runs with ai-edge-litert (pip install -e '.[train]')")
    from models.teacher import MediaPipeSelfie

    try:
        return MediaPipeSelfie()
    except Exception as exc:  # the model file comes from the mediapipe wheel, fetched on first use
        pytest.skip(f"MediaPipe selfie model unavailable: {exc}")


def test_teacher_match_labels_the_scene_the_student_sees(astronaut_rgb, sample, teacher):
    """teacher_match: the label is the teacher's answer on the very scene of the sample (crops,
    composites and blends of every kind, degraded after it answered), so the teacher run again on
    the finished sample agrees with it."""
    from skimage import data

    img, mask = astronaut_rgb, (cv2.resize(sample[1], astronaut_rgb.shape[1::-1]) * 255).astype(np.uint8)
    photo = Labelled(img, mask, None, (100, 20, 450, 512))
    scene = Labelled(img, mask, np.ones_like(mask), (100, 20, 450, 512))
    cut = np.dstack([img, mask])
    corpus = corpus_of(people=[Person(cut, whole=True), Person(cut, whole=False)], backgrounds=[data.coffee()],
                       ccp=[photo], picsart=[photo], scenes=[scene], teacher_labelled=[photo], viton=[photo])
    for size in (256, 128):
        maker = SampleMaker(corpus, size, {"teacher_match": 1.0}, seed=9)
        agreement = []
        for index in range(16):
            picture, target, valid = maker(index)
            assert picture.shape == (size, size, 3) and target.shape == (size, size) and valid.all()
            assert 0 <= target.min() and target.max() <= 1
            seen = cv2.resize(teacher.predict(picture), (size, size), interpolation=cv2.INTER_AREA) > 0.5
            labelled = target > 0.5
            if not seen.any() and not labelled.any():
                continue  # a person-free scene, and the label says so
            agreement.append((seen & labelled).sum() / (seen | labelled).sum())
        assert len(agreement) >= 8 and np.median(agreement) > 0.8


def test_the_trainer_reruns_itself_under_tcmalloc_once():
    pytest.importorskip("torch", reason="the trainer needs torch (pip install -e '.[train]')")
    from models.train import TCMALLOC
    from tests.conftest import ROOT

    if not any(os.path.exists(path) for path in TCMALLOC):
        pytest.skip("tcmalloc is not installed (apt install libtcmalloc-minimal4)")
    # the re-run prints its LD_PRELOAD, then asks to be re-run again: already under tcmalloc, it is not
    rerun = ("import os; from models.train import rerun_under_tcmalloc; print(os.environ['LD_PRELOAD'], flush=True); "
             "rerun_under_tcmalloc(['-c', 'print(\"twice\")'])")
    code = f"from models.train import rerun_under_tcmalloc; rerun_under_tcmalloc(['-c', {rerun!r}]); print('not re-run')"
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and "tcmalloc" in lines[0], proc.stdout
