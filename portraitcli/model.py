"""The ONNX person-segmentation model: session, execution provider, pre- and post-processing.

The preprocessing (input size, colour order, scale, mean/std, resize mode) is read from the
model's ONNX metadata, so another model of the same interface can bring its own.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from portraitcli.errors import ModelError
from portraitcli.frames import I420, colour_pyramid, to_uint8

log = logging.getLogger("portraitcli")

BUNDLED_MODEL = Path(__file__).resolve().parent / "assets" / "portrait256.onnx"

DEVICES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "dml": "DmlExecutionProvider",
}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_bundled(path: Path = BUNDLED_MODEL) -> None:
    if not path.exists():
        raise ModelError(f"{path}: bundled model missing (reinstall portraitcli)")
    expected_file = path.with_name(path.name + ".sha256")
    if expected_file.exists():
        expected = expected_file.read_text().split()[0]
        actual = sha256_of(path)
        if actual != expected:
            raise ModelError(f"{path}: sha256 mismatch (expected {expected[:12]}..., got {actual[:12]}...); "
                             "the bundled model is corrupt, reinstall portraitcli")


def choose_providers(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "auto":
        preferred = [DEVICES[d] for d in ("cuda", "coreml", "dml") if DEVICES[d] in available]
        return preferred + ["CPUExecutionProvider"]
    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r}; choose from auto, {', '.join(DEVICES)}")
    provider = DEVICES[device]
    if provider not in available:
        raise ModelError(f"device {device!r} needs onnxruntime's {provider}, which this install lacks "
                         f"(available: {', '.join(available)})")
    return [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]


class PortraitModel:
    """Runs the 256x256 segmentation network on RGB frames of any size.

    predict(rgb) -> float32 probability map at the model's resolution (size x size); the
    caller (matte.refine) brings it back to full resolution along the photo's edges.
    """

    def __init__(self, path: str | os.PathLike | None = None, device: str = "auto", threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path) if path else BUNDLED_MODEL
        if path is None:
            verify_bundled(self.path)
        elif not self.path.is_file():
            raise ModelError(f"{self.path}: model file not found")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # no busy-waiting between runs: in a pipeline the other stages need those cycles
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # trained weights leave tiny activations: denormal arithmetic measured ~20% slower
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        providers = choose_providers(device)
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path}: not a loadable ONNX model ({reason[:200]})") from None
        self.provider = self.session.get_providers()[0]
        log.info("onnxruntime provider: %s (model %s)", self.provider, self.path.name)
        self._read_interface()

    def _read_interface(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelError(f"{self.path}: expected one image input and one matte output")
        shape = inputs[0].shape
        meta = self.session.get_modelmeta().custom_metadata_map
        size = int(meta.get("input_size", 256))
        if len(shape) != 4 or shape[1] != 3 or shape[2] not in (size, None) or shape[3] not in (size, None) \
                or isinstance(shape[2], str) or isinstance(shape[3], str):
            raise ModelError(f"{self.path}: input shape {shape} is not Nx3x{size}x{size}")
        out_shape = outputs[0].shape
        if len(out_shape) != 4 or out_shape[1] != 1:
            raise ModelError(f"{self.path}: output shape {out_shape} is not Nx1xHxW")
        self.input_name = inputs[0].name
        self.size = size
        self.bgr = meta.get("color_order", "RGB").upper() == "BGR"
        self.scale = float(meta.get("scale", 1 / 255))
        self.mean = np.array([float(v) for v in meta.get("mean", "0,0,0").split(",")], np.float32)
        self.std = np.array([float(v) for v in meta.get("std", "1,1,1").split(",")], np.float32)
        # fold scale/mean/std into one multiply-add per channel
        self._mul = (self.scale / self.std).reshape(3, 1, 1).astype(np.float32)
        self._add = (-self.mean / self.std).reshape(3, 1, 1).astype(np.float32)

    def shrink(self, frame) -> np.ndarray:
        """An RGB array (any size and dtype), its Pyramid or an I420 frame -> size x size uint8
        RGB: what the network sees. Also the cheap thumbnail the temporal filter compares frames by."""
        if isinstance(frame, I420):
            return frame.small_rgb(self.size, self.size)
        return to_uint8(colour_pyramid(frame).shrink(self.size, self.size))

    def to_input(self, small: np.ndarray) -> np.ndarray:
        """size x size uint8 RGB -> 3 x size x size float32, normalised as the metadata says."""
        if self.bgr:
            small = small[:, :, ::-1]
        x = small.transpose(2, 0, 1).astype(np.float32)
        return x * self._mul + self._add

    def preprocess(self, frame) -> np.ndarray:
        return self.to_input(self.shrink(frame))

    def predict(self, frame) -> np.ndarray:
        return self.predict_batch([frame])[0]

    def predict_small(self, small: np.ndarray, mirrored: bool = False) -> np.ndarray:
        """Probability map for an already shrunk size x size uint8 RGB image. mirrored: also run
        the mirror image (one batch of two) and average the two maps."""
        x = self.to_input(small)[None]
        if not mirrored:
            return self.session.run(None, {self.input_name: x})[0][0, 0]
        out = self.session.run(None, {self.input_name: np.concatenate([x, x[:, :, :, ::-1]])})[0]
        return (out[0, 0] + out[1, 0, :, ::-1]) * np.float32(0.5)

    def predict_batch(self, frames: list) -> list[np.ndarray]:
        batch = np.stack([self.preprocess(f) for f in frames])
        out = self.session.run(None, {self.input_name: batch})[0]
        return [o[0] for o in out]

