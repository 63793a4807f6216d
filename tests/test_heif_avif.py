"""HEIC (pillow-heif, the `heif` extra) and AVIF (Pillow) in and out: orientation, ICC profile
and EXIF kept, alpha in cutouts. The photos are written by the tests, stored sideways with an
EXIF orientation as phones do."""
from __future__ import annotations

import io

import numpy as np
import pillow_heif
import pytest
from click.testing import CliRunner
from PIL import Image, ImageCms

from portraitcli.cli import cli
from tests.conftest import run_portraitcli

pillow_heif.register_heif_opener()

FACE = (slice(90, 170), slice(190, 260))
BACKDROP = (slice(10, 60), slice(330, 400))


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture()
def icc():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def sideways_photo(path, astronaut_rgb, icc, fmt):
    """The astronaut stored rotated 90 degrees, with orientation 6 (rotate 90 CW to view)."""
    stored = np.ascontiguousarray(np.rot90(astronaut_rgb, 1))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Apple"
    exif[0x0110] = "iPhone 15"
    Image.fromarray(stored).save(path, format=fmt, quality=95, exif=exif.tobytes(), icc_profile=icc)
    return path


def assert_metadata_kept(path, icc):
    img = Image.open(path)
    exif = img.getexif()
    assert exif.get(0x010F) == "Apple" and exif.get(0x0110) == "iPhone 15"
    assert exif.get(0x0112, 1) == 1  # upright pixels: orientation reset
    assert img.info.get("icc_profile") == icc
    return img


@pytest.mark.parametrize("fmt, ext", [("HEIF", ".heic"), ("AVIF", ".avif")])
def test_blur_keeps_format_orientation_icc_exif(tmp_path, astronaut_rgb, icc, fmt, ext):
    src_dir, out_dir = tmp_path / "shoot", tmp_path / "out"
    src_dir.mkdir()
    sideways_photo(src_dir / f"IMG_0001{ext}", astronaut_rgb, icc, fmt)
    result = invoke("blur", src_dir, out_dir)
    assert result.exit_code == 0, result.output
    out = out_dir / f"IMG_0001{ext}"  # folder mode: blur keeps the input's format
    img = assert_metadata_kept(out, icc)
    assert img.format == fmt and img.size == (512, 512)
    rgb = np.asarray(img.convert("RGB")).astype(int)
    assert np.abs(rgb[FACE] - astronaut_rgb[FACE]).mean() < 8  # upright, face sharp


@pytest.mark.parametrize("src_fmt, src_ext", [("HEIF", ".heic"), ("AVIF", ".avif")])
@pytest.mark.parametrize("out_ext, out_fmt", [(".avif", "AVIF"), (".heic", "HEIF")])
def test_cutout_to_avif_and_heic_with_alpha(tmp_path, astronaut_rgb, icc, src_fmt, src_ext, out_ext, out_fmt):
    src = sideways_photo(tmp_path / f"in{src_ext}", astronaut_rgb, icc, src_fmt)
    out = tmp_path / f"cut{out_ext}"
    result = invoke("cutout", src, out)
    assert result.exit_code == 0, result.output
    img = assert_metadata_kept(out, icc)
    assert img.format == out_fmt and img.mode == "RGBA" and img.size == (512, 512)
    rgba = np.asarray(img).astype(int)
    assert rgba[FACE][..., 3].mean() > 240 and rgba[BACKDROP][..., 3].mean() < 20
    assert np.abs(rgba[FACE][..., :3] - astronaut_rgb[FACE]).mean() < 8


def test_heic_on_stdin(tmp_path, astronaut_rgb, icc):
    src = sideways_photo(tmp_path / "in.heic", astronaut_rgb, icc, "HEIF")
    proc = run_portraitcli("segment", "-", "-", input=src.read_bytes())
    assert proc.returncode == 0, proc.stderr
    matte = np.asarray(Image.open(io.BytesIO(proc.stdout)))
    assert matte.shape == (512, 512) and matte[FACE].mean() > 230 and matte[BACKDROP].mean() < 40


def test_damaged_heic_fails_cleanly(tmp_path, astronaut_rgb, icc):
    good = sideways_photo(tmp_path / "good.heic", astronaut_rgb, icc, "HEIF")
    bad = tmp_path / "bad.heic"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    out = tmp_path / "out"
    proc = run_portraitcli("cutout", good, bad, out)
    assert proc.returncode == 1
    lines = proc.stderr.decode().strip().splitlines()
    assert any(line.startswith(f"portraitcli: {bad}: ") for line in lines)
    assert (out / "good.png").exists() and not (out / "bad.png").exists()


def test_heic_without_pillow_heif_says_what_to_install(tmp_path, astronaut_rgb, icc, monkeypatch):
    import sys

    src = sideways_photo(tmp_path / "in.heic", astronaut_rgb, icc, "HEIF")
    monkeypatch.setitem(sys.modules, "pillow_heif", None)
    result = invoke("cutout", "-j", "1", src, tmp_path / "o.png")
    assert result.exit_code == 1 and "portraitcli[heif]" in result.output
    assert not (tmp_path / "o.png").exists()
