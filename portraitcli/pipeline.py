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

import numpy as np

from portraitcli.matte import full_resolution
from portraitcli.render import Renderer
from portraitcli.segmenter import Segmenter

_END = object()


@dataclass
class PipelineStats:
    frames: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # source-to-sink seconds per frame
    scene_cuts: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """The frame as it is displayed (ffmpeg rotation degrees, e.g. -90 or 270)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(frame, k)) if k else frame


def stored(frame: np.ndarray, rotation: int) -> np.ndarray:
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(frame, -k)) if k else frame


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


def run_video(frames, sink, segmenter: Segmenter, renderer: Renderer, rotation: int = 0,
              live: bool = False, workers: int = 2, on_frame=None) -> PipelineStats:
    """frames: iterable of (index, pts, rgb) in order; sink: has write(pixels, pts)."""
    depth = 1 if live else 4
    decoded: queue.Queue = queue.Queue(maxsize=depth)
    modelled: queue.Queue = queue.Queue(maxsize=depth)
    errors: list[BaseException] = []
    segmenter.reset()
    cuts_before = segmenter.smoother.scene_cuts  # the smoother's counter spans clips; report this one's
    started = {}

    def source():
        for index, pts, rgb in frames:
            started[index] = time.perf_counter()
            yield index, pts, rgb

    def model_stage():
        while True:
            item = decoded.get()
            if item is _END:
                return
            index, pts, rgb = item
            view = upright(rgb, rotation)
            prob = segmenter.model.predict(view)
            prob = segmenter.smoother.smooth(prob, view)
            yield index, pts, view, prob

    def composite(view, prob, index):
        alpha = full_resolution(prob, view, segmenter.refine)
        return stored(renderer(view, alpha, index), rotation)

    stages = [_Stage("decode", source, decoded, errors), _Stage("model", model_stage, modelled, errors)]
    for s in stages:
        s.start()
    stats = PipelineStats()
    t0 = time.perf_counter()
    pending: collections.deque = collections.deque()
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="composite")

    def drain(limit: int):
        while len(pending) > limit:
            index, pts, fut = pending.popleft()
            sink.write(fut.result(), pts)
            stats.frames += 1
            stats.latencies.append(time.perf_counter() - started.pop(index, time.perf_counter()))
            if on_frame:
                on_frame(stats.frames)

    try:
        while True:
            item = modelled.get()
            if item is _END:
                break
            index, pts, view, prob = item
            pending.append((index, pts, pool.submit(composite, view, prob, index)))
            drain(0 if live else workers + 1)
        drain(0)
    finally:
        for s in stages:
            s.stop.set()
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
    stats.seconds = time.perf_counter() - t0
    stats.scene_cuts = segmenter.smoother.scene_cuts - cuts_before
    if errors:
        raise errors[0]
    return stats
