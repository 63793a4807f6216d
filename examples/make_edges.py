"""The README's edge-controls picture, made by portraitcli itself from examples/astronaut.jpg:
the matte around the helmet as it comes, then with each edge control.

    python examples/make_edges.py [OUT.jpg]   # default: examples/edges.jpg
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
    ("matte", []),
    ("--feather 12", ["--feather", "12"]),
    ("--shift 8", ["--shift", "8"]),
    ("--shift -8", ["--shift=-8"]),
    ("--threshold 0.5", ["--threshold", "0.5"]),
    ("--feather 12 --shift -4 --threshold 0.5", ["--feather", "12", "--shift=-4", "--threshold", "0.5"]),
]
# the helmet's edge against the backdrop, in the 512x512 photo
ZOOM = (slice(20, 180), slice(140, 300))


def main():
    src = HERE / "astronaut.jpg"
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (_, args) in enumerate(STEPS):
            out = Path(tmp) / f"{i}.png"
            subprocess.run([sys.executable, "-m", "portraitcli", "segment", *args, str(src), str(out), "-q"],
                           check=True)
            tiles.append(np.asarray(Image.open(out))[ZOOM])
    strip = contact_tile(tiles, height=200)
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "edges.jpg"
    Image.fromarray(strip).save(out, quality=90)
    print("labels:", " | ".join(name for name, _ in STEPS))


if __name__ == "__main__":
    main()
