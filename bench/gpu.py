"""CPU-only against CUDA on one machine, in one run: the network's ms per batch, 12 MP `blur`
photos/s, and 1080p and 4K `blur` fps against a plain ffmpeg transcode there.

    python bench/gpu.py                    # on a GPU machine (onnxruntime-gpu installed; docs/gpu.md)
    python bench/gpu.py --quick            # tiny sizes: a smoke test (runs on a CPU-only machine too)

1. Model: the bundled network on random-free inputs (the astronaut at 256x256), batches of
   1, 8 and 32, median ms per batch and per image, on the CPU (all cores) and on CUDA.
2. Photos: `portraitcli blur --device cpu` (one process per core) and `--device cuda` (photos
   batched through the GPU, CPU stages on every core) on portraits of 4000x3000, beside the
   Pillow decode+encode floor with as many processes (bench/photos.py's floor).
3. Video: `portraitcli blur --device cpu` and `--device cuda` on 10 s 30 fps clips at 1080p
   and 2160p, beside the plain transcode (bench/video.py's: x264 veryfast crf 20), with every
   frame and the audio checked in each output.
Without a usable CUDA the CUDA columns say why and the CPU figures are still printed.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import photos  # noqa: E402  (its floor worker and batch commands)
import video  # noqa: E402  (its plain transcode)

FPS = 30


def cuda_status() -> tuple[bool, str]:
    """(usable, why not): CUDA that starts and runs a first inference of the bundled model."""
    import onnxruntime

    from portraitcli.errors import ModelError
    from portraitcli.matting.model import PortraitModel, onnxruntime_builds

    builds = onnxruntime_builds()
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return False, f"this onnxruntime build has no CUDAExecutionProvider (installed: {', '.join(builds)})"
    try:
        PortraitModel(device="cuda")
    except ModelError as exc:
        return False, str(exc)
    return True, ""


# --------------------------------------------------------------------------- 1. the network


def measure_model(devices: list[str], batches: list[int], runs: int) -> None:
    import numpy as np

    from portraitcli.matting.model import PortraitModel

    small = common.astronaut()[::2, ::2]
    rows = []
    for device in devices:
        model = PortraitModel(device=device)
        for batch in batches:
            x = np.stack([model.to_input(small)] * batch)
            for _ in range(3):  # warm-up: allocations, CUDA kernels chosen
                model.session.run(None, {model.input_name: x})
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                model.session.run(None, {model.input_name: x})
                times.append(time.perf_counter() - start)
            ms = common.median(times) * 1000
            rows.append([device, model.provider, batch, ms, ms / batch, common.spread([t * 1000 for t in times])])
    common.print_table(["device", "provider", "batch", "ms per batch", "ms per image", "ms range"], rows,
                       title=f"The network alone, 256x256 inputs (fp32), median of {runs} runs")


# --------------------------------------------------------------------------- 2. photos


def measure_photos(workdir: Path, devices: list[str], count: int, width: int, height: int, repeats: int) -> None:
    paths = common.photo_set(workdir, count, width, height, kind="portrait")
    src = workdir / f"gpu_batch_{width}x{height}_{count}"
    src.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        p.unlink()
    for p in paths:
        (src / p.name).symlink_to(p)
    jobs = os.cpu_count() or 1
    variants = ["floor-jpeg"] + [f"blur --device {device}" for device in devices]
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(repeats):
        for variant in variants:
            out = common.fresh_dir(workdir / "out" / ("gpu_" + variant.replace(" ", "_").replace("-", "")))
            if variant == "floor-jpeg":
                args = photos.batch_args("floor-jpeg", src, out, jobs)
            else:
                args = common.portraitcli_cmd() + ["blur", src, out, "-q", "--overwrite",
                                                   "--device", variant.split()[-1], "--jobs", jobs]
            seconds[variant].append(photos.timed_batch(variant, args, out, count, f"repeat {r + 1}/{repeats}"))
    floor = seconds["floor-jpeg"]
    rows = []
    for variant, runs in seconds.items():
        rate = count / common.median(runs)
        ratio = common.median([t / f for t, f in zip(runs, floor)])
        rows.append([variant, rate, common.median(runs), common.spread(runs), ratio])
    common.print_table(["variant", "photos/s", "median s", "s range", "x floor time"], rows,
                       title=f"{count} portraits of {width}x{height}, JPEG q95 out, {jobs} cores "
                             f"(CPU: --jobs {jobs} processes; CUDA: photos batched on the GPU)")


# --------------------------------------------------------------------------- 3. video


def measure_video(workdir: Path, devices: list[str], sizes: list[tuple[int, int]], seconds: float,
                  repeats: int) -> None:
    out_dir = workdir / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for width, height in sizes:
        clip = common.make_clip(common.clip_path(workdir, width, height, seconds, FPS), width, height, seconds, FPS)
        frames = common.count_frames(clip)
        variants = ["ffmpeg transcode"] + [f"blur --device {d}" for d in devices]
        times: dict[str, list[float]] = {v: [] for v in variants}
        kept = {v: True for v in variants}
        for r in range(repeats):
            for variant in variants:
                dest = out_dir / f"gpu_{height}p_{variant.split()[-1]}.mp4"
                if variant.startswith("ffmpeg"):
                    args = video.ffmpeg_transcode_args(clip, dest)
                else:
                    args = common.portraitcli_cmd() + ["blur", clip, dest, "-q", "--overwrite",
                                                       "--device", variant.split()[-1]]
                result = common.run(args).check()
                times[variant].append(result.seconds)
                kept[variant] &= common.count_frames(dest) == frames and common.has_audio(dest)
                print(f"  repeat {r + 1}/{repeats} {height}p {variant:<20} {result.seconds:7.2f} s  "
                      f"{frames / result.seconds:6.1f} fps", flush=True)
        base = times["ffmpeg transcode"]
        for variant in variants:
            runs = times[variant]
            fps = frames / common.median(runs)
            ratio = common.median([t / b for t, b in zip(runs, base)])
            rows.append([f"{height}p", variant, frames, "yes" if kept[variant] else "NO", fps, ratio])
    common.print_table(["clip", "command", "frames", "all frames + audio kept", "fps", "x transcode time"],
                       rows, title=f"Video blur, {seconds:g} s {FPS} fps clips with AAC, x264 veryfast crf 20, "
                                   f"median of {repeats}")


def main() -> None:
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=None, help="portraits (default 64, quick 4)")
    parser.add_argument("--size", default=None, help="photo WIDTHxHEIGHT (default 4000x3000, quick 800x600)")
    parser.add_argument("--video-sizes", default=None, help="comma-separated WxH (default 1920x1080,3840x2160)")
    parser.add_argument("--seconds", type=float, default=None, help="clip length (default 10, quick 1)")
    parser.add_argument("--runs", type=int, default=None, help="network runs per batch size (default 50, quick 5)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: model,photos,video")
    args = parser.parse_args()
    q = args.quick
    count = args.count or (4 if q else 64)
    width, height = (int(v) for v in (args.size or ("800x600" if q else "4000x3000")).lower().split("x"))
    sizes = [tuple(int(v) for v in s.lower().split("x"))
             for s in (args.video_sizes or ("320x180,640x360" if q else "1920x1080,3840x2160")).split(",")]
    seconds = args.seconds or (1 if q else 10)
    repeats = args.repeats or (1 if q else 3)
    runs = args.runs or (5 if q else 50)
    skip = set(filter(None, args.skip.split(",")))

    usable, why = cuda_status()
    devices = ["cpu", "cuda"] if usable else ["cpu"]
    common.print_header("portraitcli CPU against CUDA", {
        "cuda": "usable" if usable else f"NOT usable: {why}", "photos": f"{count} of {width}x{height}",
        "video": ",".join(f"{w}x{h}" for w, h in sizes) + f" {seconds:g}s", "repeats": repeats,
        "workdir": args.workdir})
    if not usable:
        print(f"CUDA figures: none ({why}); CPU figures only.\n", flush=True)
    if "model" not in skip:
        measure_model(devices, [1, 8, 32] if not q else [1, 4], runs)
    if "photos" not in skip:
        measure_photos(args.workdir, devices, count, width, height, repeats)
    if "video" not in skip:
        measure_video(args.workdir, devices, sizes, seconds, repeats)


if __name__ == "__main__":
    main()
