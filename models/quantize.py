"""The int8 variant of the bundled model: onnxruntime static quantisation (QDQ, per-channel
weights), calibrated on training photos only, and the fp32 / int8 table that decides its use.

    python -m models.quantize                 # portraitcli/assets/portrait256.onnx -> portrait256_int8.onnx
    python -m models.quantize --compare       # IoU / boundary F1 of both on every validation set, one run

The int8 file is made from the shipped fp32 model and from nothing else, reproducibly: the same
fp32 file and data give the same int8 file (the calibration photos are a fixed, sorted choice
from the training side of each labelled set; no photo of a validation list, and nothing of
`web`, which is validation only). Its metadata records the sha256 of the fp32 file it came from,
and portraitcli refuses an int8 file made from another fp32 model (`--precision int8` then says
to run this command again). Rerun it whenever portrait256.onnx changes.

Weights are int8 per output channel (symmetric, 7-bit range), activations uint8 per tensor,
calibrated by MinMax on the network's exact input (the same preprocessing as the CLI:
portraitcli.matting.model).
"""
from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

from models.data import DATA
from portraitcli.matting.model import BUNDLED_INT8, BUNDLED_MODEL, INT8_SOURCE_KEY, sha256_of

# labelled sets with a validation list: the calibration photos come from the rest of each
CALIBRATION_SETS = ("ccp", "picsart", "pennfudan", "viton")
# every validation set the table covers: models.evaluate's, and ccp zoomed in 1.6x
VALIDATION_SETS = ("ccp", "ccp-crops", "ccp-zoom1.6", "ccp-inset", "picsart", "pennfudan", "web")
# the rule for making int8 the default: within this of fp32 on every set, both figures
MAX_LOSS = 0.002


def validation_ids(data: Path = DATA) -> set[tuple[str, str]]:
    """(set, id) of every photo on any validation list: never calibrated on."""
    out = set()
    for folder in sorted(data.iterdir()):
        val = folder / "val.txt"
        if val.is_file():
            out |= {(folder.name, i) for i in val.read_text().split()}
    return out


def calibration_paths(count: int, data: Path = DATA) -> list[Path]:
    """count training photos, spread evenly over the sets and, within each, over its sorted ids."""
    excluded = validation_ids(data)
    per_set = []
    for name in CALIBRATION_SETS:
        images = data / name / "images"
        if not images.is_dir():
            continue
        paths = sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")
                       and (name, p.stem) not in excluded)
        per_set.append(paths)
    if not per_set:
        raise SystemExit(f"no training photos under {data} (set PORTRAITCLI_DATA)")
    share = -(-count // len(per_set))
    chosen = []
    for paths in per_set:
        step = max(1, len(paths) // share)
        chosen += paths[::step][:share]
    return chosen[:count]


class PhotoReader:
    """onnxruntime's CalibrationDataReader over photos, preprocessed exactly as the CLI does."""

    def __init__(self, paths: list[Path], fp32_path: Path):
        import cv2

        from portraitcli.matting.model import PortraitModel

        model = PortraitModel(fp32_path, device="cpu", threads=1)
        self.input_name = model.input_name
        self.batches = []
        for p in paths:
            rgb = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
            self.batches.append(model.preprocess(rgb)[None])
        self._iter = iter(self.batches)

    def get_next(self):
        x = next(self._iter, None)
        return None if x is None else {self.input_name: x}

    def rewind(self):
        self._iter = iter(self.batches)


def quantize(fp32_path: Path = BUNDLED_MODEL, out_path: Path = BUNDLED_INT8, count: int = 300,
             paths: list[Path] | None = None) -> Path:
    """Writes the int8 model (and its .sha256) made from fp32_path; returns out_path."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    paths = paths if paths is not None else calibration_paths(count)
    reader = PhotoReader(paths, fp32_path)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantized = Path(tmp) / "int8.onnx"
        # reduce_range: 7-bit weights. On x86 CPUs without VNNI (AVX2 only) onnxruntime's
        # uint8 x int8 kernels add pairs of products in int16 (VPMADDUBSW), which saturates with
        # full 8-bit weights: the sample photo's matte fell to IoU 0.69 against fp32 (0.97 with it)
        quantize_static(str(prepared), str(quantized), reader, quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        model = onnx.load(str(quantized))
    # the fp32 model's interface metadata, and where this file came from
    source = onnx.load(str(fp32_path))
    del model.metadata_props[:]
    for prop in source.metadata_props:
        model.metadata_props.add(key=prop.key, value=prop.value)
    extra = {INT8_SOURCE_KEY: sha256_of(fp32_path), "precision": "int8 (QDQ, per-channel weights)",
             "calibration": f"{len(paths)} training photos ({', '.join(CALIBRATION_SETS)}), MinMax"}
    for key, value in extra.items():
        model.metadata_props.add(key=key, value=value)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out_path))
    digest = hashlib.sha256(out_path.read_bytes()).hexdigest()
    out_path.with_name(out_path.name + ".sha256").write_text(f"{digest}  {out_path.name}\n")
    return out_path


def compare(fp32_path: Path = BUNDLED_MODEL, int8_path: Path = BUNDLED_INT8, data: Path = DATA) -> bool:
    """Both models on every validation set through models.evaluate (the CLI's photo path), in
    one run: prints the table and whether int8 may be the default (every IoU and BF1 within
    MAX_LOSS of fp32)."""
    import dataclasses

    from models.evaluate import ValidationSet, contenders, evaluate

    # each model exactly as models.evaluate runs ours, under its own label
    models = [dataclasses.replace(contenders(str(path))[0], name=label)
              for label, path in (("fp32", fp32_path), ("int8", int8_path))]
    sets = [name for name in VALIDATION_SETS if (data / ValidationSet.parse(name).folder / "val.txt").is_file()]
    missing = sorted(set(VALIDATION_SETS) - set(sets))
    results = evaluate(sets, models, data)
    print(f"{'set':<14}{'photos':>7}{'IoU fp32':>10}{'IoU int8':>10}{'BF1 fp32':>10}{'BF1 int8':>10}")
    ok = not missing
    for name, result in results["sets"].items():
        f, q = result["scores"]["fp32"], result["scores"]["int8"]
        within = f["iou"] - q["iou"] <= MAX_LOSS and f["boundary_f1"] - q["boundary_f1"] <= MAX_LOSS
        ok &= within
        print(f"{name:<14}{result['photos']:>7}{f['iou']:>10.4f}{q['iou']:>10.4f}{f['boundary_f1']:>10.4f}"
              f"{q['boundary_f1']:>10.4f}  {'ok' if within else 'LOSS > ' + str(MAX_LOSS)}")
    for name in missing:
        print(f"{name:<14} missing (no val.txt under {data})")
    figures = results["models"]
    print(f"ms per inference, 1 thread: fp32 {figures['fp32']['ms_per_inference_1_thread']:.2f}, "
          f"int8 {figures['int8']['ms_per_inference_1_thread']:.2f}")
    print(f"\nint8 {'may' if ok else 'may NOT'} be the default: every IoU and boundary F1 within {MAX_LOSS} of fp32: "
          f"{'yes' if ok else 'no'}")
    return ok


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fp32", type=Path, default=BUNDLED_MODEL, help="the fp32 model (default: the bundled one)")
    parser.add_argument("--out", type=Path, default=BUNDLED_INT8, help=f"int8 model to write (default {BUNDLED_INT8.name})")
    parser.add_argument("--calibration", type=int, default=300, help="training photos to calibrate on (default 300)")
    parser.add_argument("--compare", action="store_true",
                        help="do not quantise: score fp32 and the int8 file on every validation set")
    args = parser.parse_args(argv)
    if args.compare:
        raise SystemExit(0 if compare(args.fp32, args.out) else 1)
    paths = calibration_paths(args.calibration)
    out = quantize(args.fp32, args.out, paths=paths)
    print(f"{out}: int8 from {args.fp32.name} (sha256 {sha256_of(args.fp32)[:12]}), calibrated on {len(paths)} "
          f"training photos; sha256 {sha256_of(out)[:12]}")


if __name__ == "__main__":
    main()
