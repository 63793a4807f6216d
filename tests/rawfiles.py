"""Camera RAW files made in the tests: a DNG (written by pidng) holding the RGGB Bayer mosaic a
sensor behind the given sRGB photo would record under a warm light, with the white balance
(AsShotNeutral) and colour matrix a camera stores, optionally an embedded JPEG preview."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# XYZ (D65) -> linear sRGB: the test camera's colour matrix, so its native space is linear sRGB
XYZ_TO_SRGB = np.array([[3.2404542, -1.5371385, -0.4985314], [-0.9692660, 1.8760108, 0.0415560],
                        [0.0556434, -0.2040259, 1.0572252]])
WARM_LIGHT = (0.5, 1.0, 0.7)  # the sensor's response to white: weak red and blue, as under tungsten
WHITE_LEVEL = 4095


def linear(rgb: np.ndarray) -> np.ndarray:
    x = rgb / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def bayer_mosaic(rgb: np.ndarray, neutral=WARM_LIGHT) -> np.ndarray:
    """12-bit RGGB mosaic of an sRGB photo as the test camera records it."""
    cam = linear(rgb) * np.asarray(neutral)
    mosaic = np.empty(rgb.shape[:2])
    mosaic[0::2, 0::2] = cam[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = cam[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = cam[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = cam[1::2, 1::2, 2]
    return np.round(mosaic * WHITE_LEVEL).astype(np.uint16)


def write_dng(path: Path, rgb: np.ndarray, orientation: int = 1, preview_jpeg: bytes | None = None,
              neutral=WARM_LIGHT) -> Path:
    """rgb: the scene as stored by the sensor (already turned sideways for orientation 6/8)."""
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation

    height, width = rgb.shape[:2]
    tags = DNGTags()
    tags.set(Tag.ImageWidth, width)
    tags.set(Tag.ImageLength, height)
    tags.set(Tag.TileWidth, width)
    tags.set(Tag.TileLength, height)
    tags.set(Tag.Orientation, orientation)
    tags.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    tags.set(Tag.SamplesPerPixel, 1)
    tags.set(Tag.BitsPerSample, 12)
    tags.set(Tag.CFARepeatPatternDim, [2, 2])
    tags.set(Tag.CFAPattern, CFAPattern.RGGB)
    tags.set(Tag.BlackLevel, 0)
    tags.set(Tag.WhiteLevel, WHITE_LEVEL)
    tags.set(Tag.ColorMatrix1, [[int(round(v * 10000)), 10000] for v in XYZ_TO_SRGB.flatten()])
    tags.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    tags.set(Tag.AsShotNeutral, [[int(v * 1000), 1000] for v in neutral])
    tags.set(Tag.Make, "TestCam")
    tags.set(Tag.Model, "Mosaic 1")
    tags.set(Tag.DateTime, "2024:05:01 10:00:00")
    tags.set(Tag.UniqueCameraModel, "TestCam Mosaic 1")
    tags.set(Tag.DNGVersion, DNGVersion.V1_4)
    tags.set(Tag.DNGBackwardVersion, DNGVersion.V1_2)
    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    data = bytes(writer.convert(bayer_mosaic(rgb, neutral)))
    if preview_jpeg is not None:
        data = with_preview(data, preview_jpeg)
    Path(path).write_bytes(data)
    return Path(path)


def with_preview(dng: bytes, jpeg: bytes) -> bytes:
    """The DNG with a second IFD chained after its first: a JPEG preview, as cameras embed one."""
    first = struct.unpack("<I", dng[4:8])[0]
    count = struct.unpack("<H", dng[first:first + 2])[0]
    next_at = first + 2 + 12 * count
    assert struct.unpack("<I", dng[next_at:next_at + 4])[0] == 0
    out = bytearray(dng) + bytes(len(dng) % 2)
    jpeg_at = len(out)
    out += jpeg + bytes(len(jpeg) % 2)
    ifd_at = len(out)
    entries = [(254, 4, 1), (259, 3, 6), (513, 4, jpeg_at), (514, 4, len(jpeg))]  # subfile 1: a preview
    out += struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        out += struct.pack("<HHII", tag, kind, 1, value) if kind == 4 else struct.pack("<HHIHH", tag, kind, 1, value, 0)
    out += struct.pack("<I", 0)
    out[next_at:next_at + 4] = struct.pack("<I", ifd_at)
    return bytes(out)
