"""Camera RAW in (rawpy/LibRaw, the `raw` extra): DNGs written by the tests (tests/rawfiles.py,
pidng) developed with the camera's white balance and matrix, EXIF kept, upright, 16-bit TIFF or
JPEG by command, Adobe RGB with its ICC profile, and the embedded JPEG preview."""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageCms

from portraitcli.cli import cli
from tests.conftest import run_portraitcli
from tests.rawfiles import write_dng

FACE = (slice(90, 170), slice(190, 260))
BACKDROP = (slice(10, 60), slice(330, 400))


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def read16(path) -> np.ndarray:
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if arr.ndim == 3 and arr.shape[2] == 4 else cv2.COLOR_BGR2RGB) \
        if arr.ndim == 3 else arr


def assert_camera_exif(path):
    exif = Image.open(path).getexif()
    assert (exif.get(0x010F), exif.get(0x0110), exif.get(0x0132)) == ("TestCam", "Mosaic 1", "2024:05:01 10:00:00")
    assert exif.get(0x0112, 1) == 1


@pytest.fixture()
def shoot(tmp_path, astronaut_rgb):
    folder = tmp_path / "shoot"
    folder.mkdir()
    write_dng(folder / "IMG_0001.DNG", astronaut_rgb)
    return folder


def test_raw_cutout_and_segment_default_to_16_bit_tiff(tmp_path, shoot, astronaut_rgb):
    assert invoke("cutout", shoot, tmp_path / "cut").exit_code == 0
    out = tmp_path / "cut" / "IMG_0001.tif"
    rgba = read16(out)
    assert rgba.dtype == np.uint16 and rgba.shape == (512, 512, 4)
    assert_camera_exif(out)
    # developed with the camera's white balance: the colours of the photo the sensor saw, not the
    # warm cast it recorded (without white balance the error is 19 levels)
    rgb8 = (rgba[..., :3] >> 8).astype(int)
    assert np.abs(rgb8[FACE] - astronaut_rgb[FACE]).mean() < 4
    assert rgba[FACE][..., 3].mean() > 60000 and rgba[BACKDROP][..., 3].mean() < 8000
    # Adobe RGB in a 16-bit TIFF: the profile goes with the pixels
    assert invoke("cutout", "--raw-space", "adobe", shoot, tmp_path / "adobe").exit_code == 0
    icc = Image.open(tmp_path / "adobe" / "IMG_0001.tif").info["icc_profile"]
    assert "Adobe RGB (1998)" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    assert_camera_exif(tmp_path / "adobe" / "IMG_0001.tif")
    assert invoke("segment", shoot, tmp_path / "matte").exit_code == 0
    matte = read16(tmp_path / "matte" / "IMG_0001.tif")
    assert matte.dtype == np.uint16 and matte.shape == (512, 512)


def test_raw_blur_defaults_to_jpeg_and_adobe_rgb_carries_its_profile(tmp_path, shoot, astronaut_rgb):
    assert invoke("blur", shoot, tmp_path / "srgb").exit_code == 0
    assert invoke("blur", "--raw-space", "adobe", shoot, tmp_path / "adobe").exit_code == 0
    srgb, adobe = tmp_path / "srgb" / "IMG_0001.jpg", tmp_path / "adobe" / "IMG_0001.jpg"
    assert_camera_exif(srgb)
    assert_camera_exif(adobe)
    assert "icc_profile" not in Image.open(srgb).info
    icc = Image.open(adobe).info["icc_profile"]
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    assert "Adobe RGB (1998)" in ImageCms.getProfileDescription(profile)
    # the same pixels, once in each space: through its profile the Adobe RGB one is the sRGB one
    adobe_rgb = np.asarray(Image.open(adobe))
    converted = ImageCms.profileToProfile(Image.fromarray(adobe_rgb), profile, ImageCms.createProfile("sRGB"),
                                          outputMode="RGB")
    srgb_rgb = np.asarray(Image.open(srgb)).astype(int)
    assert np.abs(np.asarray(converted).astype(int) - srgb_rgb).mean() < 2.5
    assert np.abs(adobe_rgb.astype(int) - srgb_rgb).mean() > 3  # and they do differ as stored
    assert np.abs(srgb_rgb[FACE] - astronaut_rgb[FACE]).mean() < 5


def test_raw_orientation_applied(tmp_path, astronaut_rgb):
    src = write_dng(tmp_path / "sideways.dng", np.ascontiguousarray(np.rot90(astronaut_rgb, 1)), orientation=6)
    out = tmp_path / "out.png"
    assert invoke("cutout", src, out).exit_code == 0
    rgba = np.asarray(Image.open(out))
    assert rgba.shape == (512, 512, 4)
    assert np.abs(rgba[FACE][..., :3].astype(int) - astronaut_rgb[FACE]).mean() < 5
    assert_camera_exif(out)


def test_raw_preview_uses_the_embedded_jpeg(tmp_path, astronaut_rgb):
    half = cv2.resize(astronaut_rgb, (256, 256), interpolation=cv2.INTER_AREA)
    jpeg = io.BytesIO()
    Image.fromarray(half).save(jpeg, "JPEG", quality=92)
    with_preview = write_dng(tmp_path / "a.dng", astronaut_rgb, preview_jpeg=jpeg.getvalue())
    without = write_dng(tmp_path / "b.dng", astronaut_rgb)
    report = tmp_path / "report.json"
    result = invoke("blur", "--raw-preview", "--report", report, with_preview, without, tmp_path / "out")
    assert result.exit_code == 0, result.output
    preview_out = Image.open(tmp_path / "out" / "a.jpg")
    assert preview_out.size == (256, 256)  # the preview's own size: no develop happened
    assert_camera_exif(tmp_path / "out" / "a.jpg")
    assert Image.open(tmp_path / "out" / "b.jpg").size == (512, 512)
    notes = {Path(f["input"]).name: f["notes"] for f in json.loads(report.read_text())["files"]}
    assert any("embedded 256x256 JPEG preview" in n for n in notes["a.dng"])
    assert any("no embedded JPEG preview" in n for n in notes["b.dng"])


def test_damaged_raw_fails_on_one_line_and_the_rest_goes_on(tmp_path, shoot):
    good = shoot / "IMG_0001.DNG"
    (shoot / "IMG_0002.NEF").write_bytes(good.read_bytes()[:3000])
    (shoot / "IMG_0003.CR2").write_bytes(b"not a raw at all" * 10)
    proc = run_portraitcli("cutout", shoot, tmp_path / "out")
    assert proc.returncode == 1
    errors = proc.stderr.decode().strip().splitlines()
    assert sum(line.startswith("portraitcli: ") and ("IMG_0002" in line or "IMG_0003" in line)
               for line in errors) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["IMG_0001.tif"]


def test_raw_without_rawpy_says_what_to_install(tmp_path, shoot, monkeypatch):
    monkeypatch.setitem(sys.modules, "rawpy", None)
    proc = invoke("cutout", "-j", "1", shoot / "IMG_0001.DNG", tmp_path / "o.tif")
    assert proc.exit_code == 1
    assert "portraitcli[raw]" in proc.output
    assert not (tmp_path / "o.tif").exists()


def test_shot_exif_keeps_lens_and_date_drops_maker_note(tmp_path):
    """The EXIF carried over from a TIFF-based RAW: IFD0's camera tags and the Exif IFD (lens,
    capture date, exposure), without the MakerNote, orientation reset (the pixels are upright)."""
    from portraitcli.media.raw import shot_exif

    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Nikon", "Z 6", 8
    exif.get_ifd(0x8769).update({0xA434: "NIKKOR Z 50mm f/1.8 S", 0x9003: "2024:06:01 12:00:00",
                                 0x829A: 0.004, 0x927C: b"maker note bytes"})
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "TIFF", exif=exif.tobytes())
    carried = Image.Exif()
    carried.load(shot_exif(buf.getvalue()))
    assert (carried[0x010F], carried[0x0110], carried[0x0112]) == ("Nikon", "Z 6", 1)
    sub = carried.get_ifd(0x8769)
    assert sub[0xA434] == "NIKKOR Z 50mm f/1.8 S" and sub[0x9003] == "2024:06:01 12:00:00"
    assert 0x927C not in sub
    assert shot_exif(b"\x00\x00\x00\x18ftypcrx ") is None  # CR3: not a TIFF container
