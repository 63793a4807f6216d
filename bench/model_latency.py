"""Model latency: CPU, 1 thread, batch 1, 256x256, several models interleaved.

    python bench/model_latency.py                          # the bundled model
    python bench/model_latency.py a.onnx b.onnx --runs 200 # side by side, same conditions
    python bench/model_latency.py --peer mediapipe         # the bundled model beside MediaPipe selfie

ONNX files run in onnxruntime, MediaPipe selfie (the evaluation peer, models/teacher.py) in
LiteRT with one thread.
Sessions are set up as the CLI sets them up (no spinning, denormals flushed to zero); the files
take turns run by run, so machine noise hits them alike. Prints median, p10 and p90 per file.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def session(path: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class MediaPipeRunner:
    """MediaPipe selfie through LiteRT, 1 thread, timed like an onnxruntime session's run."""

    def __init__(self):
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from models.teacher import MediaPipeSelfie

        self.model = MediaPipeSelfie(num_threads=1)
        self.image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)

    def run(self) -> None:
        self.model.predict_square(self.image)


def main() -> None:
    from portraitcli.matting.model import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=[str(BUNDLED_MODEL)])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--peer", choices=["mediapipe"], help="also time MediaPipe selfie (needs ai-edge-litert)")
    args = parser.parse_args()
    x = np.random.default_rng(0).random((1, 3, 256, 256), dtype=np.float32)
    runners = []
    for path in args.models:
        s = session(path)
        runners.append((path, lambda s=s: s.run(None, {s.get_inputs()[0].name: x})))
    if args.peer:
        runners.append(("MediaPipe selfie (LiteRT)", MediaPipeRunner().run))
    for _, run in runners:  # warm-up off the clock
        for _ in range(20):
            run()
    times: list[list[float]] = [[] for _ in runners]
    for _ in range(args.runs):
        for i, (_, run) in enumerate(runners):
            t0 = time.perf_counter()
            run()
            times[i].append(time.perf_counter() - t0)
    print(f"CPU, 1 thread, batch 1, 256x256, {args.runs} interleaved runs")
    medians = []
    for (name, _), t in zip(runners, times):
        ms = np.array(t) * 1e3
        medians.append(np.median(ms))
        print(f"  {name}: median {medians[-1]:.2f} ms  p10 {np.percentile(ms, 10):.2f}  p90 {np.percentile(ms, 90):.2f}")
    if args.peer:
        print(f"  ratio of the first model to the peer: {medians[0] / medians[-1]:.2f}x")


if __name__ == "__main__":
    main()
