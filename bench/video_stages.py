"""Where the CPU of one `portraitcli blur` video run goes: CPU ms per frame for each pipeline
stage, next to the run's whole CPU (this process and its ffmpeg children) and its wall time.

    python bench/video_stages.py                   # the 10 s 720p benchmark clip
    python bench/video_stages.py --size 1920x1080 --repeats 3

Stages are timed with each thread's own CPU clock (time.thread_time), so a stage waiting for
another thread or for a pipe costs nothing; "utilisation" is all CPU over (wall x cores), the
share of the machine the run kept busy. What the stages do not account for is Python and
thread overhead between them. The run goes through the CLI in this process (the stage
functions are wrapped, not changed), so it is the same code path as `portraitcli blur`.
"""
from __future__ import annotations

import collections
import os
import resource
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

FPS = 30


# what each timed function does; a stage the run never reached (its function renamed or no
# longer called) is named in the output, and tests/test_benchmarks.py runs this script
READING = "reading frames from the decoder"
STAGES = ("model stage (shrink, network, smoothing at 256)", "edge refinement to full resolution",
          "full-resolution temporal pass", "compositing (blur)", "writing frames to the encoder", READING)


def wrap_stages(totals: dict) -> None:
    """Wrap the pipeline's stage functions so each adds its thread CPU time to totals."""
    import portraitcli.media.video as video
    import portraitcli.compositing.render as render
    import portraitcli.matting.segmenter as segmenter
    import portraitcli.matting.temporal as temporal

    lock = threading.Lock()

    def timed(owner, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                with lock:
                    totals[label] += time.thread_time() - start

        setattr(owner, name, wrapper)

    model, refinement, second_pass, compositing, writing = STAGES[:5]
    timed(segmenter.Segmenter, "model_frame", model)
    timed(segmenter, "full_resolution", refinement)
    timed(temporal.TemporalSmoother, "smooth_alpha", second_pass)
    timed(render.Renderer, "__call__", compositing)
    timed(video.VideoWriter, "write", writing)
    reader_iter = video.VideoReader.__iter__

    def timed_iter(self):
        frames = reader_iter(self)
        while True:
            start = time.thread_time()
            try:
                item = next(frames)
            except StopIteration:
                return
            finally:
                with lock:
                    totals[READING] += time.thread_time() - start
            yield item

    video.VideoReader.__iter__ = timed_iter


def one_run(clip: Path, dest: Path) -> tuple[dict, float, float, float]:
    """(stage totals in s, this process's CPU s, children's CPU s, wall s) of one blur run."""
    from portraitcli.cli import cli

    totals: dict = collections.defaultdict(float)
    wrap_stages(totals)
    dest.unlink(missing_ok=True)
    own0, kids0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        cli(["blur", "-q", str(clip), str(dest)], standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise
    wall = time.perf_counter() - t0
    own1, kids1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = lambda a, b: (b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime)  # noqa: E731
    return dict(totals), cpu(own0, own1), cpu(kids0, kids1), wall


def child(argv: list[str]) -> None:
    """One measured run in a fresh interpreter: prints its figures as one repr'd dict."""
    clip, dest = Path(argv[0]), Path(argv[1])
    totals, own, kids, wall = one_run(clip, dest)
    print(repr({"totals": totals, "own": own, "kids": kids, "wall": wall}))


def main() -> None:
    import ast
    import subprocess

    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    seconds = 2 if args.quick else args.seconds
    repeats = args.repeats or (1 if args.quick else 3)
    clip = common.make_clip(common.clip_path(args.workdir, width, height, seconds, FPS), width, height, seconds, FPS)
    frames = common.count_frames(clip)
    common.print_header("portraitcli video stage profile", {"clip": clip.name, "frames": frames, "repeats": repeats})
    runs = []
    for i in range(repeats):
        dest = args.workdir / "out" / f"stages_{width}x{height}.mp4"
        dest.parent.mkdir(parents=True, exist_ok=True)
        out = subprocess.run([sys.executable, __file__, "--child", str(clip), str(dest)], capture_output=True,
                             text=True, check=True).stdout.strip().splitlines()[-1]
        runs.append(ast.literal_eval(out))
        print(f"  run {i + 1}/{repeats}: {frames / runs[-1]['wall']:.1f} fps", flush=True)
    per_frame = lambda values: common.median(values) / frames * 1e3  # noqa: E731
    missing = [label for label in STAGES if not all(r["totals"].get(label) for r in runs)]
    if missing:
        print(f"  NOT TIMED (bench/video_stages.py wraps a function the run no longer calls): {'; '.join(missing)}")
    rows = [[label, f"{per_frame([r['totals'].get(label, 0.0) for r in runs]):.2f}"] for label in STAGES]
    accounted = per_frame([sum(r["totals"].values()) for r in runs])
    own, kids = per_frame([r["own"] for r in runs]), per_frame([r["kids"] for r in runs])
    wall = per_frame([r["wall"] for r in runs])
    cores = os.cpu_count() or 1
    rows += [["stages together", f"{accounted:.2f}"],
             ["portraitcli process, all threads", f"{own:.2f}"],
             ["  of which between the stages (Python, threads, start-up)", f"{own - accounted:.2f}"],
             ["ffmpeg decoder and encoder processes", f"{kids:.2f}"],
             [f"wall time per frame (x {cores} cores = {wall * cores:.1f} ms of machine)", f"{wall:.2f}"],
             ["utilisation: all CPU / machine time", f"{(own + kids) / (wall * cores):.0%}"]]
    common.print_table(["where", "CPU ms per frame (median run)"], rows,
                       title=f"portraitcli blur {clip.name}, {frames} frames, median of {repeats}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
