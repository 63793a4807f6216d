"""Shared helpers for the benchmark scripts: machine facts, timing and statistics, a process
memory monitor, table printing, and cached synthetic test media (photos and clips).

The scripts import this as a sibling module (`python bench/NAME.py` puts bench/ on sys.path).
Nothing here is part of the portraitcli package.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the clip maker the tests use (tests/clips.py)

from portraitcli.media.video import ffmpeg_exe  # noqa: E402,F401 - the scripts call common.ffmpeg_exe()
SHARED_DATA = REPO.parent / "shared" / "data"
PYTHON = sys.executable


# --------------------------------------------------------------------------- command line


def base_parser(description: str, repeats_help: str = "repeats per measurement, interleaved; medians reported "
                                                      "(default 3, quick 1)") -> argparse.ArgumentParser:
    """Options every script takes: --workdir, --quick, --repeats."""
    parser = argparse.ArgumentParser(description=description)
    default_workdir = Path(tempfile.gettempdir()) / "portraitcli-bench"
    parser.add_argument("--workdir", type=Path, default=default_workdir,
                        help=f"where generated inputs are cached and outputs written (default {default_workdir})")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test (figures meaningless)")
    parser.add_argument("--repeats", type=int, default=None, help=repeats_help)
    return parser


def portraitcli_cmd() -> list[str]:
    """The installed console script next to this interpreter, else `python -m portraitcli`."""
    script = Path(PYTHON).parent / "portraitcli"
    return [str(script)] if script.exists() else [PYTHON, "-m", "portraitcli"]


# --------------------------------------------------------------------------- machine facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 ** 2
    except OSError:
        pass
    return None


def _git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{rev}{'+dirty' if dirty else ''}" if rev else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine_info() -> dict[str, str]:
    import cv2
    import onnxruntime
    import PIL

    import portraitcli
    from portraitcli.matting.model import BUNDLED_MODEL

    cores = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    mem = _mem_total_gib()
    ffmpeg_version = subprocess.run([ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True,
                                    text=True).stdout.split("\n", 1)[0]
    model_hash = hashlib.sha256(BUNDLED_MODEL.read_bytes()).hexdigest()[:12] if BUNDLED_MODEL.exists() else "missing"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu": f"{_cpu_model()}, {cores} logical cores ({usable} usable)",
        "memory": f"{mem:.1f} GiB" if mem else "?",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "libraries": f"numpy {np.__version__}, opencv {cv2.__version__}, onnxruntime {onnxruntime.__version__}, "
                     f"Pillow {PIL.__version__}",
        "ffmpeg": ffmpeg_version.replace("ffmpeg version ", "").split(" Copyright")[0],
        "portraitcli": f"{portraitcli.__version__} (git {_git_revision()}, model sha256 {model_hash})",
        "load average": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    }


def print_header(title: str, settings: dict | None = None) -> None:
    info = machine_info()
    print(f"== {title} ==")
    for key, value in info.items():
        print(f"  {key:<13} {value}")
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > 0.5 * cores:
        print(f"  WARNING: load average {load:.1f} on {cores} cores: other work is running, figures are unreliable")
    if settings:
        print("  settings      " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    print(flush=True)


# --------------------------------------------------------------------------- statistics and tables


def median(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def percentile(values, q: float) -> float:
    values = [v for v in values if v is not None]
    return float(np.percentile(values, q)) if values else float("nan")


def spread(values) -> str:
    """'min..max' of a list of numbers, for showing how noisy the repeats were."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return "-"
    return f"{min(values):.3g}..{max(values):.3g}"


def print_table(headers: list[str], rows: list[list], title: str | None = None) -> None:
    """Plain aligned table: numbers right-aligned, text left-aligned."""
    def cell(v):
        if isinstance(v, float):
            if v != v:
                return "n/a"
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    def numeric_cell(v) -> bool:
        if isinstance(v, (int, float)):
            return True
        try:
            float(str(v).rstrip("x%"))
            return True
        except ValueError:
            return str(v) in ("", "-", "n/a")

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)]
    numeric = [all(numeric_cell(row[i]) for row in rows) if rows else False for i in range(len(headers))]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    if title:
        print(title)
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in text:
        print(line(row))
    print(flush=True)


# --------------------------------------------------------------------------- running and measuring


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def _status_kib(pid: int, keys=("VmRSS", "VmHWM")) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                name = line.split(":", 1)[0]
                if name in keys:
                    out[name] = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return out


class MemoryMonitor(threading.Thread):
    """Polls /proc for a process and all its descendants (workers, ffmpeg children).

    root_peak_mib: the root process's own high-water mark (VmHWM, exact up to the last poll);
    tree_peak_mib: the largest sum of RSS over the whole tree seen at one poll;
    timeline: (seconds since start, tree RSS MiB) samples, for showing memory is flat over time.
    """

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.root_peak_kib = 0
        self.tree_peak_kib = 0
        self.timeline: list[tuple[float, float]] = []
        self._halt = threading.Event()
        self._t0 = time.perf_counter()

    def poll(self) -> None:
        root = _status_kib(self.pid)
        if not root:
            return
        self.root_peak_kib = max(self.root_peak_kib, root.get("VmHWM", 0), root.get("VmRSS", 0))
        children = _children_map()
        total, stack = 0, [self.pid]
        while stack:
            pid = stack.pop()
            total += _status_kib(pid, ("VmRSS",)).get("VmRSS", 0)
            stack += children.get(pid, [])
        self.tree_peak_kib = max(self.tree_peak_kib, total)
        self.timeline.append((time.perf_counter() - self._t0, total / 1024))

    def run(self) -> None:
        while not self._halt.is_set():
            self.poll()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    @property
    def root_peak_mib(self) -> float:
        return self.root_peak_kib / 1024

    @property
    def tree_peak_mib(self) -> float:
        return self.tree_peak_kib / 1024


@dataclass
class RunResult:
    args: list[str]
    seconds: float
    returncode: int
    stderr: str = ""
    root_peak_mib: float | None = None
    tree_peak_mib: float | None = None
    timeline: list[tuple[float, float]] = field(default_factory=list)

    def check(self, allowed=(0,)) -> "RunResult":
        if self.returncode not in allowed:
            tail = "\n".join(self.stderr.strip().splitlines()[-8:])
            raise RuntimeError(f"command failed (exit {self.returncode}): {' '.join(self.args)}\n{tail}")
        return self


def run(args: list[str], monitor: bool = False, timeout: float | None = None, env: dict | None = None,
        interval: float = 0.05) -> RunResult:
    """Run a command to completion, wall-clock timed; optionally monitor its memory."""
    args = [str(a) for a in args]
    # this checkout's portraitcli, whatever an installed console script points at
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    full_env = {**os.environ, "PYTHONPATH": path, **(env or {})}
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env)
    mon = None
    if monitor:
        mon = MemoryMonitor(proc.pid, interval)
        mon.start()
    stderr_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    seconds = time.perf_counter() - start
    reader.join(timeout=5)
    result = RunResult(args, seconds, rc, b"".join(stderr_chunks).decode("utf-8", "replace"))
    if mon is not None:
        mon.stop()
        result.root_peak_mib, result.tree_peak_mib, result.timeline = mon.root_peak_mib, mon.tree_peak_mib, \
            mon.timeline
    return result


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# --------------------------------------------------------------------------- synthetic photos


@functools.lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    """skimage's astronaut (512x512 RGB): a person photo every install has."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def make_photo(seed: int, width: int, height: int) -> np.ndarray:
    """A photo-like RGB uint8 image: the astronaut at a random scale and place over a textured
    gradient background, with sensor-like noise. Different for every seed."""
    import cv2

    rng = np.random.default_rng(seed)
    # background: a two-colour gradient along a random direction, plus soft blotches and stripes
    c0, c1 = rng.uniform(20, 235, 3).astype(np.float32), rng.uniform(20, 235, 3).astype(np.float32)
    angle = rng.uniform(0, np.pi)
    ys, xs = np.linspace(0, 1, height, dtype=np.float32)[:, None], np.linspace(0, 1, width, dtype=np.float32)[None]
    t = np.clip(xs * np.cos(angle) + ys * np.sin(angle), 0, None)
    t /= max(float(t.max()), 1e-6)
    blotches = cv2.resize(rng.normal(0, 18, (12, 16, 3)).astype(np.float32), (width, height),
                          interpolation=cv2.INTER_CUBIC)
    fine = cv2.resize(rng.normal(0, 10, (height // 16 + 1, width // 16 + 1)).astype(np.float32), (width, height),
                      interpolation=cv2.INTER_LINEAR)
    stripes = 6 * np.sin(xs * rng.uniform(20, 80) + ys * rng.uniform(5, 40))
    img = c0 + t[:, :, None] * (c1 - c0) + blotches + (fine + stripes)[:, :, None]
    # the person: astronaut scaled to 55..95% of the height, maybe mirrored, bottom-anchored
    person = astronaut()[:, ::-1] if rng.random() < 0.5 else astronaut()
    ph = int(height * rng.uniform(0.55, 0.95))
    pw = min(width, max(1, ph * person.shape[1] // person.shape[0]))
    person = cv2.resize(person, (pw, ph), interpolation=cv2.INTER_CUBIC if ph > 512 else cv2.INTER_AREA)
    x0 = int(rng.integers(0, width - pw + 1))
    y0 = height - ph - int(rng.integers(0, max(1, (height - ph) // 2 + 1)))
    img[y0:y0 + ph, x0:x0 + pw] = person
    img += rng.standard_normal((height, width, 3), dtype=np.float32) * rng.uniform(2, 6)
    return np.clip(img, 0, 255).astype(np.uint8)


def portrait_photo(seed: int, width: int, height: int) -> np.ndarray:
    """A portrait as a camera takes it: a crop of the astronaut around her face and shoulders
    (a different framing, exposure and mirroring per seed) upscaled to width x height, with
    sensor noise: luminance and chroma grain, stronger in the shadows. The person fills most of
    the frame, so every stage of the pipeline (edge band, focus, compositing) has real work."""
    import cv2

    rng = np.random.default_rng(seed)
    person = astronaut()[:, ::-1] if rng.random() < 0.5 else astronaut()
    aspect = width / height
    crop_h = int(rng.uniform(0.62, 0.9) * person.shape[0])
    crop_w = min(person.shape[1], int(crop_h * aspect))
    crop_h = min(crop_h, int(crop_w / aspect))
    y0 = int(rng.integers(0, person.shape[0] - crop_h + 1) * 0.3)  # keep the face in the frame
    x0 = int(rng.integers(0, person.shape[1] - crop_w + 1))
    crop = person[y0:y0 + crop_h, x0:x0 + crop_w].astype(np.float32)
    big = cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC)
    big *= rng.uniform(0.85, 1.15)  # exposure
    shot = np.sqrt(np.clip(255 - big, 0, 255) / 255)[..., :1]  # more noise in the shadows
    grain = rng.standard_normal((height, width, 1), dtype=np.float32) * rng.uniform(2, 5) * (0.5 + shot)
    chroma = rng.standard_normal((height, width, 3), dtype=np.float32) * rng.uniform(1, 2.5)
    return np.clip(big + grain + chroma, 0, 255).astype(np.uint8)


def photo_set(workdir: Path, count: int, width: int, height: int, quality: int = 95,
              kind: str = "scene") -> list[Path]:
    """count JPEGs of width x height, generated once and cached in workdir. kind: 'scene'
    (make_photo: the astronaut small on a generated backdrop) or 'portrait' (portrait_photo)."""
    from PIL import Image

    make = {"scene": make_photo, "portrait": portrait_photo}[kind]
    folder = workdir / f"{'photos' if kind == 'scene' else kind}_{width}x{height}_q{quality}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"img_{i:04d}.jpg" for i in range(count)]
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"generating {len(missing)} photos of {width}x{height} in {folder} ...", flush=True)
    for i, p in enumerate(paths):
        if p.exists():
            continue
        tmp = p.with_name(p.name + ".part")
        Image.fromarray(make(i, width, height)).save(tmp, format="JPEG", quality=quality)
        os.replace(tmp, p)
    return paths


def tiny_photo_set(folder: Path, count: int, width: int = 64, height: int = 48) -> list[Path]:
    """Many small JPEGs fast: crops of one photo with a per-file colour shift (for soak tests)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"t{i:06d}.jpg" for i in range(count)]
    if all(p.exists() for p in paths):
        return paths
    print(f"generating {count} photos of {width}x{height} in {folder} ...", flush=True)
    base = make_photo(12345, width * 4, height * 4)
    rng = np.random.default_rng(7)
    for i, p in enumerate(paths):
        if p.exists():
            continue
        x, y = int(rng.integers(0, width * 3)), int(rng.integers(0, height * 3))
        crop = base[y:y + height, x:x + width].astype(np.int16) + rng.integers(-20, 21, 3).astype(np.int16)
        Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8)).save(p, format="JPEG", quality=90)
    return paths


def is_valid_image(path: Path) -> bool:
    """Fully decodes the file: a truncated or half-written image fails."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
        return True
    except Exception:  # noqa: BLE001 - any decode error means not valid
        return False


# --------------------------------------------------------------------------- synthetic clips


def make_clip(path: Path, width: int, height: int, seconds: float, fps: int = 30, audio: bool = True,
              crf: int = 18, preset: str = "veryfast") -> Path:
    """An H.264 mp4 (+ AAC) clip made by the tests' clip maker: the astronaut photo gliding and
    bobbing over a scrolling pattern (colour bars, checker, gradient). Cached."""
    from tests.clips import make_person_clip, pattern_backdrop, sway

    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    side = (int(height * 0.8) // 2) * 2
    tmp = path.with_name(path.stem + ".part" + path.suffix)
    print(f"generating clip {path.name} ({width}x{height}, {seconds} s at {fps} fps) ...", flush=True)
    make_person_clip(tmp, astronaut(), seconds=seconds, fps=fps, size=(width, height), audio=audio,
                     backdrop=pattern_backdrop(), place=sway(), person_size=(side, side),
                     video_args=["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-g", str(2 * fps),
                                 "-pix_fmt", "yuv420p"],
                     extra_args=["-b:a", "128k"] * audio + ["-movflags", "+faststart"])
    os.replace(tmp, path)
    return path


def clip_path(workdir: Path, width: int, height: int, seconds: float, fps: int = 30, tag: str = "") -> Path:
    return workdir / "clips" / f"clip_{width}x{height}_{seconds:g}s_{fps}fps{tag}.mp4"


def count_frames(path: Path) -> int:
    from portraitcli.media.video import probe

    info = probe(Path(path), with_timestamps=True)
    return len(info.timestamps or [])


def has_audio(path: Path) -> bool:
    from portraitcli.media.video import probe

    return probe(Path(path), with_timestamps=False).has_audio
