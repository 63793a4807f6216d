"""Photo batch throughput of every subcommand against the decode+encode floor, start-up time
and the first photo in a fresh process.

    python bench/photos.py                 # 50 photos of 4000x3000 (12 MP), 3 repeats
    python bench/photos.py --quick         # 6 photos of 1000x750: a smoke test only

The floor is what no photo tool can beat with the same library: Pillow decoding each file and
encoding it again (JPEG quality 95, or RGBA PNG at portraitcli's compression level), in the
same number of worker processes, started as a fresh process like the CLI. Runs are
interleaved (floor, commands, floor, ...) so the ratios compare like with like.
"""
from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

COMMANDS = {  # name -> (extra arguments, output format written)
    "segment": ([], "PNG (grey)"),
    "blur": ([], "JPEG q95"),
    "replace-bg": (["--background", "#2e8b57"], "JPEG q95"),
    "cutout": ([], "PNG (RGBA)"),
}
FLOORS = {"floor-jpeg": "JPEG q95", "floor-png": "PNG (RGBA)"}


# --------------------------------------------------------------------------- the floor (a child process)


def _floor_one(job: tuple[str, str, str]) -> None:
    from PIL import Image

    src, dest, fmt = job
    with Image.open(src) as img:
        img.load()
        if fmt == "png":
            img.convert("RGBA").save(dest, format="PNG", compress_level=3)
        else:
            img.save(dest, format="JPEG", quality=95)


def floor_worker(argv: list[str]) -> None:
    """python bench/photos.py --floor-worker SRC_DIR DEST_DIR FMT JOBS"""
    src_dir, dest_dir, fmt, jobs = Path(argv[0]), Path(argv[1]), argv[2], int(argv[3])
    ext = ".png" if fmt == "png" else ".jpg"
    work = [(str(p), str(dest_dir / (p.stem + ext)), fmt) for p in sorted(src_dir.glob("*.jpg"))]
    dest_dir.mkdir(parents=True, exist_ok=True)
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for _ in pool.imap_unordered(_floor_one, work, chunksize=1):
            pass


# --------------------------------------------------------------------------- measurements


def batch_args(variant: str, src: Path, out: Path, jobs: int) -> list:
    if variant in FLOORS:
        return [common.PYTHON, __file__, "--floor-worker", src, out, variant.split("-")[1], jobs]
    extra, _ = COMMANDS[variant]
    return common.portraitcli_cmd() + [variant, *extra, src, out, "--jobs", jobs, "-q", "--overwrite"]


def measure_batches(src: Path, workdir: Path, count: int, jobs: int, repeats: int) -> dict[str, list[float]]:
    variants = list(FLOORS) + list(COMMANDS)
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(repeats):
        order = variants[r % len(variants):] + variants[:r % len(variants)]  # no fixed position bias
        for variant in order:
            out = common.fresh_dir(workdir / "out" / variant)
            result = common.run(batch_args(variant, src, out, jobs)).check()
            written = sum(1 for p in out.iterdir() if not p.name.startswith("."))
            if written != count:
                raise RuntimeError(f"{variant}: {written} outputs for {count} inputs")
            seconds[variant].append(result.seconds)
            print(f"  repeat {r + 1}/{repeats} {variant:<11} {result.seconds:7.2f} s  "
                  f"{count / result.seconds:6.2f} images/s", flush=True)
    return seconds


def report_batches(seconds: dict[str, list[float]], count: int, jobs: int, size: str) -> None:
    floor = seconds["floor-jpeg"]
    rows = []
    for variant, runs in seconds.items():
        fmt = FLOORS.get(variant) or COMMANDS[variant][1]
        # paired ratio: each run against the JPEG floor of the same repeat, then the median
        ratio = common.median([t / f for t, f in zip(runs, floor)])
        target = ""
        if variant == "blur":
            target = f"<= 2.0  {common.verdict(ratio <= 2.0)}"
        rows.append([variant, fmt, count / common.median(runs), common.median(runs), common.spread(runs), ratio,
                     target])
    common.print_table(
        ["variant", "writes", "images/s", "median s", "s range", "x floor-jpeg time", "target"], rows,
        title=f"Batch of {count} photos of {size}, --jobs {jobs} (floor: Pillow decode+encode, {jobs} processes)")


def measure_startup(workdir: Path, one: Path, repeats: int) -> None:
    cli = common.portraitcli_cmd()
    out = workdir / "out" / "one.jpg"
    out.parent.mkdir(parents=True, exist_ok=True)
    floor_code = ("import sys; from PIL import Image; im = Image.open(sys.argv[1]); im.load(); "
                  "im.save(sys.argv[2], format='JPEG', quality=95)")
    cases = {
        "python -c pass (interpreter floor)": [common.PYTHON, "-c", "pass"],
        "portraitcli --help": cli + ["--help"],
        "floor: Pillow decode+encode one photo": [common.PYTHON, "-c", floor_code, one, out],
        "portraitcli blur one.jpg out.jpg": cli + ["blur", one, out],
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for name, args in cases.items():
            out.unlink(missing_ok=True)
            times[name].append(common.run(args).check().seconds)
    floor_single = common.median(times["floor: Pillow decode+encode one photo"])
    rows = [[name, common.median(t) * 1000, common.spread([x * 1000 for x in t]),
             common.median(t) / floor_single if "one" in name else ""] for name, t in times.items()]
    common.print_table(["fresh process", "median ms", "ms range", "x floor"], rows,
                       title=f"Start-up and first photo ({one.name}), each a new process, median of {repeats} "
                             "(OS file cache warm)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--floor-worker":
        floor_worker(sys.argv[2:])
        return
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=None, help="photos in the batch (default 50, quick 6)")
    parser.add_argument("--size", default=None, help="WIDTHxHEIGHT (default 4000x3000, quick 1000x750)")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs for portraitcli and processes for the floor (default 2)")
    parser.add_argument("--startup-repeats", type=int, default=None, help="repeats for the start-up timings (default 5, quick 2)")
    args = parser.parse_args()
    count = args.count or (6 if args.quick else 50)
    size = args.size or ("1000x750" if args.quick else "4000x3000")
    width, height = (int(v) for v in size.lower().split("x"))
    repeats = args.repeats or (1 if args.quick else 3)
    startup_repeats = args.startup_repeats or (2 if args.quick else 5)

    common.print_header("portraitcli photo benchmark",
                        {"count": count, "size": size, "jobs": args.jobs, "repeats": repeats,
                         "workdir": args.workdir})
    paths = common.photo_set(args.workdir, count, width, height)
    # the batch folder holds exactly `count` photos (the cache may hold more)
    src = args.workdir / f"batch_{width}x{height}_{count}"
    src.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        p.unlink()
    for p in paths:
        (src / p.name).symlink_to(p)

    measure_startup(args.workdir, paths[0], startup_repeats)
    seconds = measure_batches(src, args.workdir, count, args.jobs, repeats)
    print()
    report_batches(seconds, count, args.jobs, size)


if __name__ == "__main__":
    main()
