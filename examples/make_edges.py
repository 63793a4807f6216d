"""The edge-controls picture in docs/guide.md, made by portraitcli itself from examples/astronaut.jpg:
the matte around the helmet as it comes, then with each edge control.

    python examples/make_edges.py [OUT.jpg]   # default: examples/edges.jpg
"""
from __future__ import annotations

from pathlib import Path

from make_strip import make_picture

HERE = Path(__file__).resolve().parent
STEPS = [
    ("matte", ["segment"]),
    ("--feather 12", ["segment", "--feather", "12"]),
    ("--shift 8", ["segment", "--shift", "8"]),
    ("--shift -8", ["segment", "--shift=-8"]),
    ("--threshold 0.5", ["segment", "--threshold", "0.5"]),
    ("--feather 12 --shift -4 --threshold 0.5", ["segment", "--feather", "12", "--shift=-4", "--threshold", "0.5"]),
]
# the helmet's edge against the backdrop, in the 512x512 photo
ZOOM = (slice(20, 180), slice(140, 300))


if __name__ == "__main__":
    make_picture(STEPS, HERE / "edges.jpg", height=200, quality=90, window=ZOOM)
