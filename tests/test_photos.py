"""Photos end to end through the CLI: every subcommand, folders, globs, pipes, metadata, odd modes."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageCms

from portraitcli.cli import cli
from tests.conftest import run_portraitcli

# In scikit-image's astronaut (512x512): the face, and plain studio backdrop beside the helmet.
FACE = (slice(90, 170), slice(190, 260))
BACKDROP = (slice(10, 60), slice(330, 400))


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_segment_writes_full_resolution_matte(astronaut_png, tmp_path):
    out = tmp_path / "matte.png"
    result = invoke("segment", astronaut_png, out)
    assert result.exit_code == 0, result.output
    matte = Image.open(out)
    assert matte.mode == "L" and matte.size == (512, 512)
    m = np.asarray(matte)
    assert m[FACE].mean() > 230  # the person is opaque
    assert m[BACKDROP].mean() < 40  # the backdrop is not
    assert 0.1 < (m > 127).mean() < 0.8


def test_segment_threshold_gives_hard_mask(astronaut_png, tmp_path):
    out = tmp_path / "mask.png"
    assert invoke("segment", "--threshold", "0.5", astronaut_png, out).exit_code == 0
    assert set(np.unique(read(out))) <= {0, 255}


def test_segment_tiff_is_16_bit(astronaut_png, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert invoke("segment", "--format", "tiff", astronaut_png, out_dir).exit_code == 0
    import cv2

    matte = cv2.imread(str(out_dir / "astronaut.tiff"), cv2.IMREAD_UNCHANGED)
    assert matte.dtype == np.uint16 and matte.shape == (512, 512)
    assert matte[FACE].mean() > 60000


def test_blur_keeps_person_and_blurs_background(astronaut_png, astronaut_rgb, tmp_path):
    out = tmp_path / "blur.png"
    assert invoke("blur", "--strength", "0.8", astronaut_png, out).exit_code == 0
    blurred = read(out).astype(np.float32)
    original = astronaut_rgb.astype(np.float32)
    assert np.abs(blurred[FACE] - original[FACE]).mean() < 3  # person untouched

    def detail(img):  # high-frequency energy: what a blur removes
        return np.abs(np.diff(img, axis=1)).mean()

    flag = (slice(0, 150), slice(0, 100))  # the striped flag behind her, left
    assert detail(blurred[flag]) < 0.5 * detail(original[flag])


def test_blur_has_no_person_halo(tmp_path, astronaut_rgb):
    """A bright person on a dark background: the blurred background right next to the person
    must stay dark (the person is masked out of the blur, not smeared into it)."""
    from portraitcli import effects

    h = w = 200
    rgb = np.full((h, w, 3), 20, np.uint8)
    rgb[40:160, 80:120] = 240
    alpha = np.zeros((h, w), np.float32)
    alpha[40:160, 80:120] = 1
    out = effects.blur_background(rgb, alpha, strength=0.8)
    ring = out[90:110, 60:76].astype(np.float32)  # background just left of the person
    assert ring.mean() < 30
    naive = effects.composite(rgb, __import__("cv2").GaussianBlur(rgb, (0, 0), 12), alpha)
    assert naive[90:110, 60:76].mean() > ring.mean() + 20  # what a naive blur would do


def test_bokeh_highlights_bloom():
    from portraitcli import effects

    rgb = np.full((200, 200, 3), 30, np.uint8)
    rgb[100, 100] = 255  # a point light in the background
    alpha = np.zeros((200, 200), np.float32)
    gauss = effects.blur_background(rgb, alpha, 0.5, bokeh=False)
    disc = effects.blur_background(rgb, alpha, 0.5, bokeh=True)
    # the disc spreads the highlight's energy into a visibly bright disc, a gaussian does not
    assert (disc.max(axis=2) > 45).sum() > 2 * (gauss.max(axis=2) > 45).sum()


def test_replace_bg_colour(astronaut_png, tmp_path):
    out = tmp_path / "green.jpg"
    assert invoke("replace-bg", "--background", "#00ff00", astronaut_png, out).exit_code == 0
    img = read(out).astype(int)
    assert img.shape == (512, 512, 3)
    assert img[BACKDROP][..., 1].mean() > 230 and img[BACKDROP][..., 0].mean() < 30
    assert abs(img[FACE][..., 1].mean() - 255) > 60  # the face is not green


def test_replace_bg_image_cover_fit(astronaut_png, tmp_path, camera_grey):
    bg = tmp_path / "bg.png"
    Image.fromarray(camera_grey[:300, :]).save(bg)  # 512x300: needs cover-fitting to 512x512
    out = tmp_path / "new.png"
    assert invoke("replace-bg", "-b", bg, "--fit", "cover", astronaut_png, out).exit_code == 0
    assert read(out).shape == (512, 512, 3)


def test_cutout_rgba_and_jpeg_flatten(astronaut_png, tmp_path):
    png, webp, jpg = tmp_path / "c.png", tmp_path / "c.webp", tmp_path / "c.jpg"
    assert invoke("cutout", astronaut_png, png).exit_code == 0
    rgba = read(png)
    assert rgba.shape == (512, 512, 4)
    assert rgba[FACE][..., 3].mean() > 230 and rgba[BACKDROP][..., 3].mean() < 40
    assert invoke("cutout", astronaut_png, webp).exit_code == 0
    assert Image.open(webp).mode == "RGBA"
    proc = run_portraitcli("cutout", "-b", "black", astronaut_png, jpg)
    assert proc.returncode == 0
    assert b"flattened" in proc.stderr  # says so rather than failing
    flat = read(jpg)
    assert flat.shape == (512, 512, 3) and flat[BACKDROP].mean() < 40


def test_subprocess_entry_point(astronaut_png, tmp_path):
    out = tmp_path / "b.jpg"
    proc = run_portraitcli("blur", astronaut_png, out)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).format == "JPEG"
    assert b"Traceback" not in proc.stderr


def test_folder_mirrored_and_globs(tmp_path, astronaut_rgb):
    src = tmp_path / "shoot"
    (src / "day1" / "am").mkdir(parents=True)
    small = Image.fromarray(astronaut_rgb).resize((128, 128))
    small.save(src / "a.jpg")
    small.save(src / "day1" / "b.png")
    small.save(src / "day1" / "am" / "c.jpg")
    (src / "day1" / "notes.txt").write_text("not media")
    out = tmp_path / "cut"
    result = invoke("cutout", "--jobs", "2", src, out)
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a.png", "day1/am/c.png", "day1/b.png"]
    # blur keeps each input's own format
    out2 = tmp_path / "blurred"
    assert invoke("blur", str(src / "**" / "*.jpg"), out2).exit_code == 0
    assert sorted(p.name for p in out2.iterdir()) == ["a.jpg", "c.jpg"]


def test_stdin_to_stdout(astronaut_png):
    proc = run_portraitcli("segment", "-", "-", input=astronaut_png.read_bytes())
    assert proc.returncode == 0, proc.stderr
    matte = Image.open(io.BytesIO(proc.stdout))
    assert matte.format == "PNG" and matte.size == (512, 512) and matte.mode == "L"


def test_exif_orientation_applied_and_metadata_kept(tmp_path, astronaut_rgb):
    """A phone photo stored sideways with orientation 6, an ICC profile, DPI and a camera make."""
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(astronaut_rgb, 1)))  # rotated 90 ccw on disk
    exif = Image.Exif()
    exif[0x0112] = 6  # display: rotate 90 cw
    exif[0x010F] = "TestCam"
    src = tmp_path / "phone.jpg"
    icc = srgb_icc()  # made once: the profile header carries a creation time
    stored.save(src, exif=exif.tobytes(), icc_profile=icc, dpi=(300, 300), quality=95)
    out = tmp_path / "blur.jpg"
    assert invoke("blur", src, out).exit_code == 0
    result = Image.open(out)
    assert result.info.get("icc_profile") == icc
    assert tuple(round(d) for d in result.info["dpi"]) == (300, 300)
    exif_out = result.getexif()
    assert exif_out.get(0x010F) == "TestCam"
    assert exif_out.get(0x0112, 1) == 1  # pixels are upright now: orientation reset
    upright = np.asarray(result).astype(np.float32)
    assert upright.shape == (512, 512, 3)
    assert np.abs(upright[FACE] - astronaut_rgb[FACE]).mean() < 12  # the face is where it belongs


def test_cmyk_grey_and_16_bit_inputs(tmp_path, astronaut_rgb, camera_grey):
    import cv2

    Image.fromarray(astronaut_rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(camera_grey).save(tmp_path / "grey.png")
    sixteen = (astronaut_rgb.astype(np.uint16) * 257)[:, :, ::-1]
    cv2.imwrite(str(tmp_path / "deep.png"), sixteen)
    Image.fromarray(astronaut_rgb).convert("P").save(tmp_path / "palette.png")
    out = tmp_path / "out"
    result = invoke("blur", tmp_path / "cmyk.jpg", tmp_path / "grey.png", tmp_path / "deep.png",
                    tmp_path / "palette.png", out)
    assert result.exit_code == 0, result.output
    assert Image.open(out / "cmyk.jpg").mode == "RGB"
    assert Image.open(out / "grey.png").mode == "L"  # a grey photo stays grey
    deep = cv2.imread(str(out / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == (512, 512, 3)  # bit depth preserved
    assert len(np.unique(deep[FACE])) > 256  # really 16-bit values, not 8-bit scaled
    assert read(out / "palette.png").shape == (512, 512, 3)


def test_existing_outputs_skipped_unless_overwrite(astronaut_png, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    proc = run_portraitcli("segment", astronaut_png, out)
    assert proc.returncode == 0 and out.read_bytes() == b"keep me"
    assert b"1 skipped" in proc.stderr
    assert run_portraitcli("segment", "--overwrite", astronaut_png, out).returncode == 0
    assert Image.open(out).size == (512, 512)


def test_bad_file_reported_rest_done_and_report(tmp_path, astronaut_rgb):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(astronaut_rgb).resize((96, 96)).save(src / "good.jpg")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    report = tmp_path / "report.json"
    proc = run_portraitcli("segment", src, tmp_path / "out", "--report", report)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.decode().splitlines() if "broken.jpg" in ln]
    assert len(lines) == 1 and lines[0].startswith("portraitcli: ")
    assert (tmp_path / "out" / "good.png").exists() and not (tmp_path / "out" / "broken.png").exists()
    data = json.loads(report.read_text())
    assert data["summary"] == {"done": 1, "skipped": 0, "failed": 1}
    assert {f["status"] for f in data["files"]} == {"done", "failed"}
    assert all(f["seconds"] >= 0 for f in data["files"])


def test_named_device_missing_fails_clearly(astronaut_png, tmp_path):
    proc = run_portraitcli("segment", "--device", "coreml", astronaut_png, tmp_path / "x.png")
    assert proc.returncode == 1
    assert b"CoreMLExecutionProvider" in proc.stderr and b"Traceback" not in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_provider_is_logged(astronaut_png, tmp_path):
    proc = run_portraitcli("segment", "-v", astronaut_png, tmp_path / "x.png")
    assert b"onnxruntime provider: CPUExecutionProvider" in proc.stderr


def test_python_api_on_numpy_and_pil(astronaut_rgb):
    from portraitcli import Segmenter, effects

    seg = Segmenter()
    alpha = seg.matte(Image.fromarray(astronaut_rgb))
    assert alpha.shape == (512, 512) and alpha.dtype == np.float32
    assert alpha[FACE].mean() > 0.9
    out = effects.replace_background(astronaut_rgb, alpha, np.zeros_like(astronaut_rgb))
    assert out[BACKDROP].mean() < 25


def test_help_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys; from portraitcli.cli import cli; "
            "heavy = [m for m in ('numpy', 'cv2', 'onnxruntime', 'PIL') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("refine", [True, False])
def test_refinement_follows_photo_edges(refine):
    """A sharp vertical edge in the photo with a blurry low-resolution prediction: the refined
    matte's transition is much narrower than plain upsampling's."""
    from portraitcli.matting.refine import full_resolution

    rgb = np.zeros((1024, 1024, 3), np.uint8)
    rgb[:, 512:] = 220
    prob = np.zeros((256, 256), np.float32)
    prob[:, 128:] = 1
    import cv2

    prob = cv2.GaussianBlur(prob, (0, 0), 1.5)
    alpha = full_resolution(prob, rgb, refine)
    row = alpha[500]
    width = int(((row > 0.1) & (row < 0.9)).sum())
    if refine:
        assert width <= 8
        assert abs(int(np.argmax(row > 0.5)) - 512) <= 2  # on the photo's edge
    else:
        assert width >= 12


def test_refinement_follows_colour_edges_of_equal_brightness():
    """A person in red against a blue wall of the same luminance: the refined matte still snaps
    to the colour edge, for an RGB photo and for an I420 video frame alike (a luminance-only
    guide sees a flat frame here and leaves the model's blur as it is)."""
    import cv2

    from portraitcli.media.frames import I420
    from portraitcli.matting.refine import PHOTO_FIT, VIDEO_FIT, full_resolution

    rgb = np.empty((720, 1280, 3), np.uint8)
    rgb[:, :640] = (100, 131, 200)  # luma 129.6
    rgb[:, 640:] = (200, 100, 100)  # luma 129.9
    assert np.ptp(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)) <= 1
    prob = np.zeros((256, 256), np.float32)
    prob[:, 128:] = 1
    prob = cv2.GaussianBlur(prob, (0, 0), 3)
    frame = I420(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), 1280, 720)
    plain = full_resolution(prob, rgb, False)[360]
    assert plain[642] - plain[637] < 0.2 and ((plain > 0.1) & (plain < 0.9)).sum() >= 30
    for guide, fit in ((rgb, PHOTO_FIT), (frame, PHOTO_FIT), (frame, VIDEO_FIT)):  # video fits coarser
        row = full_resolution(prob, guide, fit=fit)[360]
        assert row[642] - row[637] > 0.6  # most of the step within 5 pixels of the colour edge
        assert ((row > 0.1) & (row < 0.9)).sum() <= 20
        assert abs(int(np.argmax(row > 0.5)) - 640) <= 2


def test_photo_refinement_snaps_to_faint_edges():
    """An edge of only 8 grey levels (a dark coat against a shadowed wall) under the model's
    blurry step: the photo fit still moves most of the step onto it (eps 1e-4; at
    eps 1e-3 only a third of it came within 4 pixels, over a 44-pixel ramp)."""
    import cv2

    from portraitcli.matting.refine import full_resolution

    rgb = np.full((960, 1280, 3), 120, np.uint8)
    rgb[:, 640:] = 128
    prob = np.zeros((256, 256), np.float32)
    prob[:, 128:] = 1
    row = full_resolution(cv2.GaussianBlur(prob, (0, 0), 3), rgb)[480]
    assert row[643] - row[636] > 0.6
    assert ((row > 0.1) & (row < 0.9)).sum() <= 24
    assert abs(int(np.argmax(row > 0.5)) - 640) <= 2


def test_clear_background_is_exactly_transparent(astronaut_rgb):
    """Alpha within one 8-bit level of 0 is snapped to 0: a cutout's plain background is
    exactly transparent, not a haze of 1/255 values, and the person's threshold is unchanged."""
    from portraitcli.matting.segmenter import Segmenter

    canvas = np.full((512, 1024, 3), (90, 120, 150), np.uint8)
    canvas[:, :512] = astronaut_rgb
    alpha = Segmenter().matte(canvas)
    plain = alpha[:, 700:]
    assert (plain == 0).mean() > 0.9
    assert (alpha[250:500, 150:350] > 0.5).mean() > 0.9  # the person is still there


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_composite_matches_the_formula_and_copies_clear_background_exactly(astronaut_rgb, dtype):
    """The compositor blends only band spans where alpha > 0: the result must still be
    alpha * front + (1 - alpha) * back everywhere (8-bit: bit-exact), background where alpha is 0, and
    the caller's background untouched unless it offered it as scratch."""
    import cv2

    from portraitcli import effects

    front = astronaut_rgb if dtype == np.uint8 else astronaut_rgb.astype(np.float32) / 255
    back = np.ascontiguousarray(front[::-1, ::-1])
    h, w = front.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    alpha[100:300, 150:350] = np.linspace(0, 1, 200, dtype=np.float32)[None, :]  # a ramp
    alpha[350:420, 20:60] = 1.0  # a second, separate patch further down
    alpha[300, 500] = 0.5  # a lone pixel at the far right of a band
    expected = cv2.blendLinear(front, back, alpha, 1 - alpha)
    same = np.array_equal if dtype == np.uint8 else lambda a, b: np.allclose(a, b, atol=1e-4)
    kept = back.copy()
    out = effects.composite(front, back, alpha)
    assert np.array_equal(back, kept)
    assert same(out, expected)
    assert same(out[alpha == 0], back[alpha == 0])
    scratch = back.copy()
    assert effects.composite(front, scratch, alpha, reuse_back=True) is scratch
    assert same(scratch, expected)


def test_shrink_is_an_area_average_at_any_size():
    from portraitcli.media.frames import shrink

    rng = np.random.default_rng(3)
    for h, w, at_least in ((3000, 4000, 11), (721, 1283, 2.8), (257, 300, 1)):
        plane = rng.integers(0, 256, (h, w), dtype=np.uint8)
        small = shrink(plane, 256, 256)
        assert small.shape == (256, 256)
        assert abs(float(small.mean()) - float(plane.mean())) < 1.0
        # an average over every pixel, not a sample: noise falls with the side's factor
        assert small.std() < 1.1 * plane.std() / at_least
    flat = np.full((1001, 999, 3), 77, np.uint8)
    assert np.all(shrink(flat, 100, 80) == 77)


def test_blur_halves_a_large_photo_once_and_matches_the_api(astronaut_rgb, tmp_path, monkeypatch):
    """The model input, the refinement guide and the background blur all start by halving the
    photo: the CLI does that full-size halving once, and the result is what the separate API
    calls give."""
    import cv2

    from portraitcli import effects
    from portraitcli.media import frames
    from portraitcli.matting.segmenter import Segmenter

    big = cv2.resize(astronaut_rgb, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    src, out = tmp_path / "big.png", tmp_path / "blurred.png"
    Image.fromarray(big).save(src)
    full_size_halvings = []
    real_halve = frames.halve

    def counting_halve(plane):
        if plane.shape == big.shape:  # the photo, not its 2-D matte
            full_size_halvings.append(plane.shape)
        return real_halve(plane)

    monkeypatch.setattr(frames, "halve", counting_halve)
    result = invoke("blur", "--jobs", "1", src, out)
    assert result.exit_code == 0, result.output
    assert len(full_size_halvings) == 1
    expected = effects.blur_background(big, Segmenter().matte(big))
    assert np.abs(read(out).astype(int) - expected).max() <= 1
