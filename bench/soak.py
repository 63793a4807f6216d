"""Soak tests: a very large batch, a long video, and Ctrl-C in the middle of work then resume.

    python bench/soak.py                   # 10,000 photos, 10 min of 1080p, interrupt/resume
    python bench/soak.py --quick           # small sizes: a smoke test only

Each stage prints peak memory, files done and failed, and leftovers: temporary files
(`.portraitcli-tmp`) and outputs that do not decode, anywhere under the output folder. Leftovers
must be 0. An interrupted run must exit with 130 and leave no child processes behind; the
re-run must finish everything, skipping what was already done.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from portraitcli.media.atomic import TEMP_MARK  # noqa: E402

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm"}


# --------------------------------------------------------------------------- checks


def leftovers(out: Path) -> tuple[list[Path], list[Path]]:
    """(temporary files, outputs that do not decode) anywhere under out."""
    temps, broken = [], []
    if not out.exists():
        return temps, broken
    for root, dirs, files in os.walk(out):
        for name in dirs + files:
            path = Path(root) / name
            if TEMP_MARK in name:
                temps.append(path)
            elif name in files and path.suffix.lower() in PHOTO_SUFFIXES and not common.is_valid_image(path):
                broken.append(path)
            elif name in files and path.suffix.lower() in VIDEO_SUFFIXES and not valid_video(path):
                broken.append(path)
    return temps, broken


def valid_video(path: Path) -> bool:
    try:
        return common.count_frames(path) > 0
    except Exception:  # noqa: BLE001 - unreadable means not valid
        return False


def group_members(pgid: int) -> list[int]:
    """Processes still alive in a process group (children a run left behind)."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().decode("ascii", "replace").rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return alive


def report_counts(path: Path) -> dict[str, int]:
    try:
        return json.loads(path.read_text())["summary"]
    except (OSError, ValueError, KeyError):
        return {"done": -1, "skipped": -1, "failed": -1}


def quarters(result: common.RunResult) -> str:
    """Tree RSS (MiB) at the end of each quarter of the run: flat means no growth."""
    marks = []
    for q in (0.25, 0.5, 0.75, 1.0):
        window = [mib for t, mib in result.timeline if (q - 0.25) * result.seconds <= t <= q * result.seconds]
        marks.append(f"{max(window):.0f}" if window else "-")
    return " / ".join(marks)


# --------------------------------------------------------------------------- stages


def stage_batch(workdir: Path, files: int, command: list[str], jobs: int, summary: list) -> None:
    src = workdir / f"soak_tiny_{files}"
    common.tiny_photo_set(src, files)
    out = common.fresh_dir(workdir / "out" / "soak_batch")
    report = workdir / "out" / "soak_batch.json"
    print(f"batch: {files} photos of 64x48 ...", flush=True)
    result = common.run(common.portraitcli_cmd() + command + [src, out, "--jobs", jobs, "-q", "--report", report],
                        monitor=True, interval=0.25)
    counts = report_counts(report)
    temps, broken = leftovers(out)
    outputs = sum(1 for p in out.rglob("*") if p.is_file() and TEMP_MARK not in p.name)
    print(f"  {result.seconds:.1f} s, {files / result.seconds:.1f} files/s, exit {result.returncode}; "
          f"tree RSS by quarter of the run (MiB): {quarters(result)}\n", flush=True)
    ok = result.returncode == 0 and counts["done"] == files and outputs == files and not temps and not broken
    summary.append(["large batch", files, counts["done"], counts["failed"], len(temps) + len(broken),
                    result.root_peak_mib, result.tree_peak_mib, result.returncode, "yes" if ok else "NO"])


def stage_video(workdir: Path, seconds: float, size: tuple[int, int], command: list[str], summary: list) -> None:
    width, height = size
    clip = common.make_clip(common.clip_path(workdir, width, height, seconds, 30, tag="_crf28"), width, height,
                            seconds, 30, crf=28)
    frames = common.count_frames(clip)
    out = common.fresh_dir(workdir / "out" / "soak_video")
    dest = out / "long.mp4"
    print(f"long video: {frames} frames of {width}x{height} ...", flush=True)
    result = common.run(common.portraitcli_cmd() + command + [clip, dest, "-q"], monitor=True, interval=0.5)
    got = common.count_frames(dest) if dest.exists() else 0
    audio = dest.exists() and common.has_audio(dest)
    temps, broken = leftovers(out)
    print(f"  {result.seconds:.1f} s, {frames / result.seconds:.1f} fps, exit {result.returncode}, output "
          f"{got} frames, audio {'yes' if audio else 'NO'}; tree RSS by quarter of the run (MiB): "
          f"{quarters(result)}\n", flush=True)
    ok = result.returncode == 0 and got == frames and audio and not temps and not broken
    summary.append([f"long video {seconds:g} s", frames, got, 0 if ok else 1, len(temps) + len(broken),
                    result.root_peak_mib, result.tree_peak_mib, result.returncode, "yes" if ok else "NO"])


def interrupt_once(args: list, out: Path, after: float, to_group: bool) -> tuple[int, float, int, str]:
    """Start args in a new session, wait until it has written something and then `after`
    seconds more, send SIGINT (to the whole group, like Ctrl-C, or to the main process only).
    Returns (exit code, seconds from signal to exit, processes left in the group, stderr tail)."""
    proc = subprocess.Popen([str(a) for a in args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    stderr: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and any(p.is_file() for p in out.rglob("*")):  # temporaries count: work has begun
            break
        time.sleep(0.05)
    time.sleep(after)
    if proc.poll() is not None:
        raise RuntimeError("the run finished before it could be interrupted: "
                           "use more files or a shorter --interrupt-after")
    sent = time.perf_counter()
    if to_group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.perf_counter() - sent
    time.sleep(1.0)
    orphans = [pid for pid in group_members(proc.pid) if pid != proc.pid]
    for pid in orphans + ([proc.pid] if rc is None else []):  # our own descendants: clean up
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if rc is None:
        proc.wait()
        rc = -1
    reader.join(timeout=5)
    tail = " | ".join(b"".join(stderr).decode("utf-8", "replace").strip().splitlines()[-6:])
    return rc, took, len(orphans), tail


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and TEMP_MARK not in p.name] if folder.exists() else []


def interrupt_cases(src: Path, count: int, clip: Path, out: Path, report: Path, command: list[str], jobs: int):
    """(name, signal the group?, args, inputs, outputs the CLI will count as done, complete?)"""
    cli = common.portraitcli_cmd() + command
    clip_frames = common.count_frames(clip)
    photos = cli + [src, out, "--jobs", jobs, "-q", "--report", report]
    video_dest = out / "clip.mp4"
    video = cli + [clip, video_dest, "-q", "--report", report]
    sequence_dest = out / "frames"
    sequence = cli + [clip, f"{sequence_dest}{os.sep}", "-q", "--report", report]

    def photos_done():
        return len(_files(out))

    def video_done():
        return int(video_dest.exists())

    def sequence_done():
        return int(sequence_dest.exists())

    return [
        ("photos, Ctrl-C (group)", True, photos, count, photos_done, lambda: photos_done() == count),
        ("photos, kill -INT main", False, photos, count, photos_done, lambda: photos_done() == count),
        ("video, Ctrl-C (group)", True, video, 1, video_done,
         lambda: video_dest.exists() and common.count_frames(video_dest) == clip_frames),
        ("video, kill -INT main", False, video, 1, video_done,
         lambda: video_dest.exists() and common.count_frames(video_dest) == clip_frames),
        ("video to PNG sequence, Ctrl-C", True, sequence, 1, sequence_done,
         lambda: len(_files(sequence_dest)) == clip_frames),
    ]


def stage_interrupt(workdir: Path, count: int, size: tuple[int, int], video_seconds: float, after: float,
                    command: list[str], jobs: int, rounds: int, summary: list) -> None:
    width, height = size
    src = workdir / f"soak_interrupt_{width}x{height}_{count}"
    src.mkdir(parents=True, exist_ok=True)
    for p in common.photo_set(workdir, count, width, height)[:count]:
        if not (src / p.name).exists():
            (src / p.name).symlink_to(p)
    clip = common.make_clip(common.clip_path(workdir, 640, 360, video_seconds, 30), 640, 360, video_seconds, 30)
    out, report = workdir / "out" / "soak_interrupt", workdir / "out" / "soak_interrupt.json"
    rows = []
    cases = interrupt_cases(src, count, clip, out, report, command, jobs)
    for round_, (name, to_group, args, total, done, complete) in ((r, c) for r in range(rounds) for c in cases):
        if rounds > 1:
            name = f"{name} #{round_ + 1}"
        common.fresh_dir(out)
        report.unlink(missing_ok=True)
        rc, took, orphans, stderr_tail = interrupt_once(args, out, after, to_group)
        if rc != 130:
            print(f"  {name}: exit {rc} (not 130); stderr: {stderr_tail or '(empty)'}", flush=True)
        temps, broken = leftovers(out)
        done_before = done()
        resumed = common.run(args, monitor=True, interval=0.25)
        counts = report_counts(report)
        temps2, broken2 = leftovers(out)
        finished = complete()
        ok = (rc == 130 and orphans == 0 and not temps and not broken and resumed.returncode == 0
              and counts["skipped"] == done_before and counts["done"] == total - done_before
              and counts["failed"] == 0 and finished and not temps2 and not broken2)
        print(f"  {name}: exit {rc} after {took:.2f} s, {orphans} processes left, {done_before}/{total} done, "
              f"{len(temps)} temp + {len(broken)} broken; resume: exit {resumed.returncode}, "
              f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed, "
              f"{len(temps2) + len(broken2)} leftovers, outputs complete: {'yes' if finished else 'NO'}", flush=True)
        rows.append([name, rc, f"{took:.2f}", orphans, f"{done_before}/{total}", len(temps) + len(broken),
                     resumed.returncode, counts["done"], counts["skipped"], counts["failed"],
                     len(temps2) + len(broken2), "yes" if finished else "NO", "yes" if ok else "NO"])
        summary.append([f"interrupt: {name}", total, done() if finished else f"{done()} (incomplete)",
                        counts["failed"], len(temps) + len(broken) + len(temps2) + len(broken2),
                        resumed.root_peak_mib, resumed.tree_peak_mib, f"{rc}->{resumed.returncode}",
                        "yes" if ok else "NO"])
    print()
    common.print_table(["interrupt case", "exit", "s to exit", "procs left", "done before", "leftovers",
                        "resume exit", "done", "skipped", "failed", "leftovers after", "complete", "all as expected"], rows,
                       title=f"Interrupt after {after:g} s, then resume ({count} photos of {width}x{height}; "
                             f"a {video_seconds:g} s 360p clip)")


def main() -> None:
    parser = common.base_parser(__doc__.split("\n\n")[0], "rounds of the interrupt cases: an intermittent "
                                "failure needs several (default 2, quick 1)")
    parser.add_argument("--files", type=int, default=None, help="photos in the large batch (default 10000, quick 300)")
    parser.add_argument("--video-seconds", type=float, default=None, help="long video length (default 600, quick 6)")
    parser.add_argument("--video-size", default=None, help="long video size (default 1920x1080, quick 320x180)")
    parser.add_argument("--interrupt-files", type=int, default=None, help="photos in the interrupt batch (default 300)")
    parser.add_argument("--interrupt-size", default=None, help="their size (default 1280x960, quick 640x480)")
    parser.add_argument("--interrupt-video-seconds", type=float, default=None, help="clip to interrupt (default 30)")
    parser.add_argument("--interrupt-after", type=float, default=None, help="seconds of work before SIGINT (default 3)")
    parser.add_argument("--command", default="blur", help="portraitcli command and options, e.g. 'replace-bg -b red' (default blur)")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs for the photo batches (default 2)")
    parser.add_argument("--skip", default="", help="comma-separated stages to skip: batch,video,interrupt")
    args = parser.parse_args()
    q = args.quick
    files = args.files or (300 if q else 10000)
    video_seconds = args.video_seconds or (6 if q else 600)
    video_size = tuple(int(v) for v in (args.video_size or ("320x180" if q else "1920x1080")).split("x"))
    int_files = args.interrupt_files or (40 if q else 300)
    int_size = tuple(int(v) for v in (args.interrupt_size or ("640x480" if q else "1280x960")).split("x"))
    int_video = args.interrupt_video_seconds or (8 if q else 30)
    after = args.interrupt_after or (1.0 if q else 3.0)
    command = args.command.split()
    skip = set(filter(None, args.skip.split(",")))

    common.print_header("portraitcli soak test", {
        "command": args.command, "files": files, "video": f"{video_size[0]}x{video_size[1]} {video_seconds:g}s",
        "interrupt": f"{int_files} x {int_size[0]}x{int_size[1]}, {int_video:g}s clip, after {after:g}s",
        "jobs": args.jobs, "workdir": args.workdir})
    summary: list = []
    if "batch" not in skip:
        stage_batch(args.workdir, files, command, args.jobs, summary)
    if "video" not in skip:
        stage_video(args.workdir, video_seconds, video_size, command, summary)
    if "interrupt" not in skip:
        stage_interrupt(args.workdir, int_files, int_size, int_video, after, command, args.jobs,
                        args.repeats or (1 if q else 2), summary)
    common.print_table(["stage", "inputs", "done", "failed", "leftovers", "peak MiB (main)", "peak MiB (tree)",
                        "exit", "all as expected"], summary,
                       title="Soak summary (as expected: every output complete, no temporaries or broken files left)")


if __name__ == "__main__":
    main()
