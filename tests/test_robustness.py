"""Issue 5, "Nothing lost, nothing corrupt": hostile and broken inputs in a batch.

Every bad input must give exactly one `portraitcli: FILE: reason` line on stderr (no
traceback), the rest of the batch must still be processed, the exit code must say what
happened (0 ok, 1 some failed, 2 usage), no partial or hidden temporary file may be left in
DEST, inputs must stay byte-identical, and outputs must never land outside DEST.

All media is generated here and tiny (96 px photos, one 160x120 one-second clip) so the whole
file runs in well under a minute on two cores.

The property test at the end throws random bytes and small odd images at the photo reader and
the photo processing path. It runs 25 examples by default; for a longer fuzz run set
PORTRAITCLI_FUZZ_EXAMPLES, e.g.

    PORTRAITCLI_FUZZ_EXAMPLES=2000 pytest tests/test_robustness.py -k fuzz
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import warnings
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st
from PIL import Image

from portraitcli.cli import cli
from portraitcli.errors import InputError
from portraitcli.media.atomic import TEMP_MARK
from portraitcli.media.video import ffmpeg_exe
from tests.conftest import make_person_clip, run_portraitcli

SIDE = 96  # photo size: big enough for the model, small enough to cost nothing


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def small_rgb(astronaut_rgb) -> np.ndarray:
    return np.asarray(Image.fromarray(astronaut_rgb).resize((SIDE, SIDE)))


def encode(rgb: np.ndarray, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **options)
    return buf.getvalue()


def make_audio_only(path: Path) -> Path:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1",
                    "-c:a", "aac", str(path)], check=True, capture_output=True)
    return path


def png_with_size(width: int, height: int) -> bytes:
    """A 1-bit PNG whose IHDR declares width x height but holds a single row of data:
    nothing big is ever encoded, only what the header claims."""
    png = encode(np.zeros((1, 8), bool), "PNG")
    ihdr = struct.pack(">II", width, height) + png[24:29]
    chunk = b"IHDR" + ihdr
    return png[:12] + chunk + struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF) + png[33:]


def snapshot(root: Path) -> dict[bytes, bytes]:
    """Every entry under root (bytes names, symlinks not followed) -> content hash or link target."""
    out = {}
    base = os.fsencode(root)
    for folder, dirs, files in os.walk(base):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, base)
            if os.path.islink(path):
                out[rel] = b"-> " + os.readlink(path)
            elif os.path.isfile(path):
                try:
                    with open(path, "rb") as f:
                        out[rel] = hashlib.sha256(f.read()).digest()
                except PermissionError:  # chmod 000 as a normal user: its mode is checked instead
                    out[rel] = b"mode %o" % os.stat(path).st_mode
    return out


def leftovers(*roots: Path) -> list[bytes]:
    """Hidden temporaries (or anything else with the temp mark) anywhere below roots."""
    mark = TEMP_MARK.encode()
    found = []
    for root in roots:
        for folder, dirs, files in os.walk(os.fsencode(root)):
            found += [os.path.join(folder, n) for n in dirs + files if mark in n]
    return found


def err_lines(proc_or_result) -> list[str]:
    raw = proc_or_result.stderr
    text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
    return [ln for ln in text.splitlines() if ln.strip()]


def shown(name: str) -> str:
    """A name as it appears on stderr: control characters escaped by portraitcli, undecodable
    bytes (surrogates) escaped by Python's stderr."""
    name = "".join(f"\\x{ord(c):02x}" if ord(c) < 32 or ord(c) == 127 else c for c in name)
    return name.encode("utf-8", "backslashreplace").decode()


def lines_naming(lines: list[str], name: str) -> list[str]:
    return [ln for ln in lines if shown(name) in ln]


def invoke(*args):
    """In-process run; exceptions propagate (a crash must not pass for exit code 1)."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_clean(lines: list[str]):
    assert not any("Traceback" in ln or "internal error" in ln for ln in lines), "\n".join(lines)


# --------------------------------------------------------------------------- the hostile batch


GOOD = {  # name in SRC -> name expected in DEST (blur keeps the photo format)
    "good.jpg": "good.jpg",
    "sub/good2.png": "sub/good2.png",
    "png_as.jpg": "png_as.jpg",  # a real PNG with a .jpg name: a fine photo
    "-dash  two  spaces .png": "-dash  two  spaces .png",
    "caf\udce9 \udcff.jpg": "caf\udce9 \udcff.jpg",  # not UTF-8 on disk (Latin-1 e-acute, 0xff)
    "clip.mp4": "clip.mp4",
}
ODD_SIZES = {"one.png": (1, 1), "tall.png": (3, 3000)}  # process or fail cleanly
BAD = {  # name in SRC -> words expected in its one stderr line
    "zero.jpg": "empty file",
    "trunc.jpg": "truncated",
    "trunc.png": "truncated",
    "text.jpg": "not an image",
    "bomb.png": "pixel limit",
    "huge_header.png": "pixel limit",
    "anim.gif": "animated",
    "random.mp4": "not a readable video",
    "trunc.mp4": "not a readable video",
    "audio.mp4": "no video stream",
    "loop.jpg": "cannot read",  # a symlink to itself
    "dangling.jpg": "cannot read",
    "bad \udcff\udcfe.jpg": "not an image",  # non-UTF-8 name on a broken file: still one line
    "new\nline.jpg": "not an image",  # a newline in a name must not split the error line
}


def build_hostile_folder(src: Path, rgb: np.ndarray, clip: Path) -> None:
    jpg, png = encode(rgb, "JPEG"), encode(rgb, "PNG")
    (src / "sub").mkdir(parents=True)

    def put(name: str, data: bytes):
        with open(os.fsencode(src / name), "wb") as f:
            f.write(data)

    put("good.jpg", jpg)
    put("sub/good2.png", png)
    put("png_as.jpg", png)
    put("-dash  two  spaces .png", png)
    put("caf\udce9 \udcff.jpg", jpg)
    shutil.copy(clip, src / "clip.mp4")
    put("one.png", encode(rgb[:1, :1], "PNG"))
    put("tall.png", encode(np.ascontiguousarray(np.resize(rgb, (3000, 3, 3))), "PNG"))

    put("zero.jpg", b"")
    put("trunc.jpg", jpg[: len(jpg) // 2])
    put("trunc.png", png[: len(png) // 2])
    put("text.jpg", b"this is a shopping list, not a photo\n")
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, "PNG")  # a real 400-megapixel image in ~50 kB
    put("bomb.png", buf.getvalue())
    put("huge_header.png", png_with_size(30000, 30000))
    frames = [Image.fromarray(rgb[:32, :32]).rotate(a) for a in (0, 45, 90)]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    put("random.mp4", np.random.default_rng(5).bytes(4096))
    data = clip.read_bytes()
    put("trunc.mp4", data[: len(data) // 2])  # the moov atom is at the end: gone
    make_audio_only(src / "audio.mp4")
    os.symlink("loop.jpg", src / "loop.jpg")
    os.symlink("nowhere/missing.jpg", src / "dangling.jpg")
    os.symlink(".", src / "loopdir")  # a folder loop: must not be followed
    os.symlink("..", src / "sub" / "up")
    put("bad \udcff\udcfe.jpg", b"\x00garbage")
    put("new\nline.jpg", b"garbage")
    put("notes.txt", b"not media: ignored")


@pytest.fixture(scope="module")
def clip(tmp_path_factory, small_rgb) -> Path:
    """A small clip, its index (moov) at the end as ffmpeg writes mp4 by default."""
    return make_person_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", small_rgb, fps=10, size=(160, 120),
                            audio=False)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, small_rgb, clip):
    """The hostile folder, processed once (2 worker processes) for the tests below."""
    root = tmp_path_factory.mktemp("hostile")
    src, dest, report = root / "src", root / "dest", root / "report.json"
    build_hostile_folder(src, small_rgb, clip)
    before = snapshot(src)
    proc = run_portraitcli("blur", "--jobs", "2", "--report", report, src, dest)
    lines = err_lines(proc)
    return SimpleNamespace(root=root, src=src, dest=dest, proc=proc, lines=lines, before=before,
                           report=json.loads(report.read_text()))


def test_batch_exit_code_and_no_traceback(hostile):
    assert hostile.proc.returncode == 1, hostile.lines
    assert_clean(hostile.lines)
    c = hostile.report["summary"]
    assert hostile.lines[-1] == f"{c['done']} done, 0 skipped, {c['failed']} failed"
    assert len(GOOD) <= c["done"] <= len(GOOD) + len(ODD_SIZES)
    # every other line is portraitcli's own (failures, notes): no Python warnings, no ffmpeg chatter
    assert all(ln.startswith("portraitcli: ") for ln in hostile.lines[:-1]), hostile.lines


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_gives_one_clear_line(hostile, name):
    mine = lines_naming(hostile.lines, name)  # a newline in a name is escaped: one line stays one line
    assert len(mine) == 1, hostile.lines
    line = mine[0]
    assert line.startswith("portraitcli: ") and BAD[name] in line, line
    entry = [f for f in hostile.report["files"] if f["input"] == str(hostile.src / name)]
    assert len(entry) == 1 and entry[0]["status"] == "failed" and BAD[name] in entry[0]["reason"]
    assert entry[0]["output"] is None or not os.path.lexists(os.fsencode(entry[0]["output"]))


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_inputs_still_processed(hostile, name):
    out = os.fsencode(hostile.dest / GOOD[name])
    assert os.path.isfile(out), sorted(os.listdir(os.fsencode(hostile.dest)))
    entry = next(f for f in hostile.report["files"] if f["input"] == str(hostile.src / name))
    assert entry["status"] == "done" and entry["output"] == str(hostile.dest / GOOD[name])
    src = os.fsencode(hostile.src / name)
    if name.endswith(".mp4"):
        probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", out, "-f", "null", "-"], capture_output=True)
        assert probe.returncode == 0 and b"160x120" in probe.stderr
        return
    with Image.open(out) as result, Image.open(src) as original:
        assert result.size == original.size
        result.load()  # the whole file decodes: nothing half-written


@pytest.mark.parametrize("name", sorted(ODD_SIZES))
def test_tiny_and_thin_images_process_or_fail_cleanly(hostile, name):
    entry = next(f for f in hostile.report["files"] if f["input"] == str(hostile.src / name))
    out = hostile.dest / name
    if entry["status"] == "done":
        with Image.open(out) as result:
            assert result.size == ODD_SIZES[name]
    else:
        assert entry["status"] == "failed" and not out.exists()
        assert len(lines_naming(hostile.lines, name)) == 1


def test_inputs_byte_identical_and_no_temporaries(hostile):
    assert snapshot(hostile.src) == hostile.before
    assert leftovers(hostile.root) == []


def test_symlinked_folders_not_followed(hostile):
    # loopdir -> . and sub/up -> .. would mirror the tree forever if they were walked
    assert not (hostile.dest / "loopdir").exists() and not (hostile.dest / "sub" / "up").exists()
    assert not any("loopdir" in f["input"] or "/up/" in f["input"] for f in hostile.report["files"])


def test_report_lists_every_input_once(hostile):
    report = hostile.report
    names = [os.path.relpath(f["input"], hostile.src) for f in report["files"]]
    assert sorted(names) == sorted([*GOOD, *ODD_SIZES, *BAD])  # notes.txt is not media: not an input
    assert report["interrupted"] is False
    counts = {s: sum(f["status"] == s for f in report["files"]) for s in ("done", "skipped", "failed")}
    assert report["summary"] == counts and counts["skipped"] == 0
    assert counts["failed"] >= len(BAD)
    for f in report["files"]:
        assert set(f) >= {"input", "output", "status", "reason", "seconds"}
        assert (f["reason"] != "") == (f["status"] != "done")
        assert os.path.lexists(os.fsencode(f["input"]))  # even non-UTF-8 names survive the JSON
        if f["output"]:
            real = os.path.realpath(f["output"])
            assert os.path.commonpath([real, os.path.realpath(hostile.dest)]) == os.path.realpath(hostile.dest)


def test_rerun_skips_existing_outputs(hostile):
    """A second run over the same folder redoes nothing; the bad files still fail."""
    before = snapshot(hostile.dest)
    proc = run_portraitcli("blur", "--jobs", "1", hostile.src, hostile.dest)
    lines = err_lines(proc)
    assert proc.returncode == 1
    assert_clean(lines)
    done = sum(f["status"] == "done" for f in hostile.report["files"])
    assert lines[-1] == f"0 done, {done} skipped, {len(hostile.report['files']) - done} failed"
    assert snapshot(hostile.dest) == before
    assert leftovers(hostile.root) == []


# --------------------------------------------------------------------------- DEST mistakes


@pytest.fixture()
def two_photos(tmp_path, small_rgb) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(encode(small_rgb, "JPEG"))
    (src / "b.png").write_bytes(encode(small_rgb, "PNG"))
    return src


def test_dest_equal_to_src_folder_is_refused(two_photos):
    before = snapshot(two_photos)
    os.symlink(two_photos, two_photos.parent / "link")
    for dest in (two_photos, f"{two_photos}/", f"{two_photos}/./.", two_photos.parent / "link"):
        result = invoke("blur", "--jobs", "1", "--overwrite", two_photos, dest)
        assert result.exit_code == 2, result.output
        assert "source folder" in result.stderr
        assert snapshot(two_photos) == before


def test_dest_equal_to_src_file_is_refused(two_photos):
    before = snapshot(two_photos)
    photo = two_photos / "a.jpg"
    proc = run_portraitcli("blur", "--overwrite", photo, photo)
    lines = err_lines(proc)
    assert proc.returncode == 2  # a usage error, as the README's exit-code table says
    named = lines_naming(lines, "a.jpg")
    assert len(named) == 1 and "input itself" in named[0]
    assert_clean(lines)
    assert snapshot(two_photos) == before


def test_outputs_never_replace_other_inputs(two_photos, small_rgb):
    """`segment a.jpg b.png .` with an a.png beside them: a.jpg's matte must not eat a.png."""
    (two_photos / "a.png").write_bytes(encode(small_rgb, "PNG"))
    before = snapshot(two_photos)
    inputs = [two_photos / n for n in ("a.jpg", "a.png")]
    result = invoke("segment", "--jobs", "1", "--overwrite", *inputs, two_photos)
    assert result.exit_code == 1  # a.png -> a.png is the input itself
    assert lines_naming(err_lines(result), "a.png")[0].count("input itself") == 1
    after = snapshot(two_photos)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {b"a_jpg.png"}


def test_dest_inside_src_is_not_walked_on_rerun(two_photos):
    dest = two_photos / "out"
    first = invoke("blur", "--jobs", "1", two_photos, dest)
    assert first.exit_code == 0, first.stderr
    second = invoke("blur", "--jobs", "1", two_photos, dest)
    assert second.exit_code == 0, second.stderr
    assert "0 done, 2 skipped, 0 failed" in second.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["a.jpg", "b.png"]  # no out/out


def test_same_names_from_a_glob_all_kept(tmp_path, small_rgb):
    for sub in "abc":
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "x.jpg").write_bytes(encode(np.roll(small_rgb, ord(sub), axis=1), "JPEG"))
    result = invoke("blur", "--jobs", "1", f"{tmp_path}/*/x.jpg", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    outs = sorted((tmp_path / "out").iterdir())
    assert len(outs) == 3 and len({p.read_bytes() for p in outs}) == 3, outs


def test_outputs_never_escape_dest(tmp_path, small_rgb):
    """A DEST subfolder that is a symlink to elsewhere must not receive outputs."""
    src, dest, outside = tmp_path / "src", tmp_path / "dest", tmp_path / "outside"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.jpg").write_bytes(encode(small_rgb, "JPEG"))
    (src / "b.jpg").write_bytes(encode(small_rgb, "JPEG"))
    dest.mkdir()
    outside.mkdir()
    os.symlink(outside, dest / "sub")
    proc = run_portraitcli("blur", "--jobs", "1", src, dest)
    lines = err_lines(proc)
    assert proc.returncode == 1
    mine = lines_naming(lines, "a.jpg")
    assert len(mine) == 1 and "out of the destination" in mine[0], lines
    assert list(outside.iterdir()) == []
    assert (dest / "b.jpg").is_file()
    assert_clean(lines)


# --------------------------------------------------------------------------- model and limits


@pytest.mark.parametrize("model", ["junk.onnx", "photo.jpg", "missing.onnx"])
def test_model_that_is_not_onnx_is_one_line(tmp_path, small_rgb, model):
    (tmp_path / "junk.onnx").write_bytes(b"definitely not protobuf\n")
    (tmp_path / "photo.jpg").write_bytes(encode(small_rgb, "JPEG"))
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(encode(small_rgb, "JPEG"))
    proc = run_portraitcli("blur", "--model", tmp_path / model, src, tmp_path / "out")
    lines = err_lines(proc)
    assert proc.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("portraitcli: ") and model in lines[0], lines
    assert "model" in lines[0]
    assert not (tmp_path / "out").exists()  # it failed before anything was written


def test_max_pixels_is_enforced_and_can_be_raised(tmp_path, small_rgb):
    from portraitcli.media.photo import read_photo

    photo = tmp_path / "a.png"
    photo.write_bytes(encode(small_rgb, "PNG"))
    proc = run_portraitcli("blur", "--max-pixels", "1000", photo, tmp_path / "b.png")
    lines = err_lines(proc)
    mine = lines_naming(lines, "a.png")
    assert proc.returncode == 1 and len(mine) == 1 and "pixel limit" in mine[0] and "--max-pixels" in mine[0]
    assert not (tmp_path / "b.png").exists()
    # 90 megapixels declared: over the default limit, under a raised one. Raised, Pillow's own
    # guard must not refuse it any more: the (one-row) data is then found truncated instead.
    claimed = png_with_size(10_000, 9_000)
    with pytest.raises(InputError, match="pixel limit"):
        read_photo(claimed, "claimed.png")
    with pytest.raises(InputError, match="truncated") as exc:
        read_photo(claimed, "claimed.png", max_pixels=100_000_000)
    assert "pixel limit" not in str(exc.value)


# --------------------------------------------------------------------------- permissions
# Tests run as root in some places, and root ignores file modes. A read-only DEST is then made
# immutable (chattr +i: refused even to root, by the kernel); an unreadable input, which root
# cannot have, is simulated in-process where the file is read.


@pytest.fixture()
def readonly_dir(tmp_path):
    path = tmp_path / "ro"
    path.mkdir()
    (path / "sub").mkdir()
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", path], capture_output=True).returncode:
            pytest.skip("running as root and chattr +i is not available: cannot make a read-only folder")
        try:
            yield path
        finally:
            subprocess.run(["chattr", "-i", path], capture_output=True)
    else:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)


def test_readonly_dest_fails_cleanly(readonly_dir, tmp_path, small_rgb, clip):
    src = tmp_path / "src"
    (src / "nested").mkdir(parents=True)
    (src / "a.jpg").write_bytes(encode(small_rgb, "JPEG"))
    (src / "b.png").write_bytes(encode(small_rgb, "PNG"))
    (src / "nested" / "d.jpg").write_bytes(encode(small_rgb, "JPEG"))
    shutil.copy(clip, src / "c.mp4")
    before = snapshot(src)
    proc = run_portraitcli("blur", "--jobs", "1", src, readonly_dir)
    lines = err_lines(proc)
    assert proc.returncode == 1, lines
    for name in ("a.jpg", "b.png", "d.jpg", "c.mp4"):
        mine = lines_naming(lines, f"{name}:")
        assert len(mine) == 1 and ("ermission denied" in mine[0] or "not permitted" in mine[0]), lines
    # photos name the output the user asked for, not the hidden temporary
    assert not any(TEMP_MARK in ln for ln in lines if "c.mp4" not in ln), lines
    assert lines[-1] == "0 done, 0 skipped, 4 failed"
    assert_clean(lines)
    assert sorted(os.listdir(readonly_dir)) == ["sub"] and os.listdir(readonly_dir / "sub") == []
    assert snapshot(src) == before


def test_unreadable_file_fails_alone(tmp_path, small_rgb, monkeypatch):
    src, dest = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "open.jpg").write_bytes(encode(small_rgb, "JPEG"))
    secret = src / "secret.jpg"
    secret.write_bytes(encode(small_rgb, "JPEG"))
    if os.geteuid() == 0:  # root reads anything: refuse this one file where photos are read
        import errno

        real_read_bytes = Path.read_bytes

        def read_bytes(self):
            if self.name == "secret.jpg":
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
            return real_read_bytes(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
        result = invoke("blur", "--jobs", "1", src, dest)
        code, lines = result.exit_code, err_lines(result)
    else:
        secret.chmod(0)
        proc = run_portraitcli("blur", "--jobs", "1", src, dest)
        secret.chmod(0o644)
        code, lines = proc.returncode, err_lines(proc)
    assert code == 1, lines
    mine = lines_naming(lines, "secret.jpg")
    assert len(mine) == 1 and "permission denied" in mine[0].lower()
    assert lines[-1] == "1 done, 0 skipped, 1 failed"
    assert (dest / "open.jpg").is_file() and not (dest / "secret.jpg").exists()
    assert_clean(lines)
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- property test


FUZZ_EXAMPLES = int(os.environ.get("PORTRAITCLI_FUZZ_EXAMPLES", "25"))
FUZZ_MAX_PIXELS = 1_000_000  # random headers may claim anything: keep every decode small

MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM",
         b"RIFF\x00\x01\x00\x00WEBPVP8 "]
MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "PA"]
FORMATS = ["PNG", "JPEG", "TIFF", "WEBP", "BMP", "GIF"]


@st.composite
def odd_images(draw) -> bytes:
    """A small real image in an unusual mode/format, maybe with an EXIF orientation, maybe cut short."""
    mode = draw(st.sampled_from(MODES))
    width, height = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    img = Image.frombytes(mode, (width, height), rng.bytes(width * height * 4)) if mode != "P" else \
        Image.fromarray(rng.integers(0, 256, (height, width), np.uint8), "L").convert("P")
    if mode == "P" and draw(st.booleans()):
        img.info["transparency"] = int(rng.integers(0, 256))
    fmt = draw(st.sampled_from(FORMATS))
    options = {}
    orientation = draw(st.integers(0, 8))
    if orientation and fmt in ("PNG", "JPEG", "TIFF", "WEBP"):
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    data = None
    for attempt in (img, img.convert("RGBA" if "A" in mode else "RGB")):
        buf = io.BytesIO()
        try:
            attempt.save(buf, format=fmt, **options)
            data = buf.getvalue()
            break
        except (OSError, ValueError, KeyError, TypeError):  # this format cannot hold this mode
            continue
    if data is None:
        reject()
    cut = draw(st.sampled_from([None, None, "truncate", "flip"]))
    if cut == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif cut == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    return data


random_files = st.one_of(
    odd_images(),
    st.builds(lambda magic, tail: magic + tail, st.sampled_from(MAGIC), st.binary(max_size=600)),
)


@pytest.fixture(scope="module")
def workers():
    from portraitcli.batch.worker import Worker
    from portraitcli.options import RenderOptions, Settings

    made = {c: Worker(Settings(render=RenderOptions(command=c), max_pixels=FUZZ_MAX_PIXELS), threads=1)
            for c in ("segment", "blur", "cutout")}
    pillow_limit = Image.MAX_IMAGE_PIXELS  # read_photo sets Pillow's global limit: later tests need theirs
    yield made
    Image.MAX_IMAGE_PIXELS = pillow_limit
    for w in made.values():
        w.renderer.close()


def _rotated_tiff() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 5  # transposed: the output's size differs from the TIFF's own layout tags
    buf = io.BytesIO()
    Image.fromarray(np.arange(6, dtype=np.uint8).reshape(2, 3)).save(buf, "TIFF", exif=exif.tobytes())
    return buf.getvalue()


def _sixteen_bit_png_without_iend() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).save(buf, "PNG")
    return buf.getvalue()[:-12]  # Pillow reads it; libpng would complain on stderr


def _tiff(entries: bytes, count: int, tail: bytes = b"\0\0\0\0") -> bytes:
    return b"II*\x00\x08\x00\x00\x00" + struct.pack("<H", count) + entries + tail


def _corrupt_jpeg() -> bytes:
    """A small JPEG cut in the middle of its scan, its end marker put back."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    return data[: len(data) // 2] + b"\xff\xd9"


def _webp_with_exif(exif: bytes) -> bytes:
    """A 6x6 WebP carrying exif as its EXIF chunk."""
    buf = io.BytesIO()
    Image.new("RGB", (6, 6), (200, 80, 40)).save(buf, "WEBP", exif=exif)
    return buf.getvalue()


_ENTRY = struct.Struct("<HHII")  # tag, type (3 short, 4 long, 2 ascii), count, value
_ONE_PIXEL = b"".join(_ENTRY.pack(*e) for e in [(256, 4, 1, 1), (257, 4, 1, 1), (258, 3, 1, 8), (259, 3, 1, 1),
                                                 (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (279, 4, 1, 1)])


# Regressions the fuzzer found, kept as fixed examples
@example(data=b"II*\x00\x00\x00\x00\x01", command="segment", ext=".png")  # Pillow warned on stderr
@example(data=_rotated_tiff(), command="blur", ext=".tif")  # layout tags copied into the output TIFF
@example(data=_sixteen_bit_png_without_iend(), command="segment", ext=".png")  # libpng on stderr
@example(data=_tiff(_ONE_PIXEL, 8, struct.pack("<I", 130) + b"\0" * 40 + b"\1\0\0\0\0\0"),  # page 2: TypeError
         command="segment", ext=".png")
@example(data=_tiff(_ONE_PIXEL + _ENTRY.pack(274, 2, 2, 1), 9), command="blur", ext=".jpg")  # orientation "\x01"
@example(data=_webp_with_exif(b"LM\x00*\x00\x00\x00\x08"), command="segment", ext=".png")  # SyntaxError from getexif
@example(data=_corrupt_jpeg(), command="blur", ext=".jpg")  # libjpeg writes "Corrupt JPEG data" to stderr
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=random_files, command=st.sampled_from(["segment", "blur", "cutout"]),
       ext=st.sampled_from([".png", ".jpg", ".tif", ".webp", ".bmp"]))
def test_fuzz_photo_read_and_process(workers, tmp_path, capfd, data, command, ext):
    """Whatever the bytes: a result, or InputError with a one-line message, never anything else,
    and nothing else on stderr: no Python warning, no message from a C library."""
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dest = read_and_process(workers[command], tmp_path / f"out{ext}", data)
    assert [str(w.message) for w in caught] == []
    assert capfd.readouterr().err == ""
    if dest is not None:
        import cv2

        out = cv2.imread(str(dest), cv2.IMREAD_UNCHANGED)  # OpenCV: also reads 16-bit RGB TIFF
        assert out is not None and out.shape[:2] == dest.expected_shape
        assert leftovers(dest.parent) == []


class Written(type(Path())):
    expected_shape: tuple[int, int]


def read_and_process(worker, dest: Path, data: bytes) -> Written | None:
    """The photo path of a task: the written output (with the shape it must have), or None
    when the input was refused with InputError."""
    from portraitcli.batch.task import run_photo
    from portraitcli.batch.plan import Task
    from portraitcli.media.photo import read_photo

    try:
        photo = read_photo(data, "fuzz.bin", max_pixels=FUZZ_MAX_PIXELS)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("fuzz.bin: ")
        return None
    assert photo.pixels.ndim == 3 and photo.pixels.shape[2] in (3, 4)
    assert all("\n" not in note for note in photo.notes)
    dest.unlink(missing_ok=True)
    try:
        run_photo(Task("fuzz.bin", str(dest), "photo"), worker, data=data)
    except InputError as exc:
        assert "\n" not in str(exc)
        assert not dest.exists()
        return None
    written = Written(dest)
    written.expected_shape = photo.pixels.shape[:2]
    return written


# --------------------------------------------------------------------------- argument lists


ARG_SOURCES = ["a.jpg", "b.png", "clip.mp4", "notes.txt", "user", "user/c.jpg", "seq", "missing.jpg", "*.jpg"]
ARG_DESTS = ["a.jpg", "b.png", "out.jpg", "user", "user/", "seq", "seq/", "new/", "new", "new.jpg", "new.png",
             "new.mp4", "new.mov", "new.gif", "clip.mp4", "user/x.jpg", "notes.txt", "user/c.jpg"]
ARG_OPTIONS = [[], ["--overwrite"], ["--format", "png"], ["--format", "mov"], ["--format", "webp"], ["--dry-run"],
               ["--overwrite", "--format", "jpg"]]


@pytest.fixture(scope="module")
def user_tree(tmp_path_factory, small_rgb) -> Path:
    """A user's folder as the argument fuzz finds it: photos, a clip, notes, a folder of the
    user's, an image sequence of ours and an output from an earlier run."""
    from portraitcli.media.atomic import SEQUENCE_MARK

    root = tmp_path_factory.mktemp("user_tree") / "tree"
    (root / "user").mkdir(parents=True)
    (root / "seq").mkdir()
    (root / "a.jpg").write_bytes(encode(small_rgb, "JPEG"))
    (root / "b.png").write_bytes(encode(small_rgb, "PNG"))
    (root / "user" / "c.jpg").write_bytes(encode(small_rgb[::-1], "JPEG"))
    (root / "user" / "keep.txt").write_text("the user's own notes")
    (root / "notes.txt").write_text("not media")
    (root / "out.jpg").write_bytes(encode(small_rgb[:, ::-1], "JPEG"))
    make_person_clip(root / "clip.mp4", small_rgb, seconds=0.5, fps=10, size=(160, 120), audio=False)
    (root / "seq" / SEQUENCE_MARK).write_text("image sequence written by portraitcli\n")
    (root / "seq" / "frame_000000.png").write_bytes(encode(small_rgb, "PNG"))
    return root


def _inside(path: str, outputs: list[str]) -> bool:
    """path is a reported output, or a file inside a reported output folder (image sequence)."""
    for out in outputs:
        out = os.path.normpath(out)
        if path == out or path.startswith(out + os.sep):
            return True
    return False


@settings(max_examples=max(4, FUZZ_EXAMPLES // 4), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(command=st.sampled_from(["segment", "blur", "cutout"]),
       sources=st.lists(st.sampled_from(ARG_SOURCES), min_size=1, max_size=3, unique=True),
       dest=st.sampled_from(ARG_DESTS), options=st.sampled_from(ARG_OPTIONS))
def test_fuzz_argument_lists_touch_only_reported_outputs(user_tree, tmp_path, command, sources, dest, options):
    """Whatever the argument list: every file that was there is still there, byte for byte,
    unless it is an output the report names as written; nothing new appears anywhere else."""
    import uuid

    root = tmp_path / uuid.uuid4().hex[:8]
    shutil.copytree(user_tree, root, symlinks=True)
    before = snapshot(root)
    report = tmp_path / f"{root.name}.json"
    args = [command, "--jobs", "1", "-q", "--report", report, *options,
            *[str(root / s) for s in sources], str(root / dest) + ("/" if dest.endswith("/") else "")]
    result = invoke(*args)
    assert result.exit_code in (0, 1, 2), result.output
    outputs = []
    if report.exists():
        outputs = [os.path.relpath(f["output"], root) for f in json.loads(report.read_text())["files"]
                   if f["status"] == "done" and f["output"]]
    else:
        assert result.exit_code == 2, result.output  # only a usage error stops before the report
    after = snapshot(root)
    for rel, digest in before.items():
        name = os.fsdecode(rel)
        if not _inside(name, outputs):
            assert after.get(rel) == digest, f"{args}: {name} removed or changed (outputs: {outputs})"
    for rel in set(after) - set(before):
        name = os.fsdecode(rel)
        parent_is_new_folder = any(_inside(name, [o]) or o.startswith(name + os.sep) for o in outputs)
        assert parent_is_new_folder, f"{args}: {name} appeared, not a reported output (outputs: {outputs})"
    assert leftovers(root) == []
