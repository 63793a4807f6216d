"""Threaded frame flow for video: decode | model + temporal filter | refine + composite | encode.

    source thread ──q──> model thread ──q──> compositor pool ──(in order)──> sink (this thread)

Decode and encode run in ffmpeg child processes; model, refinement and compositing release
the GIL (onnxruntime, OpenCV, numpy), so the stages overlap on every core. Queues are bounded:
frames stream and memory stays flat whatever the clip length. Live sources use depth 1 so
no more than a couple of frames are ever in flight.
"""
from __future__ import annotations

import collections
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2

from portraitcli.allocator import keep_freed_memory
from portraitcli.matting.segmenter import Segmenter

_END = object()


@dataclass
class PipelineStats:
    frames: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # source-to-sink seconds per frame
    scene_cuts: int = 0
    dropped: int = 0  # stale camera frames skipped to keep latency down (drop_stale only)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


class LatestSlot:
    """A one-frame mailbox for live capture: a new frame replaces one not yet taken, since
    a camera frame the model has not started on is stale once the next one exists. The
    producer never blocks, so latency never includes a backlog."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self._full = False
        self._closed = False
        self.dropped = 0

    def put(self, item) -> None:
        with self._cond:
            if item is _END:
                self._closed = True
            else:
                self.dropped += self._full
                self._item, self._full = item, True
            self._cond.notify()

    def get(self):
        with self._cond:
            while not self._full and not self._closed:
                self._cond.wait()
            return self._take()

    def get_nowait(self):
        with self._cond:
            if not self._full:
                raise queue.Empty
            return self._take()

    def _take(self):
        if self._full:
            item, self._item, self._full = self._item, None, False
            return item
        return _END


class _Stage(threading.Thread):
    def __init__(self, name, work, out_q, errors):
        super().__init__(name=name, daemon=True)
        self.work, self.out_q, self.errors = work, out_q, errors
        self.stop = threading.Event()

    def run(self):
        try:
            for item in self.work():
                if self.stop.is_set():
                    break
                self.out_q.put(item)
        except BaseException as exc:  # handed to the main thread, re-raised there
            self.errors.append(exc)
        finally:
            self.out_q.put(_END)


def run_video(frames, sink, segmenter: Segmenter, renderer, rotation: int = 0,
              live: bool = False, workers: int = 2, on_frame=None, drop_stale: bool = False) -> PipelineStats:
    """frames: iterable of (index, pts, frame) in order, frame an RGB array or an I420 frame in
    its stored orientation (rotation: ffmpeg's display rotation); renderer(frame, alpha, index,
    rotation) makes the output pixels; sink has write(pixels, pts).

    live: shallow queues, so a frame leaves soon after it enters (streams, cameras).
    drop_stale: for capture devices, the model always takes the newest frame and skips older
    ones it has not started on; never for files or pipes, where every frame counts.
    """
    keep_freed_memory()  # the API path too, not only the CLI's
    decoded = LatestSlot() if drop_stale else queue.Queue(maxsize=1 if live else 4)
    # capture: one frame at a time, from the newest camera frame to the sink, with every core
    # on that frame (onnxruntime's and OpenCV's own threads). Two frames in flight on 2 cores
    # measured 100 ms from capture to sink at 720p for no more frames out; no finished matte
    # ever waits in a queue while newer frames arrive.
    in_flight = threading.Semaphore(1) if drop_stale else None
    modelled: queue.Queue = queue.Queue(maxsize=1 if live else 4)
    errors: list[BaseException] = []
    segmenter.reset()
    cuts_before = segmenter.scene_cuts  # the counter spans clips; report this one's

    def source():
        for index, pts, frame in frames:
            yield index, pts, frame, time.perf_counter()

    def model_stage():
        while True:
            if in_flight is not None:
                in_flight.acquire()
            item = decoded.get()
            if item is _END:
                return
            index, pts, frame, started = item
            yield index, pts, frame, started, segmenter.model_frame(frame, rotation)

    def composite(frame, first_step, sequence, index):
        # frames stay in their stored orientation: only the network needs them upright
        return renderer(frame, segmenter.finish_frame(first_step, frame, sequence), index, rotation)

    # frames in parallel already fill every core: OpenCV's own worker threads would only contend
    cv2_threads = cv2.getNumThreads()
    if not drop_stale:
        cv2.setNumThreads(1)
    stages = [_Stage("decode", source, decoded, errors), _Stage("model", model_stage, modelled, errors)]
    for s in stages:
        s.start()
    stats = PipelineStats()
    t0 = time.perf_counter()
    pending: collections.deque = collections.deque()
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="composite")

    def drain(limit: int):
        while len(pending) > limit:
            pts, started, fut = pending.popleft()
            sink.write(fut.result(), pts)
            if in_flight is not None:
                in_flight.release()
            stats.frames += 1
            stats.latencies.append(time.perf_counter() - started)
            if on_frame:
                on_frame(stats.frames)

    submitted = 0
    try:
        while True:
            item = modelled.get()
            if item is _END:
                break
            index, pts, frame, started, first_step = item
            pending.append((pts, started, pool.submit(composite, frame, first_step, submitted, index)))
            submitted += 1
            # live: frames overlap in the compositors but at most one waits behind another;
            # capture: each frame goes out before the model takes the next
            drain(0 if drop_stale else min(1, workers - 1) if live else workers + 1)
        drain(0)
    finally:
        for s in stages:
            s.stop.set()
        if in_flight is not None:
            for _ in range(len(stages)):
                in_flight.release()  # a model stage waiting for a free compositor must see the stop
        # unblock producers waiting on full queues until they end, so no stage thread is still
        # inside the model (native code) when an interrupted process exits
        deadline = time.monotonic() + 5
        while any(s.is_alive() for s in stages) and time.monotonic() < deadline:
            for q in (decoded, modelled):
                try:
                    while True:
                        q.get_nowait()
                except queue.Empty:
                    pass
            for s in stages:
                s.join(timeout=0.02)
        pool.shutdown(wait=True, cancel_futures=True)
        cv2.setNumThreads(cv2_threads)
    stats.seconds = time.perf_counter() - t0
    stats.scene_cuts = segmenter.scene_cuts - cuts_before
    stats.dropped = getattr(decoded, "dropped", 0)
    if errors:
        raise errors[0]
    return stats
