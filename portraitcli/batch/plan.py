"""Planning: command-line sources and DEST -> one Task per input (or a failed Result).

cp-like rules: one file in -> DEST is the output file (unless DEST is a folder); several
sources, a folder or a glob -> DEST is a folder, and folder trees are mirrored beneath it.
Folders are listed lazily, so a 100,000-entry folder starts processing at once. Outputs never
escape DEST, never overwrite an input, and existing ones are skipped unless overwrite is set.
"""
from __future__ import annotations

import glob
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from portraitcli import commands
from portraitcli.errors import InputError, UsageError
from portraitcli.media import RAW_EXTENSIONS
from portraitcli.media.atomic import SEQUENCE_MARK
from portraitcli.options import Settings

log = logging.getLogger("portraitcli")

STDIO = "-"
PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".heic", ".heif",
                    ".hif", ".avif"}


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
