"""Contact sheet: photo | matte | cutout on a checkerboard, one row per processed photo, for a
quick visual check of a whole batch (`portraitcli segment --sheet sheet.jpg ...`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from portraitcli import effects
from portraitcli.frames import to_uint8
from portraitcli.media.photo import format_for, read_photo, write_photo

MAX_ROWS = 60


def make_sheet(pairs: list[tuple[str, str]], path: Path, row_height: int = 160) -> int:
    """pairs: (photo, its matte) paths. Writes the sheet; returns the number of rows."""
    rows = []
    for photo_path, matte_path in pairs[:MAX_ROWS]:
        try:
            rgb = effects.from_float(effects.to_float(read_photo(Path(photo_path)).rgb), np.uint8)
            matte = read_photo(Path(matte_path)).rgb[:, :, 0]
        except Exception:  # noqa: BLE001 - a sheet is best effort; the batch already reported failures
            continue
        matte = to_uint8(matte)
        rgba = np.dstack([rgb, matte])
        rows.append(effects.contact_tile([rgb, matte, rgba], row_height))
    if not rows:
        return 0
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    write_photo(path, np.concatenate(padded, axis=0), format_for(path))
    return len(rows)
