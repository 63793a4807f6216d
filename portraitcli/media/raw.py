"""Camera RAW decode (LibRaw through rawpy, the `raw` extra), called by photo.read_photo.

Developed with the camera's white balance and the file's own colour matrix to 16-bit sRGB, or
Adobe RGB (1998) with an ICC profile that says so; upright (LibRaw applies the camera's
orientation); the EXIF that describes the shot (camera, lens, date, exposure, GPS) carried over
with the orientation reset. With preview=True the RAW's embedded JPEG is used instead of a
develop, many times faster, at whatever size the camera stored it.
"""
from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from portraitcli.errors import InputError

# LibRaw's gamma per output space: (power, slope of the linear toe); sRGB's own curve, and
# Adobe RGB's pure power of 563/256
GAMMA = {"srgb": (2.4, 12.92), "adobe": (563 / 256, 0.0)}
# IFD0 tags that describe the shot; the rest of a RAW's IFD0 is its sensor data's layout
SHOT_TAGS = {0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298}
EXIF_IFD, GPS_IFD, MAKER_NOTE, ORIENTATION = 0x8769, 0x8825, 0x927C, 0x0112
# LibRaw's flip code -> EXIF orientation (for an embedded preview stored as the sensor saw it)
FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}


def _rawpy(label: str):
    try:
        import rawpy
    except ImportError:
        raise InputError(f"{label}: camera RAW needs rawpy (pip install 'portraitcli[raw]')") from None
    return rawpy


@dataclass
class RawImage:
    """What a RAW file gives: developed pixels, or (with preview) its embedded JPEG, which
    photo.read_photo decodes; the shot's EXIF and the notes for either."""

    rgb: np.ndarray | None  # 16-bit RGB, upright
    icc: bytes | None
    exif: bytes | None
    notes: list[str] = field(default_factory=list)
    preview_jpeg: bytes | None = None  # the embedded preview, used instead of rgb
    preview_orientation: int = 1  # the EXIF orientation that makes a preview stored as the sensor saw it upright


def read_raw(path: Path, label: str, max_pixels: int, options) -> RawImage:
    rawpy = _rawpy(label)
    # rawpy warns in every forked process; the batch forks workers only from a parent that has
    # not run LibRaw (batch._make_pool), which is the case its warning is about
    warnings.filterwarnings("ignore", message="rawpy is being used in a process created by multiprocessing")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{label}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise InputError(f"{label}: empty file")
    try:
        raw = rawpy.imread(io.BytesIO(data))
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise InputError(f"{label}: not a camera RAW LibRaw can read ({_reason(exc)})") from None
    with raw:
        sizes = raw.sizes
        if sizes.width * sizes.height > max_pixels:
            raise InputError(f"{label}: {sizes.width}x{sizes.height} is over the {max_pixels} pixel limit "
                             "(raise it with --max-pixels)")
        exif = shot_exif(data)
        notes: list[str] = []
        if options.preview:
            jpeg = _preview(raw, rawpy, notes)
            if jpeg is not None:
                return RawImage(None, None, exif, notes, jpeg, FLIP_TO_ORIENTATION.get(sizes.flip, 1))
        try:
            rgb = raw.postprocess(use_camera_wb=True, output_bps=16,
                                  output_color=rawpy.ColorSpace.Adobe if options.space == "adobe"
                                  else rawpy.ColorSpace.sRGB,
                                  gamma=GAMMA[options.space], no_auto_bright=True)
        except (rawpy.LibRawError, MemoryError, ValueError) as exc:
            raise InputError(f"{label}: corrupt or unsupported RAW ({_reason(exc)})") from None
    icc = adobe_rgb_icc() if options.space == "adobe" else None
    return RawImage(np.ascontiguousarray(rgb), icc, exif, notes)


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _preview(raw, rawpy, notes) -> bytes | None:
    """The embedded JPEG preview; None (and a note) when there is none to use."""
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError, rawpy.LibRawError):
        notes.append("no embedded JPEG preview: the RAW was developed instead")
        return None
    if thumb.format != rawpy.ThumbFormat.JPEG:
        notes.append("the embedded preview is not a JPEG: the RAW was developed instead")
        return None
    return bytes(thumb.data)


def shot_exif(data: bytes) -> bytes | None:
    """The EXIF of a TIFF-based RAW (DNG, CR2, NEF, ARW, PEF, ...): the shot's IFD0 tags, its Exif
    and GPS IFDs (MakerNote left out: its offsets point into the RAW), orientation 1 since the
    pixels come out upright. None for other containers."""
    from PIL import Image

    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    try:
        source = Image.Exif()
        source.load(data)
        out = Image.Exif()
        for tag in SHOT_TAGS & set(source):
            out[tag] = source[tag]
        for tag in (EXIF_IFD, GPS_IFD):
            sub = {k: v for k, v in source.get_ifd(tag).items() if k != MAKER_NOTE}
            if sub:
                out[tag] = sub
        out[ORIENTATION] = 1
        return out.tobytes()
    except (OSError, ValueError, KeyError, TypeError, struct.error, SyntaxError):
        return None


# Adobe RGB (1998): its D50-adapted primaries as in the published profile, and gamma 563/256
ADOBE_PRIMARIES = ((0.60974, 0.31111, 0.01947), (0.20528, 0.62567, 0.06087), (0.14919, 0.06322, 0.74457))
D50 = (0.9642, 1.0, 0.8249)


def _s15(x: float) -> bytes:
    return struct.pack(">i", round(x * 65536))


def _xyz(values) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15(v) for v in values)


def adobe_rgb_icc() -> bytes:
    """A minimal ICC v2 matrix/TRC display profile for Adobe RGB (1998)."""
    description = b"Adobe RGB (1998) compatible"
    desc = (b"desc" + bytes(4) + struct.pack(">I", len(description) + 1) + description + b"\x00"
            + bytes(4) + bytes(4) + bytes(2) + bytes(1) + bytes(67))
    cprt = b"text" + bytes(4) + b"No copyright, use freely\x00"
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, 563) + bytes(2)
    tags = [(b"desc", desc), (b"cprt", cprt), (b"wtpt", _xyz(D50)), (b"rXYZ", _xyz(ADOBE_PRIMARIES[0])),
            (b"gXYZ", _xyz(ADOBE_PRIMARIES[1])), (b"bXYZ", _xyz(ADOBE_PRIMARIES[2])), (b"rTRC", curve)]
    table_end = 128 + 4 + 12 * (len(tags) + 2)
    offsets, blobs, offset = {}, b"", table_end
    for name, blob in tags:
        blob += bytes(-len(blob) % 4)
        offsets[name] = (offset, len(blob))
        blobs += blob
        offset += len(blob)
    offsets[b"gTRC"] = offsets[b"bTRC"] = offsets[b"rTRC"]  # one curve shared by the three channels
    names = [n for n, _ in tags] + [b"gTRC", b"bTRC"]
    table = struct.pack(">I", len(names)) + b"".join(n + struct.pack(">II", *offsets[n]) for n in names)
    size = table_end + len(blobs)
    header = (struct.pack(">I", size) + bytes(4) + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + bytes(12) + b"acsp"
              + bytes(4) + bytes(4) + bytes(4) + bytes(4) + bytes(8) + bytes(4) + b"".join(_s15(v) for v in D50)
              + bytes(4) + bytes(16) + bytes(28))
    assert len(header) == 128
    return header + table + blobs
