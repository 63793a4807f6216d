"""MediaPipe selfie segmentation, used as a distillation teacher and as the evaluation peer.

The .tflite file is never committed: it is unpacked from the PyPI wheel mediapipe==0.10.21
(Apache-2.0) into a cache folder on first use. Runs with ai-edge-litert.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

WHEEL_MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"
CACHE = Path(os.environ.get("PORTRAITCLI_TEACHER_CACHE", Path.home() / ".cache" / "portraitcli" / "teacher"))


def teacher_path() -> Path:
    target = CACHE / "selfie_segmentation.tflite"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
                        "mediapipe==0.10.21"], check=True)
        wheel = next(Path(tmp).glob("mediapipe-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(WHEEL_MEMBER)
    tmp_target = target.with_suffix(".part")
    tmp_target.write_bytes(data)
    tmp_target.replace(target)
    return target


class MediaPipeSelfie:
    """256x256 RGB in [0,1] -> person probability, same stretch-resize as our model."""

    size = 256

    def __init__(self, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(teacher_path()), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        self.output_index = self.interpreter.get_output_details()[0]["index"]

    def predict_square(self, rgb256: np.ndarray) -> np.ndarray:
        """rgb256: HxWx3 uint8 at 256x256 -> 256x256 float32 probability."""
        x = (rgb256.astype(np.float32) / 255.0)[None]
        self.interpreter.set_tensor(self.input_index, x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_index)[0, :, :, 0].copy()

    def predict(self, rgb: np.ndarray, flip_average: bool = False) -> np.ndarray:
        """Full-size RGB uint8 -> 256x256 probability (caller upsamples)."""
        small = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)
        prob = self.predict_square(small)
        if flip_average:
            prob = 0.5 * (prob + self.predict_square(small[:, ::-1].copy())[:, ::-1])
        return prob
