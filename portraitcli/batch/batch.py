"""The batch: tasks run by a process pool for photos (or network batches on a GPU) and the
threaded pipeline for videos, long ones in pieces; progress, the report and the exit code."""
from __future__ import annotations

import json
import logging
import os
import sys
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

from portraitcli import commands
from portraitcli.batch.plan import STDIO, Result, Task
from portraitcli.batch.worker import Worker, _init_worker, _run_in_worker, _run_piece_in_worker, run_split, wants_split
from portraitcli.options import Settings

log = logging.getLogger("portraitcli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(32), 127]}
# Peak memory of one photo in a worker: its pixels times its command's photo_bytes_per_pixel
# (bench/photo_memory.py, a 48 MP JPEG, whole process: cutout 15.6 bytes a pixel, blur 14.6,
# segment 11.8, replace-bg 18.3), plus the worker's own (interpreter, onnxruntime, model): the
# default --jobs runs no more photos at once than the memory available holds.
WORKER_BYTES = 200 * 2**20


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


def _pool_pieces(pool):
    """run_pieces for pieces.run_split_video: every piece on the process pool at once."""
    def run_pieces(task: Task, pieces: list) -> None:
        futures = [pool.submit(_run_piece_in_worker, task, piece) for piece in pieces]
        for future in futures:
            future.result()

    return run_pieces


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
                from portraitcli.batch.cluster import run_on_ray

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
            from portraitcli.media.atomic import sweep_folders

            sweep_folders(self.output_folders)
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
    from portraitcli.matting.model import onnxruntime_builds

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
