"""Video: `portraitcli blur` throughput against a plain ffmpeg transcode, live latency, and
memory against clip length.

    python bench/video.py                  # 720p and 1080p, 10 s clips, 3 repeats
    python bench/video.py --quick          # tiny clips: a smoke test only

1. Throughput: for each size, `portraitcli blur clip.mp4 out.mp4` next to
   `ffmpeg -i clip.mp4 -c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p -c:a copy` (the
   CLI's own default encoder settings), interleaved, median fps and the paired time ratio.
2. Live latency: portraitcli.pipeline.run_video(live=True) in this process on 720p frames
   (I420, as the capture source hands them to blur) delivered at 30 fps real-time, like a
   camera (a frame not taken in time is replaced by the next: counted as dropped);
   capture-to-sink latency in ms and frame intervals.
3. Memory: peak RSS of the portraitcli process (and of its whole tree, ffmpeg included) for a
   short and a long clip of the same size: it should not grow with the length.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

FPS = 30


def parse_size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


# --------------------------------------------------------------------------- 1. throughput


def ffmpeg_transcode_args(src: Path, dest: Path) -> list:
    return [common.ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", src,
            "-map", "0:v:0", "-map", "0:a?", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
            "-pix_fmt", "yuv420p", "-c:a", "copy", "-movflags", "+faststart", dest]


def portraitcli_blur_args(src: Path, dest: Path) -> list:
    return common.portraitcli_cmd() + ["blur", src, dest, "-q", "--overwrite"]


def measure_throughput(clips: dict[str, Path], workdir: Path, repeats: int) -> None:
    out_dir = workdir / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = {name: common.count_frames(p) for name, p in clips.items()}
    times = {(name, v): [] for name in clips for v in ("ffmpeg", "portraitcli")}
    kept = {key: True for key in times}  # every frame (and the audio) in every output
    for r in range(repeats):
        for name, clip in clips.items():
            variants = [("ffmpeg", ffmpeg_transcode_args), ("portraitcli", portraitcli_blur_args)]
            if r % 2:
                variants.reverse()
            for variant, make_args in variants:
                dest = out_dir / f"{variant}_{name}.mp4"
                result = common.run(make_args(clip, dest)).check()
                times[(name, variant)].append(result.seconds)
                got, audio = common.count_frames(dest), common.has_audio(dest)
                kept[(name, variant)] &= got == frames[name] and audio
                print(f"  repeat {r + 1}/{repeats} {name:>9} {variant:<11} {result.seconds:7.2f} s  "
                      f"{frames[name] / result.seconds:6.1f} fps  {got}/{frames[name]} frames"
                      f"{'' if audio else ', NO AUDIO'}", flush=True)
    print()
    rows = []
    for name in clips:
        base, cli = times[(name, "ffmpeg")], times[(name, "portraitcli")]
        ratio = common.median([c / b for c, b in zip(cli, base)])
        for variant, key, runs in (("ffmpeg transcode", "ffmpeg", base), ("portraitcli blur", "portraitcli", cli)):
            ours = key == "portraitcli"
            rows.append([name, variant, frames[name], "yes" if kept[(name, key)] else "NO",
                         frames[name] / common.median(runs), common.median(runs), common.spread(runs),
                         ratio if ours else 1.0])
    common.print_table(["clip", "command", "frames", "all frames + audio kept", "fps", "median s", "s range",
                        "x ffmpeg time"], rows,
                       title=f"Video throughput, {FPS} fps clips with AAC audio, libx264 veryfast crf 20, "
                             f"median of {repeats}")


# --------------------------------------------------------------------------- 2. live latency


class TimingSink:
    """A sink that only notes when each frame arrives (what a display or virtual camera would
    show); pts carries the capture index."""

    def __init__(self):
        self.arrivals: dict[int, float] = {}

    def write(self, pixels, pts: int) -> None:
        self.arrivals[pts] = time.perf_counter()


class Camera:
    """Yields (index, pts, rgb) at a fixed real-time rate from a short loop of frames.

    Frame i exists from t0 + i / fps. If the consumer comes back later than the next frame's
    time, the frames it missed are dropped (a camera keeps only the newest)."""

    def __init__(self, frames: list, fps: float, total: int):
        self.frames, self.fps, self.total = frames, fps, total
        self.captured: dict[int, float] = {}
        self.dropped = 0

    def _frame(self, i: int):
        n = len(self.frames)
        period = max(1, 2 * n - 2)  # ping-pong: no jump when the loop restarts
        k = i % period
        return self.frames[k if k < n else period - k]

    def __iter__(self):
        t0 = time.perf_counter() + 0.05
        i, sent = 0, 0
        while i < self.total:
            due = t0 + i / self.fps
            now = time.perf_counter()
            if now < due:
                time.sleep(due - now)
            elif now - due >= 1 / self.fps:
                skip = min(int((now - due) * self.fps), self.total - i)
                self.dropped += skip
                i += skip
                continue
            self.captured[i] = due
            yield sent, i, self._frame(i)
            i += 1
            sent += 1


def load_frames(clip: Path, count: int) -> list:
    from portraitcli.media.video import VideoReader

    frames = []
    with VideoReader(clip) as reader:
        for _, _, rgb in reader:
            frames.append(rgb.copy())
            if len(frames) >= count:
                break
    return frames


def measure_live(clip: Path, seconds: float, loop_frames: int) -> None:
    import cv2

    from portraitcli.media.devices import camera_frame
    from portraitcli.options import RenderOptions
    from portraitcli.pipeline import run_video
    from portraitcli.compositing.render import Renderer
    from portraitcli.matting.segmenter import Segmenter

    # the frames as `portraitcli blur /dev/video0` gets them from the capture device (I420)
    frames = [camera_frame(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), planar=True)
              for rgb in load_frames(clip, loop_frames)]
    height, width = frames[0].shape
    segmenter = Segmenter()
    renderer = Renderer(RenderOptions(command="blur"))
    for frame in frames[:3]:  # warm-up of the same path: first inference and allocations off the clock
        renderer(frame, segmenter.finish_frame(segmenter.model_frame(frame), frame))
    segmenter.reset()
    camera = Camera(frames, FPS, int(seconds * FPS))
    sink = TimingSink()
    stats = run_video(iter(camera), sink, segmenter, renderer, live=True, drop_stale=True)
    interval_ms = 1000 / FPS
    capture = [(sink.arrivals[i] - camera.captured[i]) * 1000 for i in sink.arrivals]
    pipeline = [s * 1000 for s in stats.latencies]
    rows = []
    for name, values in (("capture to sink", capture), ("pipeline's own (source yield to sink)", pipeline)):
        med, p95 = common.median(values), common.percentile(values, 95)
        rows.append([name, med, p95, med / interval_ms, p95 / interval_ms])
    common.print_table(["latency", "median ms", "p95 ms", "median frames", "p95 frames"],
                       rows, title=f"Live latency: blur at {width}x{height}, camera at {FPS} fps for {seconds:g} s "
                                   f"(frame interval {interval_ms:.1f} ms), provider {segmenter.provider}")
    offered = len(camera.captured) + camera.dropped
    dropped = camera.dropped + stats.dropped
    print(f"  frames offered {offered}, processed {stats.frames}, dropped {dropped} "
          f"({100 * dropped / max(1, offered):.1f}%: {camera.dropped} by the camera, {stats.dropped} stale in the "
          f"pipeline), output rate {stats.fps:.1f} fps\n", flush=True)


# --------------------------------------------------------------------------- 3. memory


def measure_memory(short: Path, long: Path, workdir: Path) -> None:
    out_dir = workdir / "out"
    rows, results = [], {}
    for name, clip in (("short", short), ("long", long)):
        frames = common.count_frames(clip)
        result = common.run(portraitcli_blur_args(clip, out_dir / f"memory_{name}.mp4"), monitor=True,
                            interval=0.1).check()
        results[name] = result
        # tree RSS over the run, at quarters of its duration: flat means streaming
        timeline = result.timeline
        quarters = []
        for q in (0.25, 0.5, 0.75, 1.0):
            at = [mib for t, mib in timeline if t <= q * result.seconds]
            quarters.append(f"{max(at):.0f}" if at else "-")
        rows.append([name, frames, frames / FPS, result.root_peak_mib, result.tree_peak_mib, " / ".join(quarters)])
    common.print_table(["clip", "frames", "seconds", "portraitcli peak MiB", "tree peak MiB (with ffmpeg)",
                        "tree MiB by 25/50/75/100% of run"], rows,
                       title=f"Memory of `portraitcli blur` against clip length ({short.stem.split('_')[1]})")
    growth = results["long"].root_peak_mib / max(1e-6, results["short"].root_peak_mib)
    print(f"  long/short peak RSS of the portraitcli process: {growth:.3f} (1.000: flat in clip length)\n",
          flush=True)


def main() -> None:
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=None, help="comma-separated WxH (default 1280x720,1920x1080)")
    parser.add_argument("--seconds", type=float, default=None, help="clip length for throughput (default 10)")
    parser.add_argument("--live-seconds", type=float, default=None, help="live latency run length (default 10)")
    parser.add_argument("--live-size", default=None, help="live frame size (default 1280x720)")
    parser.add_argument("--long-seconds", type=float, default=None, help="long clip for the memory check (default 60)")
    parser.add_argument("--memory-size", default=None, help="clip size for the memory check (default 1280x720)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: throughput,live,memory")
    args = parser.parse_args()
    q = args.quick
    sizes = [parse_size(s) for s in (args.sizes or ("320x180,480x270" if q else "1280x720,1920x1080")).split(",")]
    seconds = args.seconds or (2 if q else 10)
    live_seconds = args.live_seconds or (2 if q else 10)
    live_size = parse_size(args.live_size or ("320x180" if q else "1280x720"))
    long_seconds = args.long_seconds or (4 if q else 60)
    memory_size = parse_size(args.memory_size or ("320x180" if q else "1280x720"))
    repeats = args.repeats or (1 if q else 3)
    skip = set(filter(None, args.skip.split(",")))

    common.print_header("portraitcli video benchmark", {
        "sizes": ",".join(f"{w}x{h}" for w, h in sizes), "seconds": seconds, "repeats": repeats,
        "live": f"{live_size[0]}x{live_size[1]} {live_seconds:g}s", "memory": f"{memory_size[0]}x{memory_size[1]} "
        f"{seconds:g}s vs {long_seconds:g}s", "workdir": args.workdir})
    clip = lambda w, h, s: common.make_clip(common.clip_path(args.workdir, w, h, s, FPS), w, h, s, FPS)  # noqa: E731
    if "throughput" not in skip:
        clips = {f"{h}p" if w * 9 == h * 16 else f"{w}x{h}": clip(w, h, seconds) for w, h in sizes}
        measure_throughput(clips, args.workdir, repeats)
    if "live" not in skip:
        # a 2 s loop of decoded frames (ping-pong) stands in for the camera
        measure_live(clip(*live_size, seconds), live_seconds, loop_frames=int(min(seconds, 2) * FPS))
    if "memory" not in skip:
        measure_memory(clip(*memory_size, seconds), clip(*memory_size, long_seconds), args.workdir)


if __name__ == "__main__":
    main()
