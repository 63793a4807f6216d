"""The README's before/after strip, made by portraitcli itself from examples/astronaut.jpg:

    python examples/make_strip.py [OUT.jpg]   # default: examples/strip.jpg
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from portraitcli.compositing.effects import contact_tile

HERE = Path(__file__).resolve().parent
STEPS = [
    ("original", None),
    ("blur", ["blur", "--strength", "0.6"]),
    ("bokeh", ["blur", "--bokeh", "--strength", "0.6"]),
    ("replace-bg", ["replace-bg", "--background", "#2b6cb0"]),
    ("cutout", ["cutout"]),
    ("matte", ["segment"]),
]


def make_picture(steps, default_out: Path, height: int, quality: int, window=(slice(None), slice(None))):
    """Run portraitcli once per step on the sample photo (None: the photo itself), put the
    results (their window) side by side, save to argv[1] or default_out."""
    src = HERE / "astronaut.jpg"
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (_, args) in enumerate(steps):
            if args is None:
                tiles.append(np.asarray(Image.open(src).convert("RGB"))[window])
                continue
            out = Path(tmp) / f"{i}.png"
            subprocess.run([sys.executable, "-m", "portraitcli", *args, str(src), str(out), "-q"], check=True)
            tiles.append(np.asarray(Image.open(out))[window])
    strip = contact_tile(tiles, height=height)
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default_out
    Image.fromarray(strip).save(out, quality=quality)
    print("labels:", " | ".join(name for name, _ in steps))


def main():
    make_picture(STEPS, HERE / "strip.jpg", height=220, quality=85)


if __name__ == "__main__":
    main()
