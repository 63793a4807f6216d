"""Contact sheet, one row per processed photo with its file name underneath, rows in input
order, for a quick visual check of a whole batch (`portraitcli segment --sheet sheet.jpg ...`):
photo | matte | cutout on a checkerboard for a matte or a cutout, photo | result otherwise."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from portraitcli import commands
from portraitcli.compositing import effects
from portraitcli.media.frames import to_uint8
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


def row_tiles(photo_path: str, output_path: str, command: str) -> list[np.ndarray]:
    """The tiles of one row: the photo, then what was made of it."""
    rgb = to_uint8(read_photo(Path(photo_path)).rgb)
    return commands.get(command).sheet_tiles(rgb, read_photo(Path(output_path)))


def make_sheet(pairs: list[tuple[str, str]], path: Path, command: str, row_height: int = 160) -> int:
    """pairs: (photo, its output) paths, in the order the rows go; command: what made the
    outputs. Writes the sheet; returns the number of rows."""
    rows, names = [], []
    for photo_path, output_path in pairs[:MAX_ROWS]:
        try:
            tiles = row_tiles(photo_path, output_path, command)
        except Exception:  # noqa: BLE001 - a sheet is best effort; the batch already reported failures
            continue
        rows.append(effects.contact_tile(tiles, row_height))
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
