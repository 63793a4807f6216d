"""Model latency: onnxruntime CPU, 1 thread, batch 1, 256x256, several ONNX files interleaved.

    python bench/model_latency.py                          # the bundled model
    python bench/model_latency.py a.onnx b.onnx --runs 200 # side by side, same conditions

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


def main() -> None:
    from portraitcli.model import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=[str(BUNDLED_MODEL)])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    sessions = [session(p) for p in args.models]
    x = np.random.default_rng(0).random((1, 3, 256, 256), dtype=np.float32)
    for s in sessions:  # warm-up off the clock
        for _ in range(20):
            s.run(None, {s.get_inputs()[0].name: x})
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(args.runs):
        for i, s in enumerate(sessions):
            t0 = time.perf_counter()
            s.run(None, {s.get_inputs()[0].name: x})
            times[i].append(time.perf_counter() - t0)
    print(f"onnxruntime CPU, 1 thread, batch 1, 256x256, {args.runs} interleaved runs")
    for path, t in zip(args.models, times):
        ms = np.array(t) * 1e3
        print(f"  {path}: median {np.median(ms):.2f} ms  p10 {np.percentile(ms, 10):.2f}  p90 {np.percentile(ms, 90):.2f}")


if __name__ == "__main__":
    main()
