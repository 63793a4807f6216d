"""Photo batch throughput against the decode+encode floor, on portraits: start-up time and the
first photo in a fresh process, then `blur` and `replace-bg` (and any other command asked for).

    python bench/photos.py                 # 30 portraits of 4000x3000 (12 MP), 3 repeats
    python bench/photos.py --quick         # 6 portraits of 1000x750: a smoke test only
    python bench/photos.py --commands segment,blur,replace-bg,cutout --photos scene

The photos are people, as a photographer's are: the astronaut's portrait cropped, upscaled
and given sensor noise, a different framing and exposure each (common.portrait_photo); the
person fills most of the frame, so the edge band, the focus pass and the compositing all run.
`--photos scene` uses the older generated scenes (a small person on a synthetic backdrop).
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


def measure_batches(src: Path, workdir: Path, count: int, jobs: int, repeats: int,
                    commands: list[str]) -> dict[str, list[float]]:
    # the PNG floor only where a command writes PNG
    floors = [f for f in FLOORS if f == "floor-jpeg" or any(COMMANDS[c][1] == FLOORS[f] for c in commands)]
    variants = floors + commands
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(repeats):
        order = variants[r % len(variants):] + variants[:r % len(variants)]  # no fixed position bias
        for variant in order:
            out = common.fresh_dir(workdir / "out" / variant)
            seconds[variant].append(timed_batch(variant, batch_args(variant, src, out, jobs), out, count,
                                                f"repeat {r + 1}/{repeats}"))
    return seconds


def timed_batch(name: str, args: list, out: Path, count: int, label: str) -> float:
    """Seconds one batch command took; every input must have its output in out."""
    result = common.run(args).check()
    written = sum(1 for p in out.iterdir() if not p.name.startswith("."))
    if written != count:
        raise RuntimeError(f"{name}: {written} outputs for {count} inputs")
    print(f"  {label} {name:<20} {result.seconds:7.2f} s  {count / result.seconds:6.2f} images/s", flush=True)
    return result.seconds


def report_batches(seconds: dict[str, list[float]], count: int, jobs: int, size: str) -> None:
    floor = seconds["floor-jpeg"]
    rows = []
    for variant, runs in seconds.items():
        fmt = FLOORS.get(variant) or COMMANDS[variant][1]
        # paired ratio: each run against the JPEG floor of the same repeat, then the median
        ratio = common.median([t / f for t, f in zip(runs, floor)])
        rows.append([variant, fmt, count / common.median(runs), common.median(runs), common.spread(runs), ratio])
    common.print_table(
        ["variant", "writes", "images/s", "median s", "s range", "x floor-jpeg time"], rows,
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
    parser.add_argument("--count", type=int, default=None, help="photos in the batch (default 30, quick 6)")
    parser.add_argument("--commands", default="blur,replace-bg",
                        help=f"comma-separated, from {','.join(COMMANDS)} (default blur,replace-bg)")
    parser.add_argument("--photos", choices=("portrait", "scene"), default="portrait",
                        help="portrait: upscaled portraits with sensor noise (default); scene: generated scenes")
    parser.add_argument("--size", default=None, help="WIDTHxHEIGHT (default 4000x3000, quick 1000x750)")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs for portraitcli and processes for the floor (default 2)")
    parser.add_argument("--startup-repeats", type=int, default=None, help="repeats for the start-up timings (default 5, quick 2)")
    args = parser.parse_args()
    count = args.count or (6 if args.quick else 30)
    commands = [c for c in args.commands.split(",") if c]
    unknown = [c for c in commands if c not in COMMANDS]
    if unknown:
        parser.error(f"unknown command(s) {', '.join(unknown)}")
    size = args.size or ("1000x750" if args.quick else "4000x3000")
    width, height = (int(v) for v in size.lower().split("x"))
    repeats = args.repeats or (1 if args.quick else 3)
    startup_repeats = args.startup_repeats or (2 if args.quick else 5)

    common.print_header("portraitcli photo benchmark",
                        {"count": count, "size": size, "photos": args.photos, "jobs": args.jobs,
                         "repeats": repeats, "commands": ",".join(commands), "workdir": args.workdir})
    paths = common.photo_set(args.workdir, count, width, height, kind=args.photos)
    # the batch folder holds exactly `count` photos (the cache may hold more)
    src = args.workdir / f"batch_{args.photos}_{width}x{height}_{count}"
    src.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        p.unlink()
    for p in paths:
        (src / p.name).symlink_to(p)

    measure_startup(args.workdir, paths[0], startup_repeats)
    seconds = measure_batches(src, args.workdir, count, args.jobs, repeats, commands)
    print()
    report_batches(seconds, count, args.jobs, f"{size} ({args.photos}s)")


if __name__ == "__main__":
    main()
