"""A worker: the per-process state (one model session, one renderer) that runs tasks and turns
what each ended with into its Result; the process-pool worker functions around one."""
from __future__ import annotations

import logging
import os
import signal
import sys
import time

from portraitcli.batch.plan import Result, Task
from portraitcli.errors import ModelError, PortraitError
from portraitcli.options import Settings

class Worker:
    """Per-process state: one model session, one renderer, reused for every file."""

    def __init__(self, settings: Settings, threads: int | None):
        from concurrent.futures import ThreadPoolExecutor

        from portraitcli.compositing.render import Renderer
        from portraitcli.matting.segmenter import Segmenter

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
        from portraitcli.batch.task import run_task

        start = time.perf_counter()
        try:
            outcome = run_task(task, self)
        except (PortraitError, OSError, ValueError) as exc:
            outcome = exc
        return _result(task, outcome, time.perf_counter() - start)

    def run_batch(self, tasks: list[Task]) -> list[Result]:
        """Photo files together, the network batched (the GPU path: Batch.run)."""
        from concurrent.futures import ThreadPoolExecutor

        from portraitcli.batch.task import run_photo_batch

        if self._threads is None:
            self._threads = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="photo")
        start = time.perf_counter()
        outcomes = run_photo_batch(tasks, self, self._threads)
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
        from portraitcli.batch.task import TaskOutcome

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



def _run_piece_in_worker(task: Task, piece) -> int:
    from portraitcli.batch.pieces import run_piece

    return run_piece(task, piece, _worker)


def wants_split(source: str, dest: str, split_over: float, workers: int) -> bool:
    from portraitcli.batch.pieces import wants_split as long_enough

    return long_enough(source, dest, split_over, workers)


def run_split(task: Task, settings: Settings, workers: int, run_pieces) -> Result | None:
    """A long video in parallel pieces, as a Result like Worker.run's (None: it could not be
    split; run it whole)."""
    from portraitcli.batch.pieces import run_split_video

    return result_of(task, lambda: run_split_video(task, settings, workers, run_pieces))

