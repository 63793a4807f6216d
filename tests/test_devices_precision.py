"""Execution providers (--device), the int8 variant (--precision, models/quantize.py) and the
photo batch path a GPU takes. Tests that need CUDA skip where onnxruntime has no usable GPU."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
from PIL import Image

from portraitcli.matting import model as model_module
from portraitcli.errors import ModelError

from .conftest import run_portraitcli


def cuda_works() -> bool:
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return False
    try:
        return model_module.PortraitModel(device="cuda").provider == "CUDAExecutionProvider"
    except ModelError:
        return False


needs_cuda = pytest.mark.skipif(not cuda_works(), reason="no usable CUDA: onnxruntime-gpu and an NVIDIA GPU needed")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a > 0.5) & (b > 0.5)).sum() / max(1, ((a > 0.5) | (b > 0.5)).sum()))


# --------------------------------------------------------------------------- --device


@pytest.mark.skipif(cuda_works(), reason="CUDA runs here: the failure cannot be shown")
def test_device_cuda_fails_loudly_without_a_gpu(astronaut_png, tmp_path):
    proc = run_portraitcli("blur", "--device", "cuda", astronaut_png, tmp_path / "x.jpg")
    assert proc.returncode == 1
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "CUDAExecutionProvider" in lines[0] and "Traceback" not in lines[0]
    assert not (tmp_path / "x.jpg").exists()


def test_cuda_listed_but_not_starting(monkeypatch, caplog):
    """A GPU build whose CUDA cannot start (no driver, wrong libraries): onnxruntime quietly
    runs on the CPU instead. --device cuda must stop with the reason; auto goes on, on the CPU,
    and says so."""
    import onnxruntime

    if cuda_works():
        pytest.skip("CUDA starts here")
    listed = ["CUDAExecutionProvider", *onnxruntime.get_available_providers()]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: listed)
    with pytest.raises(ModelError, match="could not start CUDAExecutionProvider"):
        model_module.PortraitModel(device="cuda")
    with caplog.at_level(logging.INFO, logger="portraitcli"):
        model = model_module.PortraitModel(device="auto")
    assert model.provider == "CPUExecutionProvider"
    assert "CUDAExecutionProvider is installed but not usable" in caplog.text
    assert "onnxruntime provider: CPUExecutionProvider" in caplog.text


def test_two_onnxruntime_builds_are_reported(monkeypatch, caplog, astronaut_png):
    from portraitcli.info import describe_runtime, format_text

    monkeypatch.setattr(model_module, "onnxruntime_builds", lambda: ["onnxruntime", "onnxruntime-gpu"])
    text = format_text(describe_runtime())
    assert "WARNING: onnxruntime and onnxruntime-gpu are both installed" in text
    with caplog.at_level(logging.WARNING, logger="portraitcli"):
        model_module.PortraitModel(device="cpu")
    assert "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu" in caplog.text


def test_info_runtime_names_the_build():
    proc = run_portraitcli("info", "--runtime")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    assert "installed builds:" in out and "CPUExecutionProvider" in out


@needs_cuda
def test_cuda_matte_matches_cpu(astronaut_rgb):
    from portraitcli import Segmenter

    cpu, gpu = Segmenter(device="cpu"), Segmenter(device="cuda")
    assert gpu.provider == "CUDAExecutionProvider"
    a, b = cpu.matte(astronaut_rgb), gpu.matte(astronaut_rgb)
    assert np.abs(a - b).mean() < 0.002 and iou(a, b) > 0.995


@needs_cuda
def test_cli_blur_on_cuda_logs_the_provider(astronaut_png, tmp_path):
    proc = run_portraitcli("blur", "-v", "--device", "cuda", astronaut_png, tmp_path / "x.jpg")
    assert proc.returncode == 0
    assert b"onnxruntime provider: CUDAExecutionProvider" in proc.stderr
    assert (tmp_path / "x.jpg").exists()


# --------------------------------------------------------------------------- photo batches (the GPU path)


def test_photo_batch_path_matches_one_by_one(tmp_path, astronaut_rgb):
    """Worker.run_batch (one network batch, threads for the rest) writes what Worker.run writes
    photo by photo; a corrupt file fails alone and the rest are done."""
    from skimage import data

    from portraitcli.batch.plan import Task
    from portraitcli.batch.worker import Worker
    from portraitcli.options import RenderOptions, Settings

    src = tmp_path / "in"
    src.mkdir()
    photos = {"astronaut": astronaut_rgb, "coffee": data.coffee(), "small": cv2.resize(astronaut_rgb, (300, 200))}
    for name, rgb in photos.items():
        Image.fromarray(rgb).save(src / f"{name}.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    names = ["astronaut", "broken", "coffee", "small"]
    worker = Worker(Settings(render=RenderOptions(command="replace-bg", background="#3366cc")), threads=1)

    def tasks(folder):
        return [Task(str(src / f"{n}.png"), str(tmp_path / folder / f"{n}.png"), "photo") for n in names]

    batched = worker.run_batch(tasks("batch"))
    single = [worker.run(t) for t in tasks("single")]
    assert [r.status for r in batched] == ["done", "failed", "done", "done"] == [r.status for r in single]
    assert batched[1].reason == single[1].reason
    for n in ("astronaut", "coffee", "small"):
        a = np.asarray(Image.open(tmp_path / "batch" / f"{n}.png"))
        b = np.asarray(Image.open(tmp_path / "single" / f"{n}.png"))
        assert np.array_equal(a, b), n
    assert not (tmp_path / "batch" / "broken.png").exists()


# --------------------------------------------------------------------------- int8 (models/quantize.py)


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory):
    """An int8 model quantised from the bundled fp32 one, calibrated on a few sample photos
    (the real calibration reads ../shared/data's training photos; CI has none)."""
    from skimage import data

    from models.quantize import quantize

    folder = tmp_path_factory.mktemp("calibration")
    paths = []
    for name in ("astronaut", "coffee", "chelsea", "immunohistochemistry"):
        path = folder / f"{name}.png"
        Image.fromarray(getattr(data, name)()).save(path)
        paths.append(path)
    return quantize(out_path=folder / "int8.onnx", paths=paths)


def test_int8_model_records_its_source_and_agrees_with_fp32(int8_model, monkeypatch, astronaut_rgb):
    import onnx

    from portraitcli import Segmenter

    meta = {p.key: p.value for p in onnx.load(str(int8_model)).metadata_props}
    assert meta[model_module.INT8_SOURCE_KEY] == model_module.sha256_of(model_module.BUNDLED_MODEL)
    assert meta["input_size"] == "256"  # the fp32 model's interface metadata came along
    monkeypatch.setattr(model_module, "BUNDLED_INT8", int8_model)
    int8 = Segmenter(device="cpu", precision="int8")
    assert int8.model.path == int8_model and int8.model.precision == "int8"
    fp32 = Segmenter(device="cpu")
    assert iou(int8.matte(astronaut_rgb), fp32.matte(astronaut_rgb)) > 0.9


def test_int8_made_from_another_fp32_model_is_refused(int8_model, monkeypatch):
    monkeypatch.setattr(model_module, "BUNDLED_INT8", int8_model)
    monkeypatch.setattr(model_module, "expected_sha256", lambda path: "0" * 64)
    with pytest.raises(ModelError, match="made from another fp32 model.*python -m models.quantize"):
        model_module.PortraitModel(device="cpu", precision="int8")


def test_int8_missing_says_how_to_build_it(monkeypatch, tmp_path, astronaut_png):
    monkeypatch.setattr(model_module, "BUNDLED_INT8", tmp_path / "absent.onnx")
    with pytest.raises(ModelError, match="not built; .*python -m models.quantize"):
        model_module.PortraitModel(device="cpu", precision="int8")


def test_precision_with_another_model_is_refused(astronaut_png, tmp_path):
    proc = run_portraitcli("blur", "--precision", "int8", "--model", str(model_module.BUNDLED_MODEL),
                           astronaut_png, tmp_path / "x.jpg")
    assert proc.returncode == 1 and b"--precision int8 picks a bundled model" in proc.stderr
    assert not (tmp_path / "x.jpg").exists()
