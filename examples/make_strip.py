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

from portraitcli.effects import contact_tile

HERE = Path(__file__).resolve().parent
STEPS = [
    ("original", None),
    ("blur", ["blur", "--strength", "0.6"]),
    ("bokeh", ["blur", "--bokeh", "--strength", "0.6"]),
    ("replace-bg", ["replace-bg", "--background", "#2b6cb0"]),
    ("cutout", ["cutout"]),
    ("matte", ["segment"]),
]


def main():
    src = HERE / "astronaut.jpg"
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in STEPS:
            if args is None:
                tiles.append(np.asarray(Image.open(src).convert("RGB")))
                continue
            out = Path(tmp) / f"{name}.png"
            subprocess.run([sys.executable, "-m", "portraitcli", *args, str(src), str(out), "-q"], check=True)
            tiles.append(np.asarray(Image.open(out)))
    strip = contact_tile(tiles, height=220)
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "strip.jpg"
    Image.fromarray(strip).save(out, quality=85)
    print("labels:", " | ".join(name for name, _ in STEPS))


if __name__ == "__main__":
    main()
