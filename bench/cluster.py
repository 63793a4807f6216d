"""The Ray path (--ray) against a local run on the same machine, and long videos in pieces.

    python bench/cluster.py             # 24 photos of 4000x3000 (12 MP), a 10 s 720p clip, a 60 s 720p clip
    python bench/cluster.py --quick     # tiny inputs: a smoke test only (figures meaningless)

A real Ray cluster is started on this machine (a head and one more node, one CPU each, in a
loopback-only network namespace: tests/ray_loopback.py; needs root). Every command, local
ones included, runs inside that namespace so both see the same machine. Runs are interleaved
(local, ray, local, ...) and medians reported:

- photos/s: `blur --jobs 2` against `blur --ray` (two actors): the engine's overhead;
- video fps: one clip, `blur` locally against one actor;
- long video: one clip whole (`--split-over 0`) against pieces over two local processes
  (`--jobs 2 --split-over 1`) and over the cluster's two actors (`--ray --split-over 1`);
- the driver's peak memory for a folder of N and 4N small photos on the cluster (flat).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402
from tests.ray_loopback import LoopbackCluster, namespaces_available  # noqa: E402


def interleaved(cluster, variants: dict[str, list], repeats: int, out_of: dict[str, Path]) -> dict[str, list]:
    seconds = {name: [] for name in variants}
    for r in range(repeats):
        for name, args in variants.items():
            common.fresh_dir(out_of[name])
            result = common.run(cluster.command([str(a) for a in args]), env=cluster.env).check()
            seconds[name].append(result.seconds)
            print(f"  repeat {r + 1}/{repeats} {name:<28} {result.seconds:7.2f} s", flush=True)
    return seconds


def photos(cluster, workdir: Path, count: int, size: str, repeats: int) -> None:
    width, height = (int(v) for v in size.split("x"))
    paths = common.photo_set(workdir, count, width, height)
    src = common.fresh_dir(workdir / f"cluster_batch_{size}_{count}")
    for p in paths:
        (src / p.name).symlink_to(p)
    cli = common.portraitcli_cmd()
    out = {"local --jobs 2": workdir / "out" / "local", "ray (2 actors)": workdir / "out" / "ray"}
    variants = {"local --jobs 2": cli + ["blur", src, out["local --jobs 2"], "--jobs", 2, "-q"],
                "ray (2 actors)": cli + ["blur", src, out["ray (2 actors)"], "--ray", cluster.address, "-q"]}
    seconds = interleaved(cluster, variants, repeats, out)
    base = seconds["local --jobs 2"]
    rows = [[name, count / common.median(runs), common.median(runs), common.spread(runs),
             common.median([t / b for t, b in zip(runs, base)])] for name, runs in seconds.items()]
    common.print_table(["run", "photos/s", "median s", "s range", "x local time"], rows,
                       title=f"blur, {count} photos of {size} (the Ray run includes connecting and starting actors)")


def clip_runs(cluster, workdir: Path, size: str, seconds_long: float, repeats: int, extra: dict[str, list],
              title: str) -> None:
    """One clip through `blur` with each variant's extra arguments; the first is the baseline.
    Every output is checked: all frames there, audio kept."""
    width, height = (int(v) for v in size.split("x"))
    clip = common.make_clip(common.clip_path(workdir, width, height, seconds_long), width, height, seconds_long)
    frames = common.count_frames(clip)
    cli = common.portraitcli_cmd()
    out = {name: workdir / "out" / f"clip{i}" for i, name in enumerate(extra)}
    variants = {name: cli + ["blur", clip, out[name] / "o.mp4", "-q"] + args for name, args in extra.items()}
    seconds = interleaved(cluster, variants, repeats, out)
    for name in extra:
        written = common.count_frames(out[name] / "o.mp4")
        if written != frames or not common.has_audio(out[name] / "o.mp4"):
            raise RuntimeError(f"{name}: {written} frames of {frames}, or no audio")
    base = next(iter(seconds.values()))
    rows = [[name, frames / common.median(runs), common.median(runs), common.spread(runs),
             common.median([b / t for t, b in zip(runs, base)])] for name, runs in seconds.items()]
    common.print_table(["run", "fps", "median s", "s range", "speed-up"], rows,
                       title=f"blur, {title}: {size} {seconds_long:g} s ({frames} frames)")


def video(cluster, workdir: Path, size: str, seconds_long: float, repeats: int) -> None:
    clip_runs(cluster, workdir, size, seconds_long, repeats,
              {"local": ["--split-over", 0], "ray (1 actor)": ["--split-over", 0, "--ray", cluster.address]},
              "one clip, not split")


def long_video(cluster, workdir: Path, size: str, seconds_long: float, repeats: int) -> None:
    clip_runs(cluster, workdir, size, seconds_long, repeats,
              {"whole, local": ["--split-over", 0], "pieces, local --jobs 2": ["--jobs", 2, "--split-over", 1],
               "pieces, ray (2 actors)": ["--split-over", 1, "--ray", cluster.address]},
              "a long clip in pieces")


def driver_memory(cluster, workdir: Path, count: int) -> None:
    cli = common.portraitcli_cmd()
    rows = []
    for n in (count, 4 * count):
        src = workdir / f"tiny_{n}"
        common.tiny_photo_set(src, n)
        out = common.fresh_dir(workdir / "out" / "tiny")
        result = common.run(cluster.command([str(a) for a in cli + ["segment", src, out, "-q", "--ray",
                                                                     cluster.address]]), monitor=True,
                            env=cluster.env).check()
        rows.append([n, result.seconds, n / result.seconds, result.root_peak_mib])
    common.print_table(["photos", "s", "photos/s", "driver peak MiB"], rows,
                       title="The driver's memory on a growing folder of 64x48 photos (--ray)")


def main() -> None:
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, help="photos (default 24, quick 4)")
    parser.add_argument("--size", help="photo size (default 4000x3000, quick 320x240)")
    parser.add_argument("--video-size", help="clip size (default 1280x720, quick 160x120)")
    parser.add_argument("--video-seconds", type=float, help="the clip not split (default 10, quick 2)")
    parser.add_argument("--long-seconds", type=float, help="the long clip (default 60, quick 4)")
    parser.add_argument("--memory-count", type=int, help="small photos for the driver's memory (default 500, quick 20)")
    parser.add_argument("--skip", default="", help="comma-separated: photos,video,long,memory")
    args = parser.parse_args()
    q = args.quick
    count = args.count or (4 if q else 24)
    size = args.size or ("320x240" if q else "4000x3000")
    video_size = args.video_size or ("160x120" if q else "1280x720")
    video_seconds = args.video_seconds or (2 if q else 10)
    long_seconds = args.long_seconds or (4 if q else 60)
    memory_count = args.memory_count or (20 if q else 500)
    repeats = args.repeats or (1 if q else 3)
    skip = set(filter(None, args.skip.split(",")))
    reason = namespaces_available()
    if reason:
        sys.exit(f"bench/cluster.py needs a private network namespace: {reason}")
    common.print_header("portraitcli: local against a Ray cluster on this machine",
                        {"photos": f"{count} x {size}", "clip": f"{video_size} {video_seconds:g} s",
                         "long clip": f"{video_size} {long_seconds:g} s", "repeats": repeats,
                         "cluster": "head + 1 node, 1 CPU each, loopback-only namespace"})
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(common.REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    with LoopbackCluster(nodes=2, cpus_per_node=1, env=env) as cluster:
        if "photos" not in skip:
            photos(cluster, args.workdir, count, size, repeats)
        if "video" not in skip:
            video(cluster, args.workdir, video_size, video_seconds, repeats)
        if "long" not in skip:
            long_video(cluster, args.workdir, video_size, long_seconds, repeats)
        if "memory" not in skip:
            driver_memory(cluster, args.workdir, memory_count)


if __name__ == "__main__":
    main()
