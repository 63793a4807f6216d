"""Crop to the subject and the edge controls (--feather, --shift, --threshold), through the CLI
on scikit-image's sample photos: one person, two people side by side, and nobody."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from portraitcli.cli import cli
from tests.conftest import make_person_clip


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def save(path, rgb):
    Image.fromarray(rgb).save(path)
    return path


def scene(astronaut, width, height, places, side=256):
    """A plain grey backdrop with the astronaut shrunk to side x side at each (x, y)."""
    canvas = np.full((height, width, 3), (120, 130, 140), np.uint8)
    small = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
    for x, y in places:
        canvas[y:y + side, x:x + side] = small
    return canvas


def matte_of(tmp_path, src, *options, name="m.png"):
    out = tmp_path / name
    result = invoke("segment", *options, src, out)
    assert result.exit_code == 0, result.output
    return np.asarray(Image.open(out))


def crop_run(tmp_path, src, *options, command="cutout", out_name="out.png"):
    out, report = tmp_path / out_name, tmp_path / "report.json"
    result = invoke(command, "--crop", "--report", report, *options, src, out)
    assert result.exit_code == 0, result.output
    entry = json.loads(report.read_text())["files"][0]
    return np.asarray(Image.open(out)), entry


def test_crop_one_person_box_with_margin(tmp_path, astronaut_rgb):
    src = save(tmp_path / "one.png", scene(astronaut_rgb, 900, 600, [(100, 300)]))
    full = matte_of(tmp_path, src, name="full.png")
    ys, xs = np.nonzero(full > 64)
    person_w, person_h = xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()
    out, entry = crop_run(tmp_path, src)
    box = entry["crop"]
    assert box["subject"] is True
    assert out.shape[:2] == (box["height"], box["width"]) and out.shape[2] == 4
    # the person sits in the lower left: the box is there, about 10% wider than the person each way
    assert 50 < box["x"] < 130 and box["x"] + box["width"] < 450
    assert abs(box["width"] - 1.2 * person_w) < 0.06 * person_w
    assert abs(box["height"] - 1.2 * person_h) < 0.06 * person_h
    assert box["y"] < ys.min() and box["y"] + box["height"] > ys.max()
    # the whole person is inside the crop
    alpha = out[:, :, 3]
    assert (alpha > 64).sum() >= 0.97 * (full > 64).sum()


def test_crop_two_people_spans_both(tmp_path, astronaut_rgb):
    src = save(tmp_path / "two.png", scene(astronaut_rgb, 1400, 500, [(100, 120), (1000, 120)]))
    out, entry = crop_run(tmp_path, src, "--margin", "0")
    box = entry["crop"]
    assert box["x"] <= 130 and box["x"] + box["width"] >= 1230  # from the left person to the right one
    assert box["y"] >= 100
    alpha = out[:, :, 3]
    left, right = alpha[:, : out.shape[1] // 3], alpha[:, 2 * out.shape[1] // 3:]
    assert (left > 128).mean() > 0.15 and (right > 128).mean() > 0.15
    # nobody in between
    assert (alpha[:, out.shape[1] // 2 - 50: out.shape[1] // 2 + 50] > 128).mean() < 0.01


def test_crop_nobody_keeps_whole_frame_with_note(tmp_path):
    from skimage import data

    src = save(tmp_path / "rocket.png", data.rocket())
    out, entry = crop_run(tmp_path, src, "--aspect", "1:1", command="blur", out_name="out.jpg")
    assert out.shape[:2] == data.rocket().shape[:2]
    assert entry["crop"] == {"x": 0, "y": 0, "width": 640, "height": 427, "subject": False}
    assert any("no person found" in n for n in entry["notes"])


def test_crop_aspect_centred_inside_and_padded(tmp_path, astronaut_rgb):
    src = save(tmp_path / "one.png", scene(astronaut_rgb, 900, 600, [(320, 150)], side=300))
    out, entry = crop_run(tmp_path, src, "--aspect", "4:5")
    box = entry["crop"]
    assert abs(box["width"] / box["height"] - 0.8) < 0.01
    assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= 900 and box["y"] + box["height"] <= 600
    assert abs((box["x"] + box["width"] / 2) - 470) < 25  # centred on the subject
    # a margin too large for the photo: kept inside without --pad, padded with transparency with it
    out, entry = crop_run(tmp_path, src, "--aspect", "1:1", "--margin", "0.6", out_name="inside.png")
    assert entry["crop"]["height"] <= 600 and entry["crop"]["y"] >= 0
    out, entry = crop_run(tmp_path, src, "--aspect", "1:1", "--margin", "0.6", "--pad", out_name="pad.png")
    box = entry["crop"]
    assert box["height"] > 600 and box["y"] < 0 and box["width"] == box["height"]
    assert out.shape[:2] == (box["height"], box["width"])
    assert (out[: -box["y"], :, 3] == 0).all()  # above the photo: transparent
    # a new background fills the padding in replace-bg
    out, _ = crop_run(tmp_path, src, "--aspect", "1:1", "--margin", "0.6", "--pad", "-b", "#ff0000",
                      command="replace-bg", out_name="pad_red.png")
    assert np.abs(out[: -box["y"] - 2].astype(int) - [255, 0, 0]).max() <= 2


def test_crop_bad_aspect_is_usage_error(tmp_path, astronaut_png):
    result = invoke("cutout", "--crop", "--aspect", "wide", astronaut_png, tmp_path / "o.png")
    assert result.exit_code == 2 and "W:H" in result.output
    assert not (tmp_path / "o.png").exists()


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from skimage import data

    return save(tmp_path_factory.mktemp("edges") / "astronaut.png", data.astronaut())


def soft_count(m):
    return int(((m > 12) & (m < 243)).sum())


def steepest_edge(m):
    gy, gx = np.gradient(m.astype(np.float32) / 255)
    return float(np.percentile(np.hypot(gx, gy), 99.5))


def test_shift_grows_and_shrinks_the_matte(tmp_path, photo):
    base = matte_of(tmp_path, photo, name="base.png")
    grown = matte_of(tmp_path, photo, "--shift", "5", name="grown.png")
    shrunk = matte_of(tmp_path, photo, "--shift=-5", name="shrunk.png")
    area = (base > 127).sum()
    assert (grown > 127).sum() > area + 1000 and (shrunk > 127).sum() < area - 1000
    # grown by 5 px: every pixel of the matte's dilation by 4 px is in the grown matte
    hard = (base > 127).astype(np.uint8)
    dilated = cv2.dilate(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    assert (grown[dilated > 0] > 127).mean() > 0.99
    eroded = cv2.erode(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    assert (shrunk[eroded == 0] > 127).mean() < 0.01


def test_feather_widens_the_soft_band(tmp_path, photo):
    base = matte_of(tmp_path, photo, name="base.png")
    soft = matte_of(tmp_path, photo, "--feather", "12", name="soft.png")
    assert soft_count(soft) > 1.3 * soft_count(base)  # more of the matte is partly transparent
    assert steepest_edge(soft) < 0.4 * steepest_edge(base)  # and its steepest edges are far gentler
    assert abs((soft > 127).mean() - (base > 127).mean()) < 0.02  # the edge stays where it was


def test_threshold_hard_edge_in_every_command_and_in_order(tmp_path, photo, astronaut_rgb):
    hard = matte_of(tmp_path, photo, "--feather", "12", "--threshold", "0.5", name="hard.png")
    assert set(np.unique(hard)) == {0, 255}  # the threshold runs after the feather
    cut = tmp_path / "cut.png"
    assert invoke("cutout", "--threshold", "0.5", photo, cut).exit_code == 0
    assert set(np.unique(np.asarray(Image.open(cut))[:, :, 3])) == {0, 255}
    # replace-bg with a hard edge: every pixel is the photo's or the new background's
    out = tmp_path / "red.png"
    assert invoke("replace-bg", "-b", "#ff0000", "--threshold", "0.5", photo, out).exit_code == 0
    rgb = np.asarray(Image.open(out)).astype(int)
    mask = matte_of(tmp_path, photo, "--threshold", "0.5", name="mask.png")
    red = (np.abs(rgb - [255, 0, 0]).max(axis=2) == 0)
    assert (red[mask == 0]).all()
    assert (rgb[mask == 255] == astronaut_rgb[mask == 255]).all()


def test_edge_controls_in_video_frames(tmp_path, astronaut_rgb):
    clip = make_person_clip(tmp_path / "clip.mp4", astronaut_rgb, seconds=0.4, audio=False)
    frames = tmp_path / "frames"
    result = invoke("segment", "--threshold", "0.5", clip, str(frames) + "/")
    assert result.exit_code == 0, result.output
    pngs = sorted(frames.glob("frame_*.png"))
    assert len(pngs) == 6
    for p in pngs:
        assert set(np.unique(np.asarray(Image.open(p)))) <= {0, 255}
