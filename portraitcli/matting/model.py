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
from portraitcli.media.frames import I420, colour_pyramid, to_uint8

log = logging.getLogger("portraitcli")

BUNDLED_MODEL = Path(__file__).resolve().parent.parent / "assets" / "portrait256.onnx"
# The int8 variant (`python -m models.quantize`), made from BUNDLED_MODEL and only valid beside it:
# its metadata records the fp32 file's sha256 under INT8_SOURCE_KEY.
BUNDLED_INT8 = BUNDLED_MODEL.with_name("portrait256_int8.onnx")
INT8_SOURCE_KEY = "quantized_from_sha256"
PRECISIONS = ("fp32", "int8")
REBUILD_INT8 = "rebuild it from the bundled fp32 model: python -m models.quantize"

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


# pip distributions that each install the same `onnxruntime` module: with two, the one installed
# last has overwritten the other's files, and which build runs is down to that order.
ONNXRUNTIME_BUILDS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino")
ONE_BUILD_FIX = ("pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu "
                 "(or onnxruntime alone for the CPU)")


def onnxruntime_builds() -> list[str]:
    """The onnxruntime distributions installed (normally exactly one)."""
    from importlib import metadata

    found = []
    for name in ONNXRUNTIME_BUILDS:
        try:
            metadata.distribution(name)
            found.append(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def warn_if_several_builds() -> list[str]:
    builds = onnxruntime_builds()
    if len(builds) > 1:
        log.warning("%s are all installed and share one onnxruntime module: the GPU may go unused; %s",
                    " and ".join(builds), ONE_BUILD_FIX)
    return builds


def expected_sha256(path: Path) -> str:
    """The sha256 a bundled file should have (its .sha256 file, else the file's own)."""
    recorded = path.with_name(path.name + ".sha256")
    return recorded.read_text().split()[0] if recorded.exists() else sha256_of(path)


def bundled_path(precision: str = "fp32") -> Path:
    """The bundled model file for a precision (fp32 always ships; int8 once models.quantize ran)."""
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; choose {' or '.join(PRECISIONS)}")
    if precision == "fp32":
        return BUNDLED_MODEL
    if not BUNDLED_INT8.exists():
        raise ModelError(f"{BUNDLED_INT8.name}: the int8 model is not built; {REBUILD_INT8}")
    return BUNDLED_INT8


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
        hint = "; install the GPU build (README: GPU)" if device == "cuda" else ""
        raise ModelError(f"device {device!r} needs onnxruntime's {provider}, which this install lacks "
                         f"(available: {', '.join(available)}){hint}")
    return [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]


class PortraitModel:
    """Runs the 256x256 segmentation network on RGB frames of any size.

    predict(rgb) -> float32 probability map at the model's resolution (size x size); the
    caller (matte.refine) brings it back to full resolution along the photo's edges.
    """

    def __init__(self, path: str | os.PathLike | None = None, device: str = "auto", threads: int | None = None,
                 precision: str = "fp32"):
        import onnxruntime as ort

        if path and precision != "fp32":
            raise ModelError(f"--precision {precision} picks a bundled model, not --model {path} "
                             "(quantise your own with python -m models.quantize --fp32 MODEL --out OUT)")
        self.path = Path(path) if path else bundled_path(precision)
        self.precision = precision
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
        warn_if_several_builds()
        providers = choose_providers(device)
        if providers[0] == "CUDAExecutionProvider" and hasattr(ort, "preload_dlls"):
            # CUDA and cuDNN from the nvidia-* wheels (onnxruntime-gpu[cuda,cudnn]), where no
            # system CUDA is on the library path; a failure here shows as CUDA not starting below
            try:
                ort.preload_dlls()
            except Exception as exc:  # noqa: BLE001
                log.debug("onnxruntime.preload_dlls: %s", exc)
        self.session = self._open(ort, options, providers)
        self._read_interface()
        if device != "auto" or providers[0] == "CPUExecutionProvider":
            self._require(providers[0], device)
        else:
            self._fall_back_unless_working(ort, options, providers)
        if self.precision == "int8":
            source = self.session.get_modelmeta().custom_metadata_map.get(INT8_SOURCE_KEY)
            if source != expected_sha256(BUNDLED_MODEL):
                raise ModelError(f"{self.path.name} was made from another fp32 model than the bundled "
                                 f"{BUNDLED_MODEL.name}; {REBUILD_INT8}")
        log.info("onnxruntime provider: %s (model %s, %s)", self.provider, self.path.name, self.precision)

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0]

    def _open(self, ort, options, providers):
        try:
            # onnxruntime warns (and falls back) when a provider is missing: checked below instead
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            if providers[0] != "CPUExecutionProvider" and self.path.is_file():
                raise ModelError(f"{providers[0]} could not run {self.path.name} ({reason[:200]})") from None
            raise ModelError(f"{self.path}: not a loadable ONNX model ({reason[:200]})") from None

    def _probe(self) -> None:
        """One inference: a provider that loads may still fail on its first run (driver, memory)."""
        self.session.run(None, {self.input_name: np.zeros((1, 3, self.size, self.size), np.float32)})

    def _require(self, provider: str, device: str) -> None:
        """--device NAME: that provider runs the model, or the run stops with the reason."""
        if self.provider != provider:
            raise ModelError(f"device {device!r}: onnxruntime could not start {provider} (it would run on "
                             f"{self.provider}); check the GPU driver and the CUDA/cuDNN libraries "
                             "onnxruntime-gpu needs (README: GPU)")
        if provider != "CPUExecutionProvider":
            try:
                self._probe()
            except Exception as exc:  # noqa: BLE001 - any failure of the device is the same answer
                raise ModelError(f"device {device!r}: {provider} failed on a first inference "
                                 f"({str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__})") from None

    def _fall_back_unless_working(self, ort, options, providers: list[str]) -> None:
        """--device auto: the preferred accelerator if it starts and runs a first inference, else CPU."""
        if self.provider == providers[0]:
            try:
                self._probe()
                return
            except Exception as exc:  # noqa: BLE001 - any failure of the device means: use the CPU
                reason = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
        else:
            reason = "it did not start"
        log.info("onnxruntime: %s is installed but not usable (%s): running on CPU", providers[0], reason)
        if self.provider != "CPUExecutionProvider":
            self.session = self._open(ort, options, ["CPUExecutionProvider"])

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
        # the same normalisation in one OpenCV pass (1/6 of the numpy time), where it is one
        # scale and one offset for all channels, as for the bundled model
        self._uniform = bool(np.all(self.std == self.std[0]) and np.all(self.mean == self.mean[0]))

    def shrink(self, frame) -> np.ndarray:
        """An RGB array (any size and dtype), its Pyramid or an I420 frame -> size x size uint8
        RGB: what the network sees. Also the cheap thumbnail the temporal filter compares frames by."""
        if isinstance(frame, I420):
            return frame.small_rgb(self.size, self.size)
        return to_uint8(colour_pyramid(frame).shrink(self.size, self.size))

    def to_input(self, small: np.ndarray) -> np.ndarray:
        """size x size uint8 RGB -> 3 x size x size float32, normalised as the metadata says."""
        if self._uniform:
            import cv2

            scale = float(self._mul[0, 0, 0])
            return cv2.dnn.blobFromImage(small, scale, mean=(float(-self._add[0, 0, 0] / scale),) * 3,
                                         swapRB=self.bgr)[0]
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
        return self.predict_smalls([small], mirrored)[0]

    def predict_smalls(self, smalls: list[np.ndarray], mirrored: bool = False) -> list[np.ndarray]:
        """predict_small of several images in one network batch (their mirror images too)."""
        x = np.stack([self.to_input(small) for small in smalls])
        if mirrored:
            x = np.concatenate([x, x[:, :, :, ::-1]])
        out = self.session.run(None, {self.input_name: x})[0]
        n = len(smalls)
        if not mirrored:
            return [out[i, 0] for i in range(n)]
        return [(out[i, 0] + out[n + i, 0, :, ::-1]) * np.float32(0.5) for i in range(n)]

    def predict_batch(self, frames: list) -> list[np.ndarray]:
        batch = np.stack([self.preprocess(f) for f in frames])
        out = self.session.run(None, {self.input_name: batch})[0]
        return [o[0] for o in out]

