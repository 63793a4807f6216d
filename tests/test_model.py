"""The bundled network: interface, op set, size, metadata, integrity and artefact checks."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from portraitcli.errors import ModelError
from portraitcli.matting.model import BUNDLED_MODEL, PortraitModel, verify_bundled

ALLOWED_OPS = {"Conv", "ConvTranspose", "Relu", "Sigmoid", "Add"}


def test_graph_uses_only_the_published_design_ops():
    import onnx

    proto = onnx.load(str(BUNDLED_MODEL))
    ops = {node.op_type for node in proto.graph.node}
    assert ops <= ALLOWED_OPS, ops - ALLOWED_OPS
    assert {"Conv", "ConvTranspose", "Add", "Sigmoid"} <= ops
    assert 2.5e6 <= BUNDLED_MODEL.stat().st_size <= 5e6
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["input_size"] == "256" and meta["color_order"] == "RGB" and meta["resize"] == "stretch"
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims[1:]] == [3, 256, 256]


def test_runtime_reads_normalisation_from_metadata():
    model = PortraitModel(device="cpu", threads=1)
    assert model.size == 256 and not model.bgr
    x = model.preprocess(np.full((10, 20, 3), 255, np.uint8))
    assert x.shape == (3, 256, 256) and np.allclose(x, 1.0)


def test_dynamic_batch_matches_single():
    model = PortraitModel(device="cpu", threads=1)
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (120, 90, 3), dtype=np.uint8) for _ in range(3)]
    batch = model.predict_batch(frames)
    assert np.allclose(batch[1], model.predict(frames[1]), atol=1e-5)


def test_mirror_averaged_photo_probability_is_mirror_symmetric(astronaut_rgb):
    """A photo's map averages the network's output with its mirror image's: mirroring the photo
    mirrors the map exactly, which one inference alone does not do."""
    from portraitcli.matting.segmenter import Segmenter

    seg = Segmenter(device="cpu", threads=1, subjects="all")
    mirrored = np.ascontiguousarray(astronaut_rgb[:, ::-1])
    both = seg.frame_probability(astronaut_rgb), seg.frame_probability(mirrored)
    assert np.allclose(both[0], both[1][:, ::-1], atol=1e-5)
    single = seg.model.predict(astronaut_rgb), seg.model.predict(mirrored)
    assert np.abs(single[0] - single[1][:, ::-1]).max() > 1e-3  # precondition: the network is not symmetric
    assert np.allclose(both[0], (single[0] + single[1][:, ::-1]) / 2, atol=1e-5)
    # video frames run once, to stay real-time
    assert np.allclose(seg.model_frame(astronaut_rgb).probability, single[0], atol=1e-5)


def test_corrupt_bundled_model_is_refused(tmp_path):
    copy = tmp_path / BUNDLED_MODEL.name
    shutil.copy(BUNDLED_MODEL, copy)
    shutil.copy(BUNDLED_MODEL.with_name(BUNDLED_MODEL.name + ".sha256"), tmp_path)
    verify_bundled(copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 mismatch"):
        verify_bundled(copy)


def test_model_of_wrong_shape_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 64, 64])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ModelError, match="shape"):
        PortraitModel(path, device="cpu")
    not_onnx = tmp_path / "junk.onnx"
    not_onnx.write_text("hello")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        PortraitModel(not_onnx, device="cpu")


def test_no_checkerboard_on_flat_background():
    """A large flat wall: the raw output carries no periodic grid from the transposed convs."""
    from models.evaluate import checkerboard_energy, flat_background_photo

    model = PortraitModel(device="cpu", threads=1)
    prob = model.predict(flat_background_photo())
    assert prob.mean() < 0.2  # no person on an empty wall
    assert checkerboard_energy(prob) < 0.02
    # the metric does see a grid when there is one
    grid = prob + 0.05 * (np.indices(prob.shape).sum(axis=0) % 2)
    assert checkerboard_energy(grid) > 0.2


def test_layout_anchors_are_exact_identities():
    """The 1x1 Convs models.export adds after each upsampling (for onnxruntime's blocked layout)
    must not change the function: identity weights, no bias, right after ConvTranspose+ReLU."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(BUNDLED_MODEL))
    weights = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    producer = {out: node for node in proto.graph.node for out in node.output}
    anchors = [n for n in proto.graph.node if n.name.endswith("_anchor")]
    assert len(anchors) == sum(n.op_type == "ConvTranspose" for n in proto.graph.node) == 5
    for anchor in anchors:
        assert anchor.op_type == "Conv" and len(anchor.input) == 2  # no bias
        relu = producer[anchor.input[0]]
        assert relu.op_type == "Relu" and producer[relu.input[0]].op_type == "ConvTranspose"
        w = weights[anchor.input[1]]
        assert np.array_equal(w[:, :, 0, 0], np.eye(w.shape[0], dtype=np.float32))


def test_centre_crop_frames_the_middle_as_a_zoomed_camera(astronaut_rgb):
    from models.evaluate import centre_crop

    mask = np.zeros(astronaut_rgb.shape[:2], bool)
    mask[40:480, 150:350] = True  # a standing figure taller than the middle 1/1.6
    image, cut = centre_crop(astronaut_rgb, mask, 1.6)
    h, w = mask.shape
    assert image.shape[:2] == cut.shape == (int(h / 1.6), int(w / 1.6))
    top, left = (h - cut.shape[0]) // 2, (w - cut.shape[1]) // 2
    assert np.array_equal(image, astronaut_rgb[top:top + cut.shape[0], left:left + cut.shape[1]])
    assert cut.sum() < mask.sum()  # the box reaches past the middle, so the crop cuts it
    assert centre_crop(astronaut_rgb, mask, 1.0)[0].shape == astronaut_rgb.shape


def test_inset_shrinks_the_photo_into_a_scene_with_its_truth(astronaut_rgb, camera_grey):
    """models.evaluate --inset: the photo at half size on the scene's bottom edge, a third of the
    way across; the truth is the shrunk mask there and background everywhere else."""
    from models.evaluate import inset

    mask = np.zeros(astronaut_rgb.shape[:2], bool)
    mask[40:480, 150:350] = True
    scene = np.repeat(camera_grey[:, :, None], 3, axis=2)
    image, truth = inset(astronaut_rgb, mask, 0.5, scene)
    h, w = mask.shape
    assert image.shape == astronaut_rgb.shape and truth.shape == mask.shape
    top, left = h - h // 2, (w - w // 2) // 3
    assert np.array_equal(truth[top:, left:left + w // 2], mask[::2, ::2])  # nearest-neighbour halving
    assert truth.sum() == mask[::2, ::2].sum()  # nothing outside the inset
    shrunk = image[top:, left:left + w // 2].astype(int)
    assert np.abs(shrunk - astronaut_rgb[::2, ::2].astype(int)).mean() < 12  # the photo, halved
    assert np.abs(image[:top].astype(int) - scene[:top].astype(int)).mean() < 3  # the scene above it
