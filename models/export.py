"""Export trained weights to the ONNX file bundled in the package: `python -m models.export`.

Writes portraitcli/assets/portrait256.onnx and its .sha256 beside it (checked at load time).
The preprocessing the runtime must apply is stored in the ONNX metadata_props, so the
runtime reads it instead of hard-coding it.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
from pathlib import Path

import torch

from models.net import PortraitUNet, count_macs, count_parameters

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "portraitcli" / "assets" / "portrait256.onnx"
ALLOWED_OPS = {"Conv", "ConvTranspose", "Relu", "Sigmoid", "Add"}
SIZE = 256

PREPROCESSING = {
    "input_size": str(SIZE),
    "color_order": "RGB",
    "layout": "NCHW",
    "resize": "stretch",  # whole frame squashed to SIZE x SIZE, no letterbox
    "scale": str(1 / 255),
    "mean": "0,0,0",
    "std": "1,1,1",
    "output": "sigmoid person probability, 1 channel, SIZE x SIZE",
}


def anchor_upsampling_outputs(proto) -> int:
    """Insert an identity 1x1 Conv after each ReLU that follows a ConvTranspose; returns how many.

    The function is unchanged (exactly x). Why: onnxruntime's CPU provider runs Conv in its blocked
    NCHWc layout but ConvTranspose in plain NCHW, so every decoder level after an upsampling fell
    back to plain layout: the skip additions and the residual Add+ReLU could not be fused into the
    convolutions, and layout reorders ran around each of them. A Conv right after the upsampling
    moves the data back into the blocked layout, and onnxruntime then fuses the skip addition into
    it. Measured: 9.6 -> 8.8 ms per 256x256 inference (1 thread; bench/model_latency.py).
    """
    import numpy as np
    from onnx import helper, numpy_helper

    graph = proto.graph
    weights = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    relus = [n for n in graph.node if n.op_type == "Relu"
             and getattr(producer.get(n.input[0]), "op_type", None) == "ConvTranspose"]
    for relu in relus:
        transpose = producer[relu.input[0]]
        channels = numpy_helper.to_array(weights[transpose.input[1]]).shape[1]
        before, after = relu.output[0], relu.output[0] + "_anchored"
        for node in graph.node:
            node.input[:] = [after if name == before else name for name in node.input]
        identity = np.eye(channels, dtype=np.float32).reshape(channels, channels, 1, 1)
        graph.initializer.append(numpy_helper.from_array(identity, relu.name + "_anchor_weight"))
        anchor = helper.make_node("Conv", [before, relu.name + "_anchor_weight"], [after],
                                  name=relu.name + "_anchor", kernel_shape=[1, 1])
        nodes = list(graph.node)
        nodes.insert(nodes.index(relu) + 1, anchor)
        del graph.node[:]
        graph.node.extend(nodes)
    return len(relus)


def export(weights: Path, out: Path, arch: str = "lean") -> str:
    import onnx

    model = PortraitUNet(arch).eval()
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    buf = io.BytesIO()
    torch.onnx.export(model, (torch.rand(1, 3, SIZE, SIZE),), buf, input_names=["image"],
                      output_names=["alpha"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {0: "batch"}, "alpha": {0: "batch"}})
    proto = onnx.load_from_string(buf.getvalue())
    anchor_upsampling_outputs(proto)
    ops = {node.op_type for node in proto.graph.node}
    if not ops <= ALLOWED_OPS:
        raise SystemExit(f"unexpected ops in the graph: {sorted(ops - ALLOWED_OPS)}")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = ""
    meta = dict(PREPROCESSING, name="portraitcli PortraitUNet", parameters=str(count_parameters(model)),
                macs=str(count_macs(model)), trained_at_commit=commit)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "portraitcli models.export"
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    digest = hashlib.sha256(data).hexdigest()
    out.with_name(out.name + ".sha256").write_text(f"{digest}  {out.name}\n")
    print(json.dumps({"onnx": str(out), "bytes": len(data), "sha256": digest, "ops": sorted(ops)}))
    return digest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the weight average scored a little above the raw final weights on the validation sets
    parser.add_argument("--weights", type=Path, default=ROOT / "models" / "runs" / "main" / "final_ema.pt",
                        help="state_dict saved by models.train (default: the main run's weight average, final_ema.pt)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--arch", default="lean", help="layout name in models.net.ARCHES")
    args = parser.parse_args(argv)
    weights = args.weights
    if not weights.exists():
        # a run still in progress: take the newest checkpoint's weights
        ckpt = weights.parent / "last.pt"
        state = torch.load(ckpt, map_location="cpu", weights_only=False)["model"]
        weights = weights.parent / "interim.pt"
        torch.save(state, weights)
    export(weights, args.out, args.arch)


if __name__ == "__main__":
    main()
