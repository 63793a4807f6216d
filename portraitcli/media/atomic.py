"""Atomic outputs: write to a hidden temporary name in the destination folder, rename when done.

A crash, Ctrl-C or a full disk therefore never leaves a partial file under the final name.
Temporary names are tracked so an interrupted batch can remove them on the way out.
"""
from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from pathlib import Path

TEMP_MARK = ".portraitcli-tmp"
# .<stem>.<8 hex>-<pid of the writer>.portraitcli-tmp<ext> (older versions wrote no pid)
TEMP_NAME = re.compile(r"\..*\.[0-9a-f]{8}(?:-(\d+))?" + re.escape(TEMP_MARK) + r"(\.[^./]*)?")
# a temporary untouched this long, whose writer is gone, was left by a killed run (SIGKILL,
# power loss); a live writer touches its file far more often (frames, encoder output)
STALE_SECONDS = 120
# a working folder of ours (the pieces of a long video): removed whole when stale
PARTS_SUFFIX = ".parts"
# Written into every image-sequence folder portraitcli makes: only a folder that carries it may
# ever be replaced (--overwrite), and then only if it holds nothing but our frames.
SEQUENCE_MARK = ".portraitcli-sequence"
SEQUENCE_FRAME = re.compile(r"frame_\d{6}\.png")
_live: set[Path] = set()
_lock = threading.Lock()


def temp_name(final: Path) -> Path:
    # keep the real extension last: encoders (ffmpeg, Pillow) pick the format from it
    # the writer's pid tells a later run whether the file is still being written
    return final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}-{os.getpid()}{TEMP_MARK}{final.suffix}")


@contextlib.contextmanager
def atomic_output(final: Path):
    """Yield a temporary path next to `final`; on success rename it over `final`."""
    final = Path(final)
    tmp = temp_name(final)
    with _lock:
        _live.add(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise OSError(f"{final}: nothing was written")
        if final.is_dir():
            remove_own_sequence(final)  # a finished sequence replaces our old one (--overwrite)
        os.replace(tmp, final)
    except OSError as exc:
        if exc.errno is not None and exc.filename is not None and os.fspath(exc.filename) == os.fspath(tmp):
            # the hidden temporary name means nothing to users: name the output they asked for
            raise type(exc)(exc.errno, exc.strerror, str(final)) from None
        raise
    finally:
        with _lock:
            _live.discard(tmp)
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            if tmp.is_dir():
                import shutil
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()


@contextlib.contextmanager
def temporary_folder(final: Path):
    """A hidden working folder beside `final` (e.g. the pieces of a long video), removed on the
    way out and by remove_live_temporaries on an interrupt; it lies beside the output so that
    every machine of a cluster sees it where the output is shared."""
    folder = temp_name(Path(final).with_suffix(PARTS_SUFFIX))
    folder.mkdir(parents=True)
    with _lock:
        _live.add(folder)
    try:
        yield folder
    finally:
        with _lock:
            _live.discard(folder)
        import shutil
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale_temporaries(final: Path) -> int:
    """Remove temporaries left for `final` by a worker that died while writing it (its task
    is being run again, perhaps on another machine). Returns the count."""
    final = Path(final)
    try:
        names = os.listdir(final.parent)
    except OSError:
        return 0
    return _remove([final.parent / name for name in names
                    if name.startswith(f".{final.stem}.") and name.endswith(f"{TEMP_MARK}{final.suffix}")
                    and TEMP_NAME.fullmatch(name) and name.count(".") == final.name.count(".") + 3])


def _remove(paths) -> int:
    """Remove files and folders; returns how many went."""
    import shutil

    removed = 0
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()
            removed += 1
    return removed


def is_own_sequence(folder: Path) -> bool:
    """A folder portraitcli wrote as an image sequence (it carries our marker)."""
    return (Path(folder) / SEQUENCE_MARK).is_file()


def remove_own_sequence(folder: Path) -> None:
    """Remove an image-sequence folder of ours; anything else is refused, never removed."""
    folder = Path(folder)
    if not is_own_sequence(folder):
        raise FileExistsError(17, "is a folder portraitcli did not write; refusing to replace it", str(folder))
    names = os.listdir(folder)
    foreign = [n for n in names if n != SEQUENCE_MARK and not SEQUENCE_FRAME.fullmatch(n)]
    if foreign:
        raise FileExistsError(17, f"holds files portraitcli did not write ({foreign[0]}); refusing to replace it",
                              str(folder))
    for n in names:
        if n != SEQUENCE_MARK:
            os.unlink(folder / n)
    os.unlink(folder / SEQUENCE_MARK)  # last: an interrupted removal still reads as ours
    folder.rmdir()


def remove_live_temporaries() -> int:
    """Remove every temporary file still being written (on interrupt). Returns the count."""
    with _lock:
        paths = list(_live)
    return _remove(paths)


def _writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def sweep_temporaries(folder: Path, min_age: float = STALE_SECONDS) -> int:
    """Remove our temporaries in folder whose writer is gone (its pid is not running) and that
    were not touched for min_age seconds; a run on another machine sharing the folder keeps
    its files fresh. A sequence folder goes only if it holds nothing but our frames."""
    import shutil
    import time

    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    now = time.time()
    for entry in entries:
        m = TEMP_NAME.fullmatch(entry.name)
        if not m:
            continue
        path = Path(entry.path)
        with _lock:
            if path in _live:
                continue
        try:
            if m.group(1) and _writer_alive(int(m.group(1))) and int(m.group(1)) != os.getpid():
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < min_age:
                continue
            if entry.is_dir(follow_symlinks=False):
                names = os.listdir(path)
                if path.suffix != PARTS_SUFFIX and any(n != SEQUENCE_MARK and not SEQUENCE_FRAME.fullmatch(n)
                                                       for n in names):
                    continue
                shutil.rmtree(path)
            elif entry.is_file(follow_symlinks=False):
                path.unlink()
            else:
                continue
            removed += 1
        except OSError:
            continue
    return removed



def sweep_folders(folders) -> None:
    """Workers killed mid-write leave hidden temp files: remove those in the output folders
    (only ours whose writer is gone: another run writing into the same folder keeps its own)."""
    for folder in folders:
        sweep_temporaries(Path(folder), min_age=0)


def write_bytes_atomic(final: Path, data: bytes) -> None:
    with atomic_output(final) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
