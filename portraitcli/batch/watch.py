"""The hot folder (--watch): the SRC folders processed as a batch, then each new or changed
media file once it is completely written, through the same batch."""
from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from portraitcli.batch.batch import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Batch
from portraitcli.batch.plan import STDIO, Task, _walk, kind_of, mirrored_task, natural_key, plan
from portraitcli.errors import UsageError
from portraitcli.media.atomic import TEMP_MARK
from portraitcli.options import Settings

log = logging.getLogger("portraitcli")

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
