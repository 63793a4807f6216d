"""--subjects: bystanders far smaller than the main person fade out, groups stay, video is sticky."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.conftest import run_portraitcli

HEIGHT, WIDTH = 640, 1280


@pytest.fixture(scope="module")
def person(astronaut_rgb):
    """The astronaut as a cutout (colour, alpha), cut by the model itself."""
    from portraitcli.matting.segmenter import Segmenter

    return astronaut_rgb, Segmenter(subjects="all").matte(astronaut_rgb)


@pytest.fixture(scope="module")
def street():
    from skimage import data

    return cv2.resize(data.rocket(), (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


def scene(person, street, scales, left=20):
    """People standing on the bottom edge, left to right from column `left`, each scaled from
    512 px; their boxes."""
    rgb, alpha = person
    canvas = street.astype(np.float32)
    boxes, x = [], left
    for s in scales:
        side = int(512 * s)
        fg = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
        a = cv2.resize(alpha, (side, side), interpolation=cv2.INTER_AREA)[:, :, None]
        y = HEIGHT - side
        canvas[y:, x:x + side] = fg * a + canvas[y:, x:x + side] * (1 - a)
        boxes.append((slice(y, HEIGHT), slice(x, x + side)))
        x += side + 150
    return canvas.astype(np.uint8), boxes


def test_bystander_fades_and_main_person_stays(person, street):
    from portraitcli.matting.segmenter import Segmenter

    img, (main, bystander) = scene(person, street, (1.0, 0.4))
    everyone = Segmenter(subjects="all").matte(img)
    chosen = Segmenter().matte(img)  # default: main subjects
    assert everyone[bystander].mean() > 0.1, "precondition: the model finds the small person"
    assert chosen[bystander].mean() < 0.3 * everyone[bystander].mean()
    assert abs(chosen[main].mean() - everyone[main].mean()) < 0.01


def test_people_of_similar_size_are_all_kept(person, street):
    from portraitcli.matting.segmenter import Segmenter

    img, boxes = scene(person, street, (1.0, 0.9))
    everyone = Segmenter(subjects="all").matte(img)
    chosen = Segmenter().matte(img)
    for box in boxes:
        assert everyone[box].mean() > 0.2
        assert abs(chosen[box].mean() - everyone[box].mean()) < 0.01


def test_video_keeps_a_subject_that_shrinks_back(person, street):
    """A person who was a main subject stays one when they step back (no blinking out),
    where a photo of the last frame alone would drop them."""
    from portraitcli.matting.segmenter import Segmenter

    frames = [scene(person, street, (1.0, s)) for s in (0.9, 0.8, 0.7, 0.6, 0.5, 0.4)]
    video, everyone = Segmenter(), Segmenter(subjects="all")
    for img, _ in frames:
        last = video.matte(img, video=True)
        last_everyone = everyone.matte(img, video=True)
    img, (_, bystander) = frames[-1]
    photo = Segmenter().matte(img)
    assert video.scene_cuts == 0
    assert photo[bystander].mean() < 0.05, "precondition: alone, the last frame drops the small person"
    # against the same clip with everyone kept, so that only the subject choice differs
    assert last[bystander].mean() > 0.6 * last_everyone[bystander].mean() > 0.05


def test_cli_subjects_option(tmp_path, person, street):
    img, (_, bystander) = scene(person, street, (1.0, 0.4))
    src = tmp_path / "street.png"
    cv2.imwrite(str(src), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    means = {}
    for mode in ("main", "all"):
        out = tmp_path / f"{mode}.png"
        result = run_portraitcli("segment", str(src), str(out), "--subjects", mode, "-q")
        assert result.returncode == 0, result.stderr
        means[mode] = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)[bystander].mean() / 255
    assert means["all"] > 0.1
    assert means["main"] < 0.3 * means["all"]


def test_subject_box_frames_the_people_no_more_elongated_than_the_photo():
    from portraitcli.matting.subjects import subject_box

    prob = np.zeros((256, 256), np.float32)
    assert subject_box(prob, 640, 1280) is None  # nobody
    prob[100:200, 60:80] = 0.9  # one tall, thin person
    top, bottom, left, right = subject_box(prob, 640, 1280)
    # the person (rows 250-500, columns 300-400 of the photo) is inside, with a margin
    assert top < 250 and bottom > 500 and left < 300 and right > 400
    assert 0 <= top and bottom <= 640 and 0 <= left and right <= 1280
    # widened to at most the photo's 2:1 elongation, about the person's centre
    assert abs((bottom - top) / (right - left) - 2.0) < 0.05
    assert abs((left + right) / 2 - 350) < 3
    prob[250:253, 240:243] = 0.9  # a speck far away (a lamp) does not stretch the box to it
    assert subject_box(prob, 640, 1280) == (top, bottom, left, right)
    prob[20:250, 10:240] = 0.9  # someone filling most of the photo: nothing to gain
    assert subject_box(prob, 640, 1280) is None


def test_focus_pass_gives_a_small_person_the_detail_of_a_large_one(person, street):
    """A person shrunk into a wide scene: the second look at them comes closer to the matte the
    network gives the same person filling the frame (scaled down alike) than one look does."""
    from portraitcli.matting.segmenter import Segmenter

    rgb, full_alpha = person
    plain, focusing = Segmenter(subjects="all", focus_photos=False), Segmenter(subjects="all")
    one_look, focused = [], []
    # 154 and 179 px tall in a 640 x 1280 scene, at both ends, clear of the rocket in the middle.
    # Four placements, since one alone moves a lot between weights (one model scored 0.31 -> 0.60 at
    # (0.3, 20) and 0.67 -> 0.83 over the four)
    for scale, left in ((0.3, 20), (0.3, 1000), (0.35, 20), (0.35, 1000)):
        img, (box,) = scene(person, street, (scale,), left)
        side = box[0].stop - box[0].start
        truth = np.zeros(img.shape[:2], bool)
        truth[box] = cv2.resize(full_alpha, (side, side), interpolation=cv2.INTER_AREA) > 0.5

        def iou(alpha):
            pred = alpha > 0.5
            return (pred & truth).sum() / (pred | truth).sum()

        one_look.append(iou(plain.matte(img)))
        focused.append(iou(focusing.matte(img)))
    one_look, focused = np.mean(one_look), np.mean(focused)
    assert focused > one_look + 0.1, (one_look, focused)
    assert focused > 0.75, focused
