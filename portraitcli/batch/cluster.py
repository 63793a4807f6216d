"""A batch on a Ray cluster (`--ray ADDRESS`): the same planning, progress, report, exit codes
and atomic outputs as a local run, the work spread over the cluster's CPUs.

    driver: plan (lazy) ──> bounded window of tasks ──> actors, one per CPU, each holding one
            model session ──> Results back, recorded as they finish

- Back-pressure: each actor has at most TASKS_PER_ACTOR tasks outstanding (one running, one
  waiting in its mailbox so it never idles between files), and the driver only reads the next
  planned input when a slot is free: a folder of a million entries starts at once and the
  driver's memory stays flat.
- Faults: a task whose actor died (its process killed, its node lost) runs again on another
  actor, and a new actor is started in the dead one's place wherever the cluster has a CPU
  free; a task starts by removing the temporaries a dead attempt left for its output, and
  outputs appear under their final names only when complete.
- Ctrl-C or SIGTERM on the driver: queued tasks are cancelled, the actors killed, and the
  temporaries of the outputs in progress removed; exit 130, a re-run skips what is done.
- A long video is cut into pieces run on all actors and joined on the driver (pieces.py).

Paths must mean the same on every node (a shared mount): tasks travel as absolute paths.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import re
import signal
import time
from pathlib import Path

from portraitcli.errors import ModelError, PortraitError

log = logging.getLogger("portraitcli")

INSTALL = "pip install 'portraitcli[ray]'"
TASKS_PER_ACTOR = 2
ACTOR_RESTARTS = 4  # new actors started in the place of dead ones: this many per actor at most
TASK_RETRIES = 3  # a task whose actor died runs again this many times at most


class RayUnavailable(PortraitError):
    pass


def require_ray():
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(f"--ray needs Ray, which is not installed ({exc}); install it with: {INSTALL}") from None
    return ray


class PortraitActor:
    """One per CPU of the cluster: one model session and renderer reused for every file."""

    def __init__(self, settings):
        from portraitcli.batch.worker import Worker

        logging.getLogger("portraitcli").setLevel(logging.WARNING)
        self.worker = Worker(settings, threads=1)

    def run(self, task):
        from portraitcli.media.atomic import remove_stale_temporaries

        if not task.dest.endswith(("/", "\\")):
            remove_stale_temporaries(Path(task.dest))  # an attempt that died while writing it
        else:
            remove_stale_temporaries(Path(task.dest.rstrip("/\\")))
        return self.worker.run(task)

    def ready(self) -> int:
        """Answers once the actor has started (the driver uses it from then on)."""
        return os.getpid()

    def run_piece(self, task, piece) -> int:
        from portraitcli.batch.pieces import run_piece

        return run_piece(task, piece, self.worker)


def _absolute(task):
    """The task as every node sees it: absolute paths (a trailing separator kept)."""
    tail = os.sep if task.dest.endswith(("/", "\\")) else ""
    return dataclasses.replace(task, source=os.path.abspath(task.source),
                               dest=os.path.abspath(task.dest) + tail)


def _shared_settings(settings):
    """Settings for the actors: files named in them made absolute too."""
    render = settings.render
    if render.background and os.path.exists(render.background):
        render = dataclasses.replace(render, background=os.path.abspath(render.background))
    model = os.path.abspath(settings.model) if settings.model else None
    return dataclasses.replace(settings, render=render, model=model)


class _ActorPool:
    """The actors, the tasks outstanding on each (the bounded window), and the retries.

    A task whose actor died (its process killed, its node lost) runs again on another actor,
    and a new actor is started in the dead one's place, wherever the cluster has a CPU for it.
    Actors are used once they have started: one that cannot be placed (its node gone, no CPU
    free elsewhere) never holds work back from the others."""

    def __init__(self, ray, settings, size: int):
        self.ray = ray
        self.settings = settings
        self.actor_class = ray.remote(PortraitActor).options(num_cpus=1, max_restarts=0, max_task_retries=0)
        self.actors: dict[int, object] = {}  # number -> handle, of actors that have started
        self.load: dict[int, int] = {}
        self.starting: dict = {}  # ready() ref -> (number, handle)
        self.outstanding: dict = {}  # task ref -> (number, call)
        self.waiting: list = []  # calls to run again once an actor has started
        self.replacements = size * ACTOR_RESTARTS
        self.count = 0
        for _ in range(size):
            self._start()

    def _start(self) -> None:
        handle = self.actor_class.remote(self.settings)
        self.starting[handle.ready.remote()] = (self.count, handle)
        self.count += 1

    @property
    def size(self) -> int:
        return len(self.actors) + len(self.starting)

    @property
    def busy(self) -> bool:
        return bool(self.outstanding or self.waiting)

    def has_room(self) -> bool:
        return not self.waiting and any(load < TASKS_PER_ACTOR for load in self.load.values())

    def submit(self, method: str, args: tuple, tag, weight: int = 1) -> None:
        """weight TASKS_PER_ACTOR (a video): nothing else queues behind it on its actor."""
        self._send({"method": method, "args": args, "tag": tag, "weight": weight, "attempts": 0})

    def _send(self, call: dict) -> None:
        if not self.actors:
            self.waiting.append(call)
            return
        number = min(self.load, key=self.load.get)
        ref = getattr(self.actors[number], call["method"]).remote(*call["args"])
        self.load[number] += call["weight"]
        self.outstanding[ref] = (number, call)

    def next_done(self):
        """(tag, value, error) of a finished task, waiting for one; None when what finished
        was an actor starting, or a task that runs again."""
        ready, _ = self.ray.wait(list(self.outstanding) + list(self.starting), num_returns=1)
        ref = ready[0]
        if ref in self.starting:
            number, handle = self.starting.pop(ref)
            try:
                self.ray.get(ref)
            except self.ray.exceptions.RayError as exc:
                _stop_if_unstartable(exc)
                self._replace()  # lost before it started
                return None
            self.actors[number], self.load[number] = handle, 0
            waiting, self.waiting = self.waiting, []
            for call in waiting:
                self._send(call)
            return None
        number, call = self.outstanding.pop(ref)
        if number in self.load:
            self.load[number] -= call["weight"]
        try:
            return call["tag"], self.ray.get(ref), None
        except self.ray.exceptions.RayActorError as exc:
            _stop_if_unstartable(exc)
            if number in self.actors:  # its first task to report the death
                del self.actors[number], self.load[number]
                self._replace()
            if call["attempts"] >= TASK_RETRIES:
                return call["tag"], None, exc
            call["attempts"] += 1
            log.info("a Ray worker was lost (%s): its task runs again", _first_line(exc))
            self._send(call)
            return None
        except self.ray.exceptions.RayError as exc:
            return call["tag"], None, exc

    def _replace(self) -> None:
        if self.replacements > 0:
            self.replacements -= 1
            self._start()
        elif not self.actors and not self.starting:
            raise PortraitError("every Ray worker was lost, and no more are started in their place")

    def stop(self) -> None:
        for ref in list(self.outstanding):
            try:
                self.ray.cancel(ref)  # queued ones never start
            except Exception:  # noqa: BLE001 - already finished or its actor gone
                pass
        for _, handle in list(self.starting.values()) + [(n, h) for n, h in self.actors.items()]:
            try:
                self.ray.kill(handle, no_restart=True)  # running ones stop now
            except Exception:  # noqa: BLE001
                pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _connect(ray, address: str) -> None:
    _check_reachable(address)
    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False, namespace="portraitcli")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise PortraitError(f"--ray {address}: cannot connect to the Ray cluster ({exc})") from None


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """A HOST:PORT nobody answers on fails here at once: ray.init would retry for minutes."""
    import socket

    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        from portraitcli.errors import UsageError

        raise UsageError(f"--ray {address}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise PortraitError(f"--ray {address}: cannot connect to the Ray cluster "
                            f"({exc.strerror or exc})") from None


def cluster_cpus(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_on_ray(batch, tasks, bar) -> None:
    """Run the batch's tasks on the cluster at batch.settings.ray, recording into batch."""
    ray = require_ray()
    tasks = iter(tasks)
    try:
        first = next(tasks, None)  # nothing to run (all done, a dry run): no cluster needed
    except KeyboardInterrupt:
        batch.interrupted = True
        return
    if first is None:
        return
    # SIGTERM and SIGHUP stop the batch like Ctrl-C (the CLI's handlers, or ours for the API):
    # put back after ray.init, which sets its own
    stops = (signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.getsignal(sig) for sig in stops}
    _connect(ray, batch.settings.ray)
    for sig in stops:
        if previous[sig] != signal.SIG_IGN:
            signal.signal(sig, previous[sig] if callable(previous[sig]) else _interrupt)
    runner = None
    try:
        # an actor takes a CPU: more than the cluster has would wait forever
        size = min(batch.settings.jobs or cluster_cpus(ray), cluster_cpus(ray))
        runner = _RayBatch(ray, batch, bar, size)
        runner.run(itertools.chain([first], tasks))
    except KeyboardInterrupt:
        batch.interrupted = True
        if runner is not None:
            runner.stop()
    except BaseException:  # the run stops (a model that cannot load, every worker lost): nothing left
        if runner is not None:
            runner.stop()
        raise
    finally:
        ray.shutdown()
        for sig in stops:
            signal.signal(sig, previous[sig])


class _RayBatch:
    def __init__(self, ray, batch, bar, size: int):
        self.ray, self.batch, self.bar = ray, batch, bar
        self.settings = _shared_settings(batch.settings)
        self.pool = _ActorPool(ray, self.settings, size)
        self.running: dict[str, str] = {}  # absolute dest -> the user's name, for the clean-up

    def run(self, tasks) -> None:
        from portraitcli.errors import UsageError
        from portraitcli.batch.pieces import wants_split

        long_videos = []
        for task in tasks:
            if task.kind not in ("photo", "video"):
                raise UsageError("--ray runs files and folders, not '-' or capture devices")
            if task.kind == "video" and wants_split(task.source, task.dest, self.settings.split_over,
                                                    self.pool.size):
                long_videos.append(task)
                continue
            while not self.pool.has_room():
                self._collect()
            self._submit(task)
        while self.pool.busy:
            self._collect()
        for task in long_videos:
            self._run_long_video(task)
        self._sweep()

    def _submit(self, task) -> None:
        remote = _absolute(task)
        self.batch.output_folders.add(os.path.dirname(remote.dest.rstrip("/\\")))
        self.running[remote.dest] = task.dest
        self.pool.submit("run", (remote,), task, weight=TASKS_PER_ACTOR if task.kind == "video" else 1)

    def _collect(self) -> None:
        from portraitcli.batch.plan import Result

        done = self.pool.next_done()
        if done is None:
            return
        task, r, error = done
        self.running.pop(_absolute(task).dest, None)
        if error is None:
            r = dataclasses.replace(r, input=task.source, output=task.dest)  # the user's names, not absolute
        elif isinstance(error, self.ray.exceptions.RayTaskError):
            cause = error.cause if error.cause is not None else error
            if isinstance(cause, ModelError):
                raise cause from None
            r = Result(task.source, task.dest, "failed", str(cause) or type(cause).__name__)
        else:
            r = Result(task.source, task.dest, "failed",
                       f"the Ray workers running it were lost ({_first_line(error)})")
        self.batch._record(r, self.bar)

    def _run_long_video(self, task) -> None:
        from portraitcli.batch.worker import run_split

        remote = _absolute(task)
        self.batch.output_folders.add(os.path.dirname(remote.dest))
        self.running[remote.dest] = task.dest
        r = run_split(remote, self.settings, self.pool.size, self._run_pieces)
        self.running.pop(remote.dest, None)
        if r is None:  # too few keyframes to cut: it runs whole
            self._submit(task)
            while self.pool.busy:
                self._collect()
            return
        self.batch._record(dataclasses.replace(r, input=task.source, output=task.dest), self.bar)

    def _run_pieces(self, task, pieces) -> None:
        for piece in pieces:
            self.pool.submit("run_piece", (task, piece), piece)
        failure = None
        while self.pool.busy:
            done = self.pool.next_done()
            if done is None:
                continue
            piece, _, error = done
            if isinstance(error, self.ray.exceptions.RayTaskError):
                failure = failure or (error.cause if error.cause is not None else error)
            elif error is not None:
                failure = failure or PortraitError(f"{task.source}: the Ray workers running piece {piece.number} "
                                                   f"were lost ({_first_line(error)})")
        if failure is not None:
            raise failure

    def stop(self) -> None:
        """Cancel what is queued, stop what runs, remove the temporaries of unfinished outputs."""
        from portraitcli.media.atomic import remove_live_temporaries

        self.pool.stop()
        remove_live_temporaries()  # the driver's own: pieces folders, a join in progress
        self._sweep()
        # a killed actor's ffmpeg encoder may still be finishing its temporary: once more
        time.sleep(1.0)
        self._sweep()

    def _sweep(self) -> None:
        from portraitcli.media.atomic import remove_stale_temporaries, sweep_folders

        for dest in self.running:
            remove_stale_temporaries(Path(dest.rstrip("/\\")))
        sweep_folders(self.batch.output_folders)


def _stop_if_unstartable(exc: BaseException) -> None:
    """An actor that cannot even start (portraitcli missing on a node, say) fails every file
    the same way: the run stops with the reason instead."""
    if getattr(exc, "actor_init_failed", False):
        # the message ends with the exception that stopped it, after Ray's traceback
        lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).splitlines()]
        reason = next((line for line in reversed(lines) if line), type(exc).__name__)
        raise PortraitError(f"a Ray worker could not start ({reason[:300]})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
