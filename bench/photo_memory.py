"""Peak memory of one big photo, in bytes a pixel of the photo, for this checkout and, beside
it, another one (e.g. the main branch): what decides how many photos fit in RAM at once.

    python bench/photo_memory.py                            # 48 MP JPEG, cutout and blur
    python bench/photo_memory.py --baseline /work/main      # the same with another checkout
    python bench/photo_memory.py --megapixels 24 --commands segment,blur,replace-bg,cutout

Each run is a fresh `python -m portraitcli CMD photo out` process; its peak RSS
(VmHWM, the whole process: interpreter, onnxruntime and model included) is
divided by the photo's pixels. Memory is not timing: these figures do not depend on load.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# VmHWM, not getrusage's ru_maxrss: that one also counts the parent's memory at the fork
PEAK_RSS = """
import runpy, sys
sys.argv = ["portraitcli", *sys.argv[1:]]
try:
    runpy.run_module("portraitcli", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
status = open("/proc/self/status").read()
print(int(status.split("VmHWM:")[1].split()[0]) * 1024)
"""
EXTRA = {"replace-bg": ["--background", "#2e8b57"]}
EXTENSION = {"segment": ".png", "cutout": ".png", "blur": ".jpg", "replace-bg": ".jpg"}


def make_photo(path: Path, megapixels: float) -> tuple[int, int]:
    """A 4:3 JPEG of the sample portrait, upscaled, with a little noise as a camera's has."""
    import cv2
    import numpy as np

    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(width * 3 / 4))
    if not path.exists():
        source = cv2.imread(str(REPO / "examples" / "astronaut.jpg"))
        big = cv2.resize(source, (width, height), interpolation=cv2.INTER_CUBIC)
        noise = np.random.default_rng(0).integers(-6, 7, big.shape, dtype=np.int16)
        big = np.clip(big.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return width, height


def peak_rss(checkout: Path, args: list[str]) -> int:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    env.pop("PORTRAITCLI_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, *args], capture_output=True, text=True, env=env,
                          cwd=checkout)
    if proc.returncode:
        raise SystemExit(f"{checkout}: {' '.join(args)} failed: {proc.stderr.strip()[-400:]}")
    return int(proc.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=48)
    parser.add_argument("--commands", default="cutout,blur")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure beside this one")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "portraitcli-bench")
    opts = parser.parse_args()
    opts.workdir.mkdir(parents=True, exist_ok=True)
    photo = opts.workdir / f"memory_{opts.megapixels:g}mp.jpg"
    width, height = make_photo(photo, opts.megapixels)
    pixels = width * height
    checkouts = [("this checkout", REPO)] + ([("baseline", opts.baseline.resolve())] if opts.baseline else [])
    print(f"{photo.name}: {width}x{height} ({pixels / 1e6:.1f} MP), peak RSS of the whole process")
    print(f"{'command':12s} {'checkout':14s} {'peak MiB':>9s} {'bytes/pixel':>12s}")
    for command in opts.commands.split(","):
        for label, checkout in checkouts:
            out = opts.workdir / f"memory_out_{command}{EXTENSION[command]}"
            out.unlink(missing_ok=True)
            peak = peak_rss(checkout, [command, "-q", *EXTRA.get(command, []), str(photo), str(out)])
            print(f"{command:12s} {label:14s} {peak / 2**20:9.0f} {peak / pixels:12.1f}")


if __name__ == "__main__":
    main()
