"""Camera RAW: developing (LibRaw, camera white balance, 16-bit) against the embedded JPEG
preview (--raw-preview), for the decode alone and for `portraitcli blur` on a folder of DNGs.

    python bench/raw.py                 # 6 DNGs of 6000x4000 (24 MP) with full-size previews, 3 repeats
    python bench/raw.py --quick         # 2 DNGs of 1200x800: a smoke test only

The DNGs are written by tests/rawfiles.py (pidng, from the `test` extra): the Bayer mosaic a
sensor would record of a synthetic photo, and a full-size JPEG preview as cameras embed one.
Runs are interleaved (develop, preview, develop, ...) so the ratios compare like with like.
"""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402


def dng_set(workdir: Path, count: int, width: int, height: int) -> list[Path]:
    from PIL import Image

    from tests.rawfiles import write_dng

    folder = workdir / f"dng_{width}x{height}"
    paths = [folder / f"IMG_{i:04d}.dng" for i in range(count)]
    if all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(paths):
        rgb = common.make_photo(i, width, height)
        preview = io.BytesIO()
        Image.fromarray(rgb).save(preview, "JPEG", quality=90)
        write_dng(path, rgb, preview_jpeg=preview.getvalue())
    return paths


def decode_seconds(paths: list[Path], preview: bool) -> float:
    from portraitcli.media.photo import RawOptions, read_photo

    start = time.perf_counter()
    for p in paths:
        read_photo(p, raw=RawOptions(preview=preview))
    return (time.perf_counter() - start) / len(paths)


def main():
    parser = common.base_parser(__doc__.split("\n\n")[0])
    args = parser.parse_args()
    count, (width, height) = (2, (1200, 800)) if args.quick else (6, (6000, 4000))
    repeats = args.repeats or (1 if args.quick else 3)
    common.print_header("camera RAW: develop vs embedded preview",
                        {"photos": count, "size": f"{width}x{height}", "repeats": repeats})
    paths = dng_set(args.workdir, count, width, height)
    decode = {False: [], True: []}
    batch = {False: [], True: []}
    for _ in range(repeats):
        for preview in (False, True):
            decode[preview].append(decode_seconds(paths, preview))
            out = common.fresh_dir(args.workdir / f"raw_out_{int(preview)}")
            cmd = common.portraitcli_cmd() + ["blur", "-q", "-j", "1", str(paths[0].parent), str(out)]
            result = common.run(cmd + (["--raw-preview"] if preview else [])).check()
            batch[preview].append(result.seconds / count)
    rows = []
    for name, values in (("decode only (s per photo)", decode), ("blur, whole CLI (s per photo)", batch)):
        develop, preview = common.median(values[False]), common.median(values[True])
        rows.append([name, develop, common.spread(values[False]), preview, common.spread(values[True]),
                     develop / preview])
    common.print_table(["measure", "develop", "spread", "--raw-preview", "spread", "ratio"], rows)


if __name__ == "__main__":
    main()
