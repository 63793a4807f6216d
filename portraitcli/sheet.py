"""Contact sheet: photo | matte | cutout on a checkerboard, one row per processed photo with its
file name underneath, rows in input order, for a quick visual check of a whole batch
(`portraitcli segment --sheet sheet.jpg ...`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from portraitcli import effects
from portraitcli.frames import to_uint8
from portraitcli.media.photo import format_for, read_photo, write_photo

MAX_ROWS = 60
LABEL_HEIGHT = 22
ROW_GAP = 4


def label(text: str, width: int) -> np.ndarray:
    """A white LABEL_HEIGHT x width strip with text in black at the left (cut at the start
    with '...' when too long, so the file name itself stays readable)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=14)
    strip = Image.new("RGB", (width, LABEL_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    shown = text
    while len(shown) > 1 and draw.textlength(shown, font=font) > width - 8:
        shown = shown[1:]
    if shown != text:
        shown = "..." + shown[3:] if len(shown) > 3 else shown
    draw.text((4, 3), shown, fill=(0, 0, 0), font=font)
    return np.asarray(strip)


def make_sheet(pairs: list[tuple[str, str]], path: Path, row_height: int = 160) -> int:
    """pairs: (photo, its matte) paths, in the order the rows go. Writes the sheet; returns
    the number of rows."""
    rows, names = [], []
    for photo_path, matte_path in pairs[:MAX_ROWS]:
        try:
            rgb = effects.from_float(effects.to_float(read_photo(Path(photo_path)).rgb), np.uint8)
            matte = read_photo(Path(matte_path)).rgb[:, :, 0]
        except Exception:  # noqa: BLE001 - a sheet is best effort; the batch already reported failures
            continue
        matte = to_uint8(matte)
        if matte.shape != rgb.shape[:2]:  # a RAW's preview, a crop: show the matte at the photo's size
            import cv2

            matte = cv2.resize(matte, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
        rgba = np.dstack([rgb, matte])
        rows.append(effects.contact_tile([rgb, matte, rgba], row_height))
        names.append(str(photo_path))
    if not rows:
        return 0
    width = max(r.shape[1] for r in rows)
    padded = []
    for row, name in zip(rows, names):
        row = np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255)
        gap = np.full((ROW_GAP, width, 3), 255, np.uint8)
        padded += [row, label(name, width), gap]
    write_photo(path, np.concatenate(padded, axis=0), format_for(path))
    return len(rows)
