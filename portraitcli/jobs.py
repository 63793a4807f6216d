"""From command-line sources to outputs: planning, the parallel batch, progress and the report.

cp-like rules: one file in -> DEST is the output file (unless DEST is a folder); several
sources, a folder or a glob -> DEST is a folder, and folder trees are mirrored beneath it.
Folders are listed lazily, so a 100,000-entry folder starts processing at once. Outputs never
escape DEST, never overwrite an input, and existing ones are skipped unless overwrite is set.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import re
import signal
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from portraitcli import commands
from portraitcli.errors import InputError, ModelError, PortraitError
from portraitcli.media import RAW_EXTENSIONS
from portraitcli.media.atomic import SEQUENCE_MARK, TEMP_MARK
from portraitcli.options import Settings

log = logging.getLogger("portraitcli")

STDIO = "-"
PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".heic", ".heif",
                    ".hif", ".avif"}
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(32), 127]}
# Peak memory of one photo in a worker: its pixels times its command's photo_bytes_per_pixel
# (bench/photo_memory.py, a 48 MP JPEG, whole process: cutout 15.6 bytes a pixel, blur 14.6,
# segment 11.8, replace-bg 18.3), plus the worker's own (interpreter, onnxruntime, model): the
# default --jobs runs no more photos at once than the memory available holds.
WORKER_BYTES = 200 * 2**20


@dataclass
class Task:
    source: str  # a path, '-' or a device ('webcam:0', '/dev/video0')
    dest: str  # a path, a folder (image sequences) or '-'
    kind: str  # 'photo', 'video' or 'live'
    replace: bool = False  # watch: the input changed after its output was written


@dataclass
class Result:
    input: str
    output: str | None
    status: str  # done | skipped | failed
    reason: str = ""
    seconds: float = 0.0
    frames: int | None = None  # video frames written
    ended_early: bool = False  # the video input was shorter than declared (truncated)
    notes: list[str] = field(default_factory=list)
    crop: dict | None = None  # --crop: the box written, in the photo's pixels


class UsageError(PortraitError):
    pass


# --------------------------------------------------------------------------- planning


def is_device(source: str) -> bool:
    return source.startswith("webcam:") or source.startswith("/dev/video")


def kind_of(path: Path) -> str | None:
    from portraitcli.media.video import is_video_path

    ext = path.suffix.lower()
    if ext in PHOTO_EXTENSIONS or ext in RAW_EXTENSIONS:
        return "photo"
    if is_video_path(path):
        return "video"
    return None


def default_extension(command: str, kind: str, source: Path, fmt: str | None) -> str:
    """Output extension in folder mode; '' means a folder (a video as an image sequence).
    --format applies to the inputs it fits: a photo format to photos (png also makes each
    video a PNG sequence), a video format to videos; the others keep their default."""
    from portraitcli.media.video import VIDEO_EXTENSIONS

    if fmt:
        ext = "." + fmt.lower().lstrip(".")
        if kind == "photo" and ext in PHOTO_EXTENSIONS:
            return ext
        if kind == "video" and ext == ".png":
            return ""
        if kind == "video" and ext in VIDEO_EXTENSIONS:
            return ext
    effect = commands.get(command)
    if kind == "photo":
        ext = source.suffix.lower()
        if ext in RAW_EXTENSIONS:
            # a RAW's 16 bits are kept where the result is for further editing
            return effect.raw_extension
        if effect.photo_format:
            return "." + effect.photo_format.lower()
        if ext in (".heic", ".heif", ".hif", ".avif"):
            from portraitcli.media.photo import EXTENSION_FORMATS, can_write

            return ext if can_write(EXTENSION_FORMATS[ext]) else ".jpg"
        return ext if ext in PHOTO_EXTENSIONS and ext != ".gif" else ".png"
    if effect.video_extension:
        return effect.video_extension
    ext = source.suffix.lower()
    return ext if ext in (".mp4", ".mov", ".mkv", ".webm", ".m4v") else ".mp4"


def _walk(folder: Path, seen_dirs: set) -> Iterator[Path]:
    """Depth-first and lazy: entries are yielded as the directory is read (unsorted), so a
    100,000-entry folder starts processing at once; never follows symlinked folders (no loops)."""
    try:
        real = os.path.realpath(folder)
        if real in seen_dirs:
            return
        seen_dirs.add(real)
        it = os.scandir(folder)
    except OSError as exc:
        log.warning("%s: cannot list folder (%s)", folder, exc.strerror or exc)
        return
    with it:
        yield from _entries(it, seen_dirs)


def media_under(folder: Path) -> Iterator[Path]:
    """Every file under folder (recursive, unsorted, symlinked folders not followed)."""
    return _walk(folder, set())


def _entries(it, seen_dirs: set) -> Iterator[Path]:
    for entry in it:
        if entry.name.startswith(".") and ".portraitcli-tmp" in entry.name:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(Path(entry.path), seen_dirs)
            elif entry.is_file(follow_symlinks=True) or entry.is_symlink():
                yield Path(entry.path)
        except OSError:
            yield Path(entry.path)


def _safe_join(dest_root: Path, relative: Path) -> Path:
    """dest_root / relative, refusing anything that would land outside dest_root."""
    parts = [p for p in relative.parts if p not in ("", ".")]
    if any(p == ".." for p in parts) or relative.is_absolute():
        raise InputError(f"{relative}: output path would escape the destination")
    out = dest_root.joinpath(*parts)
    root_real = os.path.realpath(dest_root)
    parent_real = os.path.realpath(out.parent)
    if os.path.commonpath([root_real, parent_real]) != root_real:
        raise InputError(f"{relative}: output folder is a symlink out of the destination")
    return out


def plan(sources: list[str], dest: str, settings: Settings, ignored: dict | None = None) -> Iterator[Task | Result]:
    """Yield a Task per input (or a failed Result for inputs that cannot even be planned).
    ignored, when given, counts the files in SRC folders that are not media, by extension."""
    command = settings.render.command
    fmt = settings.format
    if not sources:
        raise UsageError("no SRC given")
    if dest == STDIO or STDIO in sources or any(is_device(s) for s in sources):
        if len(sources) != 1:
            raise UsageError("'-' and devices work with exactly one SRC")
        source = sources[0]
        if source == STDIO:
            yield Task(source, dest, "stdin")
        elif is_device(source):
            yield Task(source, dest, "live")
        else:
            path = Path(source)
            k = kind_of(path) or "photo"
            yield Task(source, dest, k)
        return

    expanded: list[tuple[str, bool]] = []  # (path, came from a glob)
    for s in sources:
        if not os.path.exists(s) and glob.has_magic(s):
            matches = sorted(glob.glob(s, recursive=True))
            if not matches:
                yield Result(s, None, "failed", "no file matches this pattern")
            expanded += [(m, True) for m in matches]
        else:
            expanded.append((s, False))
    one_file = len(expanded) == 1 and not expanded[0][1] and not os.path.isdir(expanded[0][0])
    dest_is_folder = os.path.isdir(dest) or dest.endswith(os.sep)
    dest_path = Path(dest)
    if one_file and kind_of(Path(expanded[0][0])) == "video":
        src = Path(expanded[0][0])
        out = _single_video_dest(src, dest, command, fmt)
        task = _refuse_input_as_dest(_task_for(src, Path(out), command, settings))
        if isinstance(task, Task):
            task.dest = out  # keeps the trailing separator that marks an image sequence
        yield task
        return
    single = one_file and not dest_is_folder
    if single:
        src = Path(expanded[0][0])
        yield _refuse_input_as_dest(_task_for(src, dest_path, command, settings))
        return
    if dest_path.exists() and not dest_path.is_dir():
        raise UsageError(f"{dest}: several inputs need a folder as DEST")
    if not dest_path.exists() and not dest_is_folder and _names_a_media_file(dest) and expanded:
        raise UsageError(f"{dest}: several inputs (or a folder) need a folder as DEST, not a file name; "
                         f"give a folder ({dest_path.with_suffix('')}{os.sep} or an existing one)")
    dest_real = os.path.realpath(dest_path)
    for s, _ in expanded:
        if os.path.isdir(s) and os.path.realpath(s) == dest_real:
            raise UsageError(f"{dest}: DEST is the source folder itself; choose another folder for the outputs")
    # other inputs' paths count as taken: `segment a.jpg a.png .` must not write a.jpg's matte over a.png
    planned: set[str] = {os.path.abspath(s) for s, _ in expanded if not os.path.isdir(s)}
    for s, _ in expanded:
        src = Path(s)
        if src.is_dir():
            # DEST inside SRC: its folder counts as seen, so a re-run never takes outputs for inputs
            for f in _walk(src, {dest_real}):
                item = mirrored_task(src, f, dest_path, settings)
                if item is None:  # not media: folders hold sidecars, notes, thumbnails
                    if ignored is not None and f.name != SEQUENCE_MARK:
                        ext = f.suffix.lower() or "(no extension)"
                        ignored[ext] = ignored.get(ext, 0) + 1
                    continue
                yield _unique(item, planned)
        else:
            k = kind_of(src) or "photo"
            ext = default_extension(command, k, src, fmt)
            out = dest_path / (src.stem + ext if ext else src.stem)
            yield _unique(_task_for(src, out, command, settings), planned)


def natural_key(text: str) -> list:
    """Sort key in which IMG_2 comes before IMG_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def input_order(sources: list[str]):
    """Sort key for (input, ...) pairs in the order the user gave the SRC arguments; within a
    folder or a glob, by path with numbers in numeric order (folders are listed unsorted)."""
    import fnmatch

    roots = [os.path.abspath(s) for s in sources]

    def key(item) -> tuple:
        path = os.path.abspath(item[0])
        for index, (source, root) in enumerate(zip(sources, roots)):
            if path == root or path.startswith(root.rstrip(os.sep) + os.sep) or \
                    (glob.has_magic(source) and fnmatch.fnmatch(item[0], source)):
                return index, natural_key(path)
        return len(sources), natural_key(path)

    return key


def mirrored_task(root: Path, f: Path, dest_root: Path, settings: Settings) -> Task | Result | None:
    """The task for file f found in the SRC folder root: its output at the same place under
    dest_root. None when f is not media."""
    k = kind_of(f)
    if k is None:
        return None
    try:
        ext = default_extension(settings.render.command, k, f, settings.format)
        relative = Path(os.path.relpath(os.path.abspath(f), os.path.abspath(root)))  # one relative, one absolute
        out = _safe_join(dest_root, relative.with_suffix(ext))
    except InputError as exc:
        return Result(str(f), None, "failed", str(exc))
    return _task_for(f, out, settings.render.command, settings)


def _names_a_media_file(dest: str) -> bool:
    from portraitcli.media.video import is_video_path

    suffix = Path(dest).suffix.lower()
    return suffix in PHOTO_EXTENSIONS or suffix in RAW_EXTENSIONS or is_video_path(Path(dest))


def _refuse_input_as_dest(task: Task | Result) -> Task | Result:
    """One input whose DEST is the input itself is a usage error (exit 2), as cp's is."""
    if isinstance(task, Result) and task.reason.startswith("DEST is the input itself"):
        raise UsageError(f"{task.input}: DEST is the input itself: refusing to overwrite an input")
    return task


def ignored_note(ignored: dict) -> str:
    """'3 files (2 .txt, 1 .tga)' for files portraitcli does not read."""
    total = sum(ignored.values())
    kinds = ", ".join(f"{n} {ext}" for ext, n in sorted(ignored.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{total} file{'s' if total != 1 else ''} ({kinds})"


def _single_video_dest(src: Path, dest: str, command: str, fmt: str | None) -> str:
    """Where one video goes, by cp's rules. An existing folder receives the output inside it
    (never replaced); a PNG sequence is asked for by a DEST that does not exist yet and ends in
    '/' or has no extension, or by --format png; a sequence folder of ours is its own output."""
    from portraitcli.media.atomic import is_own_sequence

    if os.path.isdir(dest):
        if is_own_sequence(Path(dest)):
            return os.path.join(dest, "")
        ext = default_extension(command, "video", src, fmt)
        return os.path.join(dest, src.stem + ext) if ext else os.path.join(dest, src.stem, "")
    if dest.endswith(("/", "\\")) or (not Path(dest).suffix and not os.path.exists(dest)):
        return os.path.join(dest, "")
    from portraitcli.media.video import is_video_path

    if not is_video_path(Path(dest)) and dest != STDIO:
        raise UsageError(f"{dest}: a video cannot be written as {Path(dest).suffix or 'this'}; use .mp4, .mov, .mkv "
                         f"or .webm, or a folder name ending in {os.sep} for a PNG sequence")
    return dest


def _unique(task: Task | Result, planned: set[str]) -> Task | Result:
    """Two inputs with one stem (a.jpg, a.png) must not write the same output."""
    if isinstance(task, Result):
        return task
    out = Path(task.dest)
    if os.path.abspath(out) in planned:
        stem = f"{out.stem}_{Path(task.source).suffix.lstrip('.')}"
        out = out.with_name(stem + out.suffix)
        n = 2
        while os.path.abspath(out) in planned:  # a/x.jpg, b/x.jpg, c/x.jpg from one glob
            out = out.with_name(f"{stem}_{n}{out.suffix}")
            n += 1
        task.dest = str(out)
    planned.add(os.path.abspath(out))
    return task


def _task_for(src: Path, out: Path, command: str, settings: Settings) -> Task | Result:
    from portraitcli.media.atomic import is_own_sequence

    k = kind_of(src) or "photo"
    if out.is_dir() and k == "photo":
        out = out / (src.stem + default_extension(command, k, src, settings.format))
    if out.is_dir() and not is_own_sequence(out):
        return Result(str(src), str(out), "failed", "output is a folder portraitcli did not write: refusing to replace it")
    try:
        if out.exists() and os.path.samefile(src, out):
            return Result(str(src), str(out), "failed", "DEST is the input itself: refusing to overwrite an input")
    except OSError:
        pass
    if os.path.abspath(src) == os.path.abspath(out):
        return Result(str(src), str(out), "failed", "DEST is the input itself: refusing to overwrite an input")
    return Task(str(src), str(out), k)


# --------------------------------------------------------------------------- running


class Worker:
    """Per-process state: one model session, one renderer, reused for every file."""

    def __init__(self, settings: Settings, threads: int | None):
        from concurrent.futures import ThreadPoolExecutor

        from portraitcli.render import Renderer
        from portraitcli.segmenter import Segmenter

        self.settings = settings
        # The model session loads while the first file is opened and probed (a photo decoded,
        # a video probed and its decoder started): they wait on different things.
        loader = ThreadPoolExecutor(1, thread_name_prefix="model-load")
        self._segmenter = loader.submit(Segmenter, settings.model, settings.device, settings.refine,
                                        settings.smooth, threads, settings.subjects, precision=settings.precision)
        loader.shutdown(wait=False)
        self.renderer = Renderer(settings.render)
        self._threads = None  # run_batch's thread pool, made on first use
        self.show_frames = False  # a per-file frame progress bar for videos (set by Batch on a TTY)

    @property
    def segmenter(self):
        return self._segmenter.result()  # re-raises a failed load (e.g. a corrupt model) here

    def frame_progress(self, total: int, name: str):
        """A callback for each frame written, or None; call .close() on it when done."""
        if not self.show_frames:
            return None
        from tqdm import tqdm

        bar = tqdm(total=total or None, unit="frame", desc=name[-30:], leave=False, file=sys.stderr,
                   dynamic_ncols=True)

        def tick(count):
            bar.update(count - bar.n)

        tick.close = bar.close
        return tick

    def run(self, task: Task) -> Result:
        from portraitcli import process

        start = time.perf_counter()
        try:
            outcome = process.run_task(task, self)
        except (PortraitError, OSError, ValueError) as exc:
            outcome = exc
        return _result(task, outcome, time.perf_counter() - start)

    def run_batch(self, tasks: list[Task]) -> list[Result]:
        """Photo files together, the network batched (the GPU path: Batch.run)."""
        from concurrent.futures import ThreadPoolExecutor

        from portraitcli import process

        if self._threads is None:
            self._threads = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="photo")
        start = time.perf_counter()
        outcomes = process.run_photo_batch(tasks, self, self._threads)
        seconds = (time.perf_counter() - start) / max(1, len(tasks))
        return [_result(task, outcome, seconds) for task, outcome in zip(tasks, outcomes)]


def _result(task: Task, outcome, seconds: float) -> Result:
    """A task's Result from its notes or the exception that stopped it."""
    if isinstance(outcome, ModelError):
        raise outcome  # no file can be processed without the model: the whole run stops
    if isinstance(outcome, PortraitError):
        reason = _strip_name(str(outcome), task.source)
        r = Result(task.source, task.dest, "failed", reason, ended_early=reason.startswith("input ended early"))
    elif isinstance(outcome, (OSError, ValueError)):
        r = Result(task.source, task.dest, "failed", _describe_os_error(outcome))
    elif isinstance(outcome, BaseException):
        raise outcome
    else:
        from portraitcli.process import TaskOutcome

        if not isinstance(outcome, TaskOutcome):
            outcome = TaskOutcome(outcome or [])
        r = Result(task.source, task.dest, "done", notes=outcome.notes, crop=outcome.crop, frames=outcome.frames,
                   ended_early=outcome.ended_early)
    r.seconds = round(seconds, 4)
    return r


def result_of(task: Task, work) -> Result | None:
    """work() -> a TaskOutcome or notes as task's Result, like Worker.run's (None: not done,
    e.g. a video too short of keyframes to split)."""
    start = time.perf_counter()
    try:
        outcome = work()
    except (PortraitError, OSError, ValueError) as exc:
        outcome = exc
    return None if outcome is None else _result(task, outcome, time.perf_counter() - start)


def _strip_name(message: str, name: str) -> str:
    return message[len(name) + 2:] if message.startswith(name + ": ") else message


def _describe_os_error(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc) or type(exc).__name__


_worker: Worker | None = None


def _init_worker(settings: Settings):
    global _worker
    # the parent handles Ctrl-C, SIGTERM and SIGHUP (sent to the whole group) and ends us
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    logging.getLogger("portraitcli").setLevel(logging.WARNING)
    _worker = Worker(settings, threads=1)


def _run_in_worker(task: Task) -> Result:
    return _worker.run(task)


def available_memory() -> int | None:
    """Bytes of memory available to new work (Linux's MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def photo_pixels(path: str) -> int:
    """Width x height from the file's header (nothing decoded); 0 when it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.size[0] * img.size[1]
    except Exception:  # noqa: BLE001 - a broken file fails later, with its own message
        return 0


def photo_bytes(pixels: int, command: str) -> int:
    """Peak memory of a worker processing a photo of this many pixels."""
    return pixels * commands.get(command).photo_bytes_per_pixel + WORKER_BYTES


def photos_that_fit(largest_pixels: int, available: int | None, command: str) -> int | None:
    """How many photos of this size can be processed at once in the memory available."""
    if not largest_pixels or available is None:
        return None
    return max(1, available // photo_bytes(largest_pixels, command))


def _run_piece_in_worker(task: Task, piece) -> int:
    from portraitcli.pieces import run_piece

    return run_piece(task, piece, _worker)


def _pool_pieces(pool):
    """run_pieces for pieces.run_split_video: every piece on the process pool at once."""
    def run_pieces(task: Task, pieces: list) -> None:
        futures = [pool.submit(_run_piece_in_worker, task, piece) for piece in pieces]
        for future in futures:
            future.result()

    return run_pieces


def wants_split(source: str, dest: str, split_over: float, workers: int) -> bool:
    from portraitcli.pieces import wants_split as long_enough

    return long_enough(source, dest, split_over, workers)


def run_split(task: Task, settings: Settings, workers: int, run_pieces) -> Result | None:
    """A long video in parallel pieces, as a Result like Worker.run's (None: it could not be
    split; run it whole)."""
    from portraitcli.pieces import run_split_video

    return result_of(task, lambda: run_split_video(task, settings, workers, run_pieces))


def skip_reason(task: Task, settings: Settings) -> str | None:
    if task.dest == STDIO or settings.overwrite or task.replace:
        return None
    if os.path.isdir(task.dest):
        # an image-sequence folder of ours appears complete or not at all (renamed when done)
        from portraitcli.media.atomic import is_own_sequence

        return "output exists (use --overwrite)" if is_own_sequence(Path(task.dest)) else None
    if os.path.exists(task.dest):
        return "output exists (use --overwrite)"
    return None


class Batch:
    """Runs tasks with N processes for photos and the threaded pipeline for videos."""

    def __init__(self, settings: Settings, progress: bool, report_path: str | None = None, echo=None):
        self.settings = settings
        self.progress = progress
        self.report_path = report_path
        self.results: list[Result] = []
        self.echo = echo or (lambda msg: print(msg, file=sys.stderr))
        self.interrupted = False
        self.output_folders: set[str] = set()
        self.keep_worker = False  # watch: one model session for every run, closed by close()
        self._local: Worker | None = None
        self.swept_folders: set[str] = set()
        self.photo_jobs = 0  # photos processed at once (the default --jobs is bounded by memory)

    def _record(self, r: Result, bar) -> None:
        self.results.append(r)
        if r.status == "failed":
            # a file name may hold a newline or other control characters: one failure, one line
            self.echo(f"portraitcli: {r.input}: {r.reason}".translate(_CONTROL_ESCAPES))
        for note in r.notes:  # adaptations the user should know about (alpha flattened, audio dropped)
            log.warning("note: %s: %s", r.input, note)
        if bar is not None:
            bar.update(1)

    def _sweep_stale(self, task: Task) -> None:
        """Temporaries a killed run (SIGKILL, power loss) left in this output folder go now."""
        if task.dest == STDIO or task.kind == "live":
            return
        folder = os.path.dirname(task.dest.rstrip("/\\")) or "."
        if folder not in self.swept_folders:
            self.swept_folders.add(folder)
            from portraitcli.media.atomic import sweep_temporaries

            removed = sweep_temporaries(Path(folder))
            if removed:
                log.info("%s: removed %d temporary file(s) left by an earlier run that was killed", folder, removed)

    def run(self, items: Iterator[Task | Result]) -> int:
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=0, unit="file", file=sys.stderr, dynamic_ncols=True)
        try:
            if self.settings.ray:
                from portraitcli.cluster import run_on_ray

                run_on_ray(self, self.runnable(items, bar), bar)
            else:
                self._run_here(self.runnable(items, bar), bar)
        finally:
            if bar is not None:
                bar.close()
        self.write_report()
        return self.exit_code()

    def runnable(self, items: Iterator[Task | Result], bar) -> Iterator[Task]:
        """The tasks to run: failed plans, existing outputs and dry runs are recorded here."""
        for item in items:
            if bar is not None:
                bar.total += 1
                bar.refresh()
            if isinstance(item, Result):
                self._record(item, bar)
                continue
            if not self.settings.dry_run:
                self._sweep_stale(item)
            reason = skip_reason(item, self.settings)
            if reason:
                self._record(Result(item.source, item.dest, "skipped", reason), bar)
                continue
            if self.settings.dry_run:  # the CLI lists them, sorted, once the plan is complete
                self._record(Result(item.source, item.dest, "skipped", "dry run"), bar)
                continue
            yield item

    def _run_here(self, tasks: Iterator[Task], bar) -> None:
        """N processes for photos; videos one after another through the threaded pipeline,
        a long one in pieces over N processes."""
        jobs = self.settings.jobs or os.cpu_count() or 1
        # the default --jobs also stays within memory: no more photos at once than fit, by the
        # largest photo planned so far (its header), so big camera files do not run out of RAM
        bound_by_memory = not self.settings.jobs
        largest = 0
        available = available_memory() if bound_by_memory else None
        self.photo_jobs = jobs
        gpu = _accelerator_listed(self.settings.device)
        group: list[Task] = []  # photos waiting for a batch on the GPU
        videos: list[Task] = []
        pool = None
        local: Worker | None = self._local
        first_photo: Task | None = None
        pending: deque = deque()
        try:
            for item in tasks:
                if item.kind != "photo":
                    videos.append(item)
                    continue
                if bound_by_memory:
                    pixels = photo_pixels(item.source)
                    if pixels > largest:
                        largest = pixels
                        command = self.settings.render.command
                        fit = photos_that_fit(largest, available, command)
                        if fit is not None and fit < self.photo_jobs:
                            self.photo_jobs = fit
                            log.info("%d photo(s) at a time: %.0f MP photos need about %.1f GB each, %.1f GB "
                                     "available (--jobs sets it)", fit, largest / 1e6,
                                     photo_bytes(largest, command) / 1e9, available / 1e9)
                if gpu:
                    # one process, the network batched on the GPU, the CPU stages on threads
                    local = local or Worker(self.settings, threads=None)
                    self.output_folders.add(os.path.dirname(item.dest) or ".")
                    group.append(item)
                    if len(group) >= min(PHOTO_BATCH, max(1, self.photo_jobs)):
                        for r in local.run_batch(group):
                            self._record(r, bar)
                        group = []
                    continue
                if jobs <= 1:
                    local = local or Worker(self.settings, threads=None)
                    self._record(local.run(item), bar)
                    continue
                if first_photo is None and pool is None:
                    first_photo = item  # a lone photo runs here: no pool start-up cost
                    continue
                if pool is None:
                    pool = _make_pool(self.settings, jobs)
                for task in ([first_photo] if first_photo is not None else []) + [item]:
                    self.output_folders.add(os.path.dirname(task.dest) or ".")
                    pending.append(pool.submit(_run_in_worker, task))
                first_photo = None
                # photos in flight: every worker busy and as many queued, unless memory allows fewer
                while len(pending) >= (jobs * 2 if self.photo_jobs >= jobs else self.photo_jobs):
                    self._record(pending.popleft().result(), bar)
            if group:
                for r in local.run_batch(group):
                    self._record(r, bar)
            if first_photo is not None:
                local = local or Worker(self.settings, threads=None)
                self._record(local.run(first_photo), bar)
            while pending:
                self._record(pending.popleft().result(), bar)
            for task in videos:
                if task.kind == "video" and wants_split(task.source, task.dest, self.settings.split_over, jobs):
                    pool = pool or _make_pool(self.settings, jobs)
                    self.output_folders.add(os.path.dirname(task.dest) or ".")
                    result = run_split(task, self.settings, jobs, _pool_pieces(pool))
                    if result is not None:
                        self._record(result, bar)
                        continue
                local = local or Worker(self.settings, threads=None)
                local.show_frames = self.progress
                self._record(local.run(task), bar)
        except KeyboardInterrupt:
            self.interrupted = True
            from portraitcli.media.atomic import remove_live_temporaries

            remove_live_temporaries()
            if pool is not None:
                _stop_pool(pool)
                pool = None
            _sweep_temporaries(self.output_folders)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            if local is not None:
                if self.keep_worker:
                    self._local = local
                else:
                    local.renderer.close()

    def close(self) -> None:
        if self._local is not None:
            self._local.renderer.close()
            self._local = None

    def counts(self) -> dict[str, int]:
        c = {"done": 0, "skipped": 0, "failed": 0}
        for r in self.results:
            c[r.status] += 1
        return c

    def skipped_note(self) -> str | None:
        """Outputs skipped because they exist: named for one, counted for a batch."""
        exists = [r for r in self.results if r.status == "skipped" and r.reason.startswith("output exists")]
        if not exists:
            return None
        if len(exists) == 1:
            return f"{exists[0].output} exists; --overwrite replaces it"
        return f"{len(exists)} outputs exist and were skipped (first: {exists[0].output}); --overwrite replaces them"

    def summary(self) -> str:
        c = self.counts()
        tail = " (interrupted)" if self.interrupted else ""
        return f"{c['done']} done, {c['skipped']} skipped, {c['failed']} failed{tail}"

    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.counts()["failed"] else EXIT_OK

    def write_report(self) -> None:
        if not self.report_path:
            return
        from portraitcli.media.atomic import write_bytes_atomic

        body = {"summary": self.counts(), "interrupted": self.interrupted,
                "files": [asdict(r) for r in self.results]}
        write_bytes_atomic(Path(self.report_path), json.dumps(body, indent=2).encode())


# Photos per network batch on a GPU: 8 photos of 12 MP in flight hold about 2 GiB of host memory.
PHOTO_BATCH = 8


def _accelerator_listed(device: str) -> bool:
    """Photos go to the GPU path (Worker.run_batch) when CUDA is asked for, or auto and the
    onnxruntime install has it. (If it then cannot run, auto falls back to the CPU, and the
    batches still spread over every core, on threads.)"""
    if device == "cuda":
        return True
    if device != "auto":
        return False
    from portraitcli.model import onnxruntime_builds

    if "onnxruntime-gpu" not in onnxruntime_builds():  # (no import of onnxruntime for the answer)
        return False
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def _make_pool(settings: Settings, jobs: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork is fast and the parent holds no model session yet; elsewhere spawn. A parent that has
    # developed a RAW itself has LibRaw's OpenMP threads, which a forked child can deadlock on
    methods = multiprocessing.get_all_start_methods()
    method = "fork" if "fork" in methods and "rawpy" not in sys.modules else \
        "forkserver" if "forkserver" in methods else "spawn"
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method),
                               initializer=_init_worker, initargs=(settings,))


def _stop_pool(pool) -> None:
    for proc in list(getattr(pool, "_processes", {}).values()):
        try:
            proc.kill()  # workers ignore SIGTERM (see _init_worker)
        except Exception:  # noqa: BLE001 - a worker may already be gone
            pass
    pool.shutdown(wait=True, cancel_futures=True)


def _sweep_temporaries(folders: set[str]) -> None:
    """Workers killed mid-write leave hidden temp files: remove those in the output folders
    (only ours whose writer is gone: another run writing into the same folder keeps its own)."""
    from portraitcli.media.atomic import sweep_temporaries

    for folder in folders:
        sweep_temporaries(Path(folder), min_age=0)


# --------------------------------------------------------------------------- watch

# A file counts as completely written once it was closed after writing (inotify) and has not
# changed for CLOSED_QUIET seconds since; without close events (no watchdog, or polling asked
# for), once its size and time stamp have held for STABLE_SECONDS. With inotify, a file never
# seen closed (moved in from another file system shows up as created only) counts as complete
# after UNCLOSED_SECONDS without change: a writer pausing that long while it holds the file open
# would be taken early.
CLOSED_QUIET = 0.5
STABLE_SECONDS = 2.0
UNCLOSED_SECONDS = 10.0
POLL_SECONDS = 0.5


def _signature(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns) if st.st_size else None


class Settler:
    """Which watched files are completely written: fed with change and close notices, asked
    for the files ready now (each handed out once per change)."""

    def __init__(self, closed_quiet: float = CLOSED_QUIET, stable: float | None = STABLE_SECONDS, clock=time.monotonic):
        import threading

        self.closed_quiet, self.stable, self.clock = closed_quiet, stable, clock
        self._files: dict[str, list] = {}  # path -> [signature, changed at, closed since]
        self._lock = threading.Lock()

    def touched(self, path: str, closed: bool = False) -> None:
        sig = _signature(path)
        with self._lock:
            if sig is None:
                self._files.pop(path, None)
                return
            entry = self._files.get(path)
            if entry is None or entry[0] != sig:
                self._files[path] = [sig, self.clock(), closed]
            elif closed:
                entry[2] = True

    def forget(self, path: str) -> None:
        with self._lock:
            self._files.pop(path, None)

    def ready(self) -> list[str]:
        now = self.clock()
        out = []
        with self._lock:
            for path, entry in list(self._files.items()):
                sig, since, closed = entry
                wait = self.closed_quiet if closed else self.stable
                if wait is None or now - since < wait:
                    continue
                current = _signature(path)
                if current != sig:  # written to again since the last notice
                    if current is None:
                        del self._files[path]
                    else:
                        self._files[path] = [current, now, False]
                    continue
                out.append(path)
                del self._files[path]
        return sorted(out, key=natural_key)


def _ignored(path: str, dest_real: str) -> bool:
    name = os.path.basename(path)
    real = os.path.realpath(path)
    return (name.startswith(".") or TEMP_MARK in name
            or real == dest_real or real.startswith(dest_real.rstrip(os.sep) + os.sep))


def _start_observer(folders: list[Path], settler: Settler, dest_real: str):
    """watchdog's observer (inotify on Linux) feeding the settler; None without watchdog."""
    if os.environ.get("PORTRAITCLI_WATCH_POLLING"):
        return None
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event):
            if event.is_directory:
                return
            kind = event.event_type
            path = os.fsdecode(event.dest_path if kind == "moved" else event.src_path)
            if _ignored(path, dest_real) or kind_of(Path(path)) is None:
                return
            if kind in ("created", "modified"):
                settler.touched(path)
            elif kind in ("closed", "moved"):  # closed after writing, or renamed into place: complete
                settler.touched(path, closed=True)
            elif kind == "deleted":
                settler.forget(path)

    observer = Observer()
    for folder in folders:
        observer.schedule(Handler(), str(folder), recursive=True)
    observer.start()
    return observer


def _poll(folders: list[Path], seen: dict[str, tuple], settler: Settler, dest_real: str) -> None:
    """One scan of the folders: files new or changed since the last scan go to the settler."""
    for folder in folders:
        for f in _walk(folder, {dest_real}):
            path = str(f)
            if _ignored(path, dest_real) or kind_of(f) is None:
                continue
            sig = _signature(path)
            if sig is not None and seen.get(path) != sig:
                seen[path] = sig
                settler.touched(path)


def watch(sources: list[str], dest: str, settings: Settings, batch: Batch, echo=None) -> int:
    """Process SRC as a batch, then keep watching the SRC folders: each new or changed media
    file, once completely written (Settler), goes through the same batch (mirrored under DEST,
    existing outputs skipped unless the input changed after them, the report rewritten after
    each). Ctrl-C or SIGTERM ends it: exit 0 (1 if some inputs failed), or 130 if it came
    while a file was being processed (that file is left for the next run)."""
    folders = [Path(s) for s in sources if os.path.isdir(s)]
    if not folders or len(folders) != len(sources):
        raise UsageError("--watch needs SRC folders (and only folders) to watch")
    if dest == STDIO or (os.path.exists(dest) and not os.path.isdir(dest)):
        raise UsageError("--watch needs a folder as DEST")
    dest_real = os.path.realpath(dest)
    echo = echo or batch.echo
    settler = Settler(stable=STABLE_SECONDS)
    batch.keep_worker = True

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    observer = None
    try:
        observer = _start_observer(folders, settler, dest_real)
        if observer is not None:
            settler.stable = UNCLOSED_SECONDS
        seen: dict[str, tuple] = {}
        if observer is None:
            _poll(folders, seen, settler, dest_real)  # what is there now is the first batch's
            for path in list(seen):
                settler.forget(path)
        batch.run(plan(sources, dest, settings))
        if batch.interrupted:
            return EXIT_INTERRUPTED
        how = "inotify" if observer is not None else f"polling every {POLL_SECONDS:g} s"
        echo(f"portraitcli: watching {', '.join(map(str, folders))} ({how}); Ctrl-C to stop")
        while True:
            if observer is None:
                _poll(folders, seen, settler, dest_real)
            for path in settler.ready():
                root = next((f for f in folders if os.path.abspath(path).startswith(os.path.abspath(f) + os.sep)),
                            None)
                item = mirrored_task(root, Path(path), Path(dest), settings) if root is not None else None
                if item is None:
                    continue
                if isinstance(item, Task) and os.path.isfile(item.dest):
                    item.replace = os.stat(item.dest).st_mtime_ns < os.stat(path).st_mtime_ns
                log.info("%s: complete, processing", path)
                batch.run(iter([item]))
                if batch.interrupted:
                    return EXIT_INTERRUPTED
            time.sleep(POLL_SECONDS if observer is None else 0.1)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
        batch.close()
    batch.interrupted = False
    return EXIT_FAILED if batch.counts()["failed"] else EXIT_OK
