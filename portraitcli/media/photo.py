"""Photo decode/encode that loses nothing the user did not ask to drop.

read_photo: EXIF orientation applied; EXIF (orientation reset to 1), ICC profile and DPI kept;
grey, palette, RGBA, CMYK and 16-bit inputs handled; Pillow's decompression-bomb limit on.
write_photo: format from the extension, metadata written back wherever the format holds it,
16-bit kept for PNG and TIFF, always atomically.
"""
from __future__ import annotations

import contextlib
import io
import os
import struct
import sys
import threading
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from portraitcli.errors import InputError
from portraitcli.media import RAW_EXTENSIONS
from portraitcli.media.atomic import atomic_output

# Pillow's own default (about 89 megapixels); --max-pixels raises it.
DEFAULT_MAX_PIXELS = 89_478_485

EXTENSION_FORMATS = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF",
    ".webp": "WEBP", ".bmp": "BMP", ".heic": "HEIF", ".heif": "HEIF", ".hif": "HEIF", ".avif": "AVIF",
}
FORMAT_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "WEBP": ".webp", "BMP": ".bmp", "HEIF": ".heic",
                     "AVIF": ".avif"}
ALPHA_FORMATS = {"PNG", "TIFF", "WEBP", "HEIF", "AVIF"}
METADATA_FORMATS = {"JPEG", "PNG", "TIFF", "WEBP", "HEIF", "AVIF"}  # formats that hold EXIF
# ISO base media brands of HEIF still images (HEVC-coded iPhone photos and the generic ones);
# AVIF's are read by Pillow itself
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
AVIF_BRANDS = {b"avif", b"avis"}
SIXTEEN_BIT_FORMATS = {"PNG", "TIFF"}
ORIENTATION_TAG = 0x0112
# A TIFF's EXIF is its own first IFD: these tags describe the source file's layout (size, strips,
# compression, samples) and, written back, would make the output TIFF unwritable or corrupt.
TIFF_LAYOUT_TAGS = {254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 320, 322, 323, 324,
                    325, 338, 339, 340, 341, 347, 530, 531, 532}


@dataclass
class Photo:
    pixels: np.ndarray  # HxWx3 RGB or HxWx4 RGBA, uint8 or uint16, upright
    format: str = "PNG"  # the input's format (Pillow name)
    exif: bytes | None = None  # orientation already reset to 1
    icc: bytes | None = None
    dpi: tuple[float, float] | None = None
    grey: bool = False  # the source had no colour: single-channel outputs where it makes sense
    notes: list[str] = field(default_factory=list)

    @property
    def rgb(self) -> np.ndarray:
        return self.pixels[:, :, :3] if self.pixels.shape[2] == 4 else self.pixels

    def without_pixels(self) -> "Photo":
        """The metadata alone (for the encoder), so the pixels can be freed before it runs."""
        import dataclasses

        return dataclasses.replace(self, pixels=np.zeros((1, 1, self.pixels.shape[2]), self.pixels.dtype))

    @property
    def alpha(self) -> np.ndarray | None:
        return self.pixels[:, :, 3] if self.pixels.shape[2] == 4 else None


def _brands(data: bytes) -> tuple[bytes, set[bytes]]:
    """An ISO base media file's major brand and its compatible brands (empty if not one)."""
    if data[4:8] != b"ftyp" or len(data) < 16:
        return b"", set()
    size = min(int.from_bytes(data[:4], "big"), len(data))
    return data[8:12], {data[i:i + 4] for i in range(16, size - 3, 4)}


def is_avif(data: bytes) -> bool:
    major, compatible = _brands(data)
    return major in AVIF_BRANDS or (major in (b"mif1", b"msf1") and bool(compatible & AVIF_BRANDS))


def is_heif(data: bytes) -> bool:
    """An HEVC-coded HEIF still (an iPhone's HEIC), which Pillow reads through pillow-heif."""
    major, _ = _brands(data)
    return major in HEIF_BRANDS and not is_avif(data)


def heif_support() -> bool:
    """pillow-heif (the `heif` extra) registered with Pillow; False when it is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def can_write(fmt: str) -> bool:
    """Whether the installed Pillow / pillow-heif can encode this format."""
    if fmt == "AVIF":
        from PIL import features

        return bool(features.check("avif"))
    if fmt == "HEIF":
        if not heif_support():
            return False
        import pillow_heif

        return bool(pillow_heif.libheif_info().get("HEIF"))
    return True


def missing_writer(fmt: str) -> str:
    """Why fmt cannot be written here, in one line."""
    if fmt == "HEIF":
        return "HEIC output needs pillow-heif with an HEVC encoder (pip install 'portraitcli[heif]')"
    return "AVIF output needs a Pillow built with AVIF (Pillow 11.2+ wheels have it)"


def format_for(path: Path, override: str | None = None) -> str:
    if override:
        key = override.lower() if override.startswith(".") else "." + override.lower()
        if key not in EXTENSION_FORMATS:
            raise ValueError(f"unknown image format {override!r}")
        return EXTENSION_FORMATS[key]
    fmt = EXTENSION_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown image extension {Path(path).suffix!r}")
    return fmt


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an array, as Pillow's exif_transpose does."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, -1)[::-1],
           8: lambda a: np.rot90(a, 1)}
    op = ops.get(orientation)
    return np.ascontiguousarray(op(pixels)) if op else pixels


def _stores_sixteen_bit(img, data: bytes) -> bool:
    """A 16-bit PNG or TIFF, which Pillow reads as 8-bit RGB(A): OpenCV decodes it again in full.
    Only then: a second decoder costs time, and libpng prints to stderr on PNGs cut short."""
    if img.format == "PNG":
        return len(data) > 24 and data[24] == 16 and b"IEND\xaeB`\x82" in data
    if img.format == "TIFF":
        bits = img.tag_v2.get(258, 8)  # BitsPerSample: one value, or one per sample
        return 16 in (bits if isinstance(bits, tuple) else (bits,))
    return False


def _sixteen_bit_pixels(data: bytes) -> np.ndarray | None:
    import cv2

    # a second decode of a file Pillow has read: libtiff's complaints about its oddities would
    # reach stderr as stray lines, and where OpenCV fails, the 8-bit pixels are still there
    previous = cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    finally:
        cv2.utils.logging.setLogLevel(previous)
    if arr is None or arr.dtype != np.uint16:
        return None
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    return cv2.cvtColor(arr[:, :, :3], cv2.COLOR_BGR2RGB)


def _plain_jpeg_pixels(img, data: bytes) -> np.ndarray | None:
    """RGB pixels of an ordinary complete colour JPEG, decoded by OpenCV straight into an
    array: Pillow decodes as fast, but its hand-over to numpy copies the whole photo once
    more (30 ms for 12 MP). Anything unusual (CMYK, grey, a missing end marker) returns None
    and goes the Pillow way, with its error messages."""
    import cv2

    if img.format != "JPEG" or img.mode != "RGB" or not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return None
    previous = cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        with _c_library_warnings() as warned:
            arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:
        return None
    finally:
        cv2.utils.logging.setLogLevel(previous)
    if arr is None or arr.shape[:2] != (img.size[1], img.size[0]) or warned:
        return None  # libjpeg found the data corrupt: Pillow decides, and says so on one line
    return arr


@contextlib.contextmanager
def _c_library_warnings():
    """Collect what a C library writes to stderr (libjpeg's "Corrupt JPEG data" ignores
    OpenCV's log level) instead of letting it reach the user; yields a list that holds True if
    anything was written. Only where this is the process's one thread: fd 2 is process-wide,
    and another thread's messages must not be swallowed."""
    warned: list[bool] = []
    if threading.active_count() > 1:
        yield warned
        return
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield warned
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if sink.tell() or os.fstat(sink.fileno()).st_size:
                warned.append(True)


def _to_srgb(img, icc: bytes | None):
    """CMYK (or any non-RGB profile) to RGB; returns (image, icc for the RGB pixels)."""
    from PIL import ImageCms

    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            out = ImageCms.profileToProfile(img, src, dst, outputMode="RGB")
            return out, ImageCms.ImageCmsProfile(dst).tobytes()
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    return img.convert("RGB"), None


@dataclass
class RawOptions:
    """How camera RAW files are developed."""

    space: str = "srgb"  # "srgb", or "adobe": Adobe RGB (1998) with its ICC profile
    preview: bool = False  # use the RAW's embedded JPEG preview instead of developing it


def read_photo(source: Path | bytes, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
               raw: RawOptions | None = None) -> Photo:
    """Decode a photo from a path or bytes. Raises InputError with a one-line reason.
    A path with a camera RAW extension is developed by LibRaw (raw: how)."""
    # Pillow warns about damaged metadata in images that decode fine, straight onto stderr with
    # its own file and line: such a warning becomes a one-line note of this photo instead
    with warnings.catch_warnings(record=True) as caught:
        if not isinstance(source, bytes) and Path(source).suffix.lower() in RAW_EXTENSIONS:
            from portraitcli.media.raw import read_raw

            photo = _raw_photo(read_raw(Path(source), name or str(source), max_pixels, raw or RawOptions()),
                               name or str(source), max_pixels)
        else:
            photo = _read_photo(source, name, max_pixels)
    for w in caught:
        note = " ".join(str(w.message).split()) + " (ignored)"
        if note not in photo.notes:
            photo.notes.append(note)
    return photo


def _raw_photo(raw, label: str, max_pixels: int) -> Photo:
    """A developed RAW (media.raw.RawImage) as a Photo; with a preview, its JPEG decoded and upright."""
    if raw.preview_jpeg is None:
        return Photo(raw.rgb, "RAW", raw.exif, raw.icc, None, False, raw.notes)
    from PIL import Image

    own = Image.open(io.BytesIO(raw.preview_jpeg)).getexif().get(ORIENTATION_TAG, 1)
    photo = read_photo(raw.preview_jpeg, label, max_pixels)
    if own == 1:
        # previews usually carry no orientation of their own: the RAW's applies
        photo.pixels = _orient(photo.pixels, raw.preview_orientation)
    height, width = photo.pixels.shape[:2]
    raw.notes.append(f"used the embedded {width}x{height} JPEG preview (--raw-preview)")
    photo.exif = raw.exif or photo.exif
    photo.format = "RAW"
    photo.notes = raw.notes + photo.notes
    return photo


def _read_photo(source: Path | bytes, name: str | None, max_pixels: int) -> Photo:
    from PIL import Image, ImageOps, UnidentifiedImageError

    label = name or str(source)
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except IsADirectoryError:
        raise InputError(f"{label}: is a folder") from None
    except PermissionError:
        raise InputError(f"{label}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise InputError(f"{label}: empty file")
    if is_heif(data) and not heif_support():
        raise InputError(f"{label}: HEIC/HEIF photos need pillow-heif (pip install 'portraitcli[heif]')")
    too_big = f"over the {max_pixels} pixel limit (possible decompression bomb; raise it with --max-pixels)"
    # Pillow checks its own limit inside open(), before we see the size: it must follow --max-pixels
    Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise InputError(f"{label}: {width}x{height} is {too_big}")
            frames = getattr(img, "n_frames", 1)
            if frames > 1 and img.format in ("GIF", "WEBP", "PNG"):
                raise InputError(f"{label}: animated image with {frames} frames is not supported "
                                 "(convert it to a video first)")
            fast = _plain_jpeg_pixels(img, data)
            if fast is None:
                img.load()
        except InputError:
            raise
        except UnidentifiedImageError:
            raise InputError(f"{label}: not an image portraitcli can read") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputError(f"{label}: image is {too_big}") from None
        except (OSError, SyntaxError, ValueError, TypeError, LookupError, struct.error, EOFError,
                MemoryError) as exc:  # what Pillow's decoders raise on damaged data (TIFF: Type/KeyError)
            raise InputError(f"{label}: corrupt or truncated image ({str(exc) or type(exc).__name__})") from None
    fmt = img.format or "PNG"
    info = img.info
    icc = info.get("icc_profile") or None
    dpi = info.get("dpi")
    try:
        exif = img.getexif()
    except (SyntaxError, ValueError, TypeError, LookupError, struct.error, EOFError) as exc:
        raise InputError(f"{label}: damaged EXIF block ({str(exc) or type(exc).__name__})") from None
    orientation = exif.get(ORIENTATION_TAG, 1)
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = 1  # a damaged tag (text, 0, 9...): shown as stored, as Pillow's exif_transpose does
    notes: list[str] = []

    sixteen = _sixteen_bit_pixels(data) if fast is None and _stores_sixteen_bit(img, data) else None
    if fast is not None:
        pixels, grey = _orient(fast, orientation), False
    elif sixteen is not None:
        pixels = _orient(sixteen, orientation)
        grey = img.mode.startswith("I") or img.mode == "L"
    else:
        img = ImageOps.exif_transpose(img) or img
        grey = img.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
        if img.mode == "CMYK":
            img, icc = _to_srgb(img, icc)
            notes.append("CMYK converted to sRGB")
        elif img.mode in ("P", "PA"):
            img = img.convert("RGBA" if ("transparency" in info or img.mode == "PA") else "RGB")
        elif img.mode in ("LA", "La", "RGBa"):
            img = img.convert("RGBA")
        elif img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            arr = np.asarray(img).astype(np.float32)
            top = 65535.0 if img.mode != "F" else max(1.0, float(arr.max()))
            arr = np.clip(arr / top * 65535 + 0.5, 0, 65535).astype(np.uint16)
            img = None
            pixels = np.repeat(arr[:, :, None], 3, axis=2)
        elif img.mode not in ("RGB", "RGBA"):
            img = img.convert("RGB")
        if img is not None:
            pixels = np.asarray(img)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    if exif.get(ORIENTATION_TAG, 1) != 1:
        exif[ORIENTATION_TAG] = 1
    for tag in TIFF_LAYOUT_TAGS & set(exif):
        del exif[tag]
    exif_bytes = exif.tobytes() if len(exif) else None
    return Photo(np.ascontiguousarray(pixels), fmt, exif_bytes, icc, dpi, grey, notes)


# --------------------------------------------------------------------------- writing


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png_with_metadata(png: bytes, meta: Photo) -> bytes:
    """Insert iCCP, pHYs and eXIf chunks after IHDR (for PNGs written by OpenCV)."""
    extra = b""
    if meta.icc:
        extra += _png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(meta.icc))
    if meta.dpi:
        ppm = [max(1, round(float(d) / 0.0254)) for d in meta.dpi[:2]]
        extra += _png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1))
    if meta.exif:
        body = meta.exif[6:] if meta.exif.startswith(b"Exif\x00\x00") else meta.exif
        extra += _png_chunk(b"eXIf", body)
    ihdr_end = 8 + 8 + 13 + 4
    return png[:ihdr_end] + extra + png[ihdr_end:]


def _icc_colour_space(icc: bytes) -> str:
    return icc[16:20].decode("ascii", "replace") if len(icc) >= 20 else ""


def encode_photo(pixels: np.ndarray, fmt: str, meta: Photo | None = None, quality: int = 95, out=None) -> bytes:
    """Encode RGB/RGBA/single-channel pixels (uint8 or uint16) with the source's metadata; into
    the binary file `out` as it is made where one is given (then b"" is returned)."""
    import cv2

    meta = meta or Photo(pixels)
    if meta.icc and _icc_colour_space(meta.icc) != ("GRAY" if pixels.ndim == 2 else "RGB "):
        # a profile must match the pixels' colour space (a matte is grey, a photo RGB)
        meta = Photo(meta.pixels, meta.format, meta.exif, None, meta.dpi, meta.grey, meta.notes)
    if pixels.ndim == 3 and pixels.shape[2] == 4 and fmt not in ALPHA_FORMATS:
        raise ValueError(f"{fmt} cannot hold alpha")
    if pixels.dtype == np.uint16 and fmt in SIXTEEN_BIT_FORMATS:
        if pixels.ndim == 2:
            bgr = pixels
        elif pixels.shape[2] == 4:
            bgr = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
        else:
            bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
        if fmt == "TIFF":
            return sixteen_bit_tiff(pixels, meta)
        ok, buf = cv2.imencode(".png", bgr)
        if not ok:
            raise OSError(f"could not encode 16-bit {fmt}")
        # OpenCV writes no ICC/EXIF: add them back
        return _png_with_metadata(buf.tobytes(), meta)
    if pixels.dtype != np.uint8:
        pixels = (pixels >> 8).astype(np.uint8) if pixels.dtype == np.uint16 else pixels.astype(np.uint8)
    img = _pil_view(pixels)
    options: dict = {}
    if meta.icc:
        options["icc_profile"] = meta.icc
    if meta.dpi:
        options["dpi"] = tuple(float(d) for d in meta.dpi[:2])
    if meta.exif and fmt in METADATA_FORMATS:
        options["exif"] = meta.exif
    if fmt == "JPEG":
        options.update(quality=quality, optimize=False)
    elif fmt == "PNG":
        options.update(compress_level=3)
    elif fmt == "WEBP":
        options.update(quality=quality, method=3)
    elif fmt == "TIFF":
        options.update(compression="tiff_adobe_deflate")
    elif fmt in ("HEIF", "AVIF"):
        if not can_write(fmt):
            raise OSError(missing_writer(fmt))
        options.update(quality=quality)
    buf = io.BytesIO() if out is None else out
    img.save(buf, format=fmt, **options)
    return buf.getvalue() if out is None else b""


def _pil_view(pixels: np.ndarray):
    """A Pillow image of uint8 pixels. Grey and RGBA share the array's memory (Pillow keeps them
    as they are), so a 48 MP cutout is not held twice while it is encoded; RGB is copied, since
    Pillow stores it four bytes a pixel."""
    from PIL import Image

    if pixels.flags.c_contiguous and (pixels.ndim == 2 or pixels.shape[2] == 4):
        mode = "L" if pixels.ndim == 2 else "RGBA"
        return Image.frombuffer(mode, (pixels.shape[1], pixels.shape[0]), pixels, "raw", mode, 0, 1)
    return Image.fromarray(pixels)


# IFD0 tags of a source's EXIF that describe the picture rather than a file's layout: they go
# into a TIFF's own first IFD (its EXIF proper goes into the Exif sub-IFD)
TIFF_DESCRIPTIVE_TAGS = {0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298}
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
ROWS_PER_STRIP = 64


def sixteen_bit_tiff(pixels: np.ndarray, meta: Photo) -> bytes:
    """A 16-bit grey, RGB or RGBA TIFF (deflate strips) with the source's ICC profile, DPI and
    EXIF, which neither OpenCV (no metadata) nor Pillow (no 16-bit RGB) writes."""
    from PIL import Image, TiffImagePlugin, TiffTags

    height, width = pixels.shape[:2]
    samples = 1 if pixels.ndim == 2 else pixels.shape[2]
    body = np.ascontiguousarray(pixels, dtype="<u2").reshape(height, width * samples)
    strips = [zlib.compress(body[y:y + ROWS_PER_STRIP].tobytes(), 6) for y in range(0, height, ROWS_PER_STRIP)]
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    ifd[256], ifd[257] = width, height
    ifd[258] = (16,) * samples
    ifd[259] = 8  # Adobe deflate
    ifd[262] = 1 if samples == 1 else 2
    ifd[277], ifd[278], ifd[284] = samples, ROWS_PER_STRIP, 1
    if samples == 4:
        ifd[338] = 2  # unassociated alpha
    ifd[339] = (1,) * samples
    # Pillow's IFD writer counts strip offsets from the end of the IFD's own data: the strips follow it
    ifd[273] = tuple(int(x) for x in np.cumsum([0] + [len(d) for d in strips[:-1]]))
    ifd[279] = tuple(len(d) for d in strips)
    ifd.tagtype[273] = ifd.tagtype[279] = TiffTags.LONG
    if meta.icc:
        ifd[34675] = meta.icc
        ifd.tagtype[34675] = TiffTags.UNDEFINED
    if meta.dpi:
        ifd[282], ifd[283], ifd[296] = float(meta.dpi[0]), float(meta.dpi[1]), 2
    if meta.exif:
        exif = Image.Exif()
        exif.load(meta.exif)
        for tag in TIFF_DESCRIPTIVE_TAGS & set(exif):
            ifd[tag] = exif[tag]
        for tag in (EXIF_IFD, GPS_IFD):
            sub = {k: v for k, v in exif.get_ifd(tag).items() if k != 0x927C}  # MakerNote: offsets into its file
            if sub:
                ifd[tag] = sub
                ifd.tagtype[tag] = TiffTags.LONG
    header = b"II*\x00" + struct.pack("<I", 8)
    return header + ifd.tobytes(8) + b"".join(strips)


def write_photo(path: Path, pixels: np.ndarray, fmt: str, meta: Photo | None = None, quality: int = 95) -> None:
    # straight into the temporary file: a 48 MP PNG is not also held as bytes, twice
    with atomic_output(Path(path)) as tmp:
        with open(tmp, "wb") as f:
            data = encode_photo(pixels, fmt, meta, quality, out=f)
            if data:
                f.write(data)
