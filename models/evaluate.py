"""Evaluate the bundled model (and optionally MediaPipe selfie) through the CLI's own code path.

    python -m models.evaluate --images ../shared/data/ccp/images --masks ../shared/data/ccp/masks \
        --list ../shared/data/ccp/val.txt --peer mediapipe [--crops]

Scores at each photo's own resolution, through the CLI's photo path (the network's output
averaged with its mirror image's, bystanders faded out, full-resolution refinement):
mean IoU (alpha > 0.5), boundary F1 (boundaries matched within a tolerance of 0.75% of the
diagonal, as in the DAVIS benchmark) and MAE; plus median ms per inference (1 thread, batch 1)
and the checkerboard energy of the raw output on flat backgrounds. --crops scores
head-and-shoulder crops cut from the same photos instead, --zoom Z their central 1/Z, and
--inset K each photo shrunk by K into a wider scene (people far from the camera).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from portraitcli.segmenter import photo_alpha


def iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    pred = alpha > 0.5
    union = np.logical_or(pred, truth).sum()
    return float(np.logical_and(pred, truth).sum() / union) if union else 1.0


def _boundary(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8))) > 0


def boundary_f1(alpha: np.ndarray, truth: np.ndarray) -> float:
    pred_b, true_b = _boundary(alpha > 0.5), _boundary(truth)
    tol = max(1, int(round(0.0075 * np.hypot(*truth.shape))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tol + 1, 2 * tol + 1))
    true_zone = cv2.dilate(true_b.astype(np.uint8), kernel) > 0
    pred_zone = cv2.dilate(pred_b.astype(np.uint8), kernel) > 0
    if pred_b.sum() == 0 and true_b.sum() == 0:
        return 1.0
    precision = (pred_b & true_zone).sum() / max(pred_b.sum(), 1)
    recall = (true_b & pred_zone).sum() / max(true_b.sum(), 1)
    return float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0


def mae(alpha: np.ndarray, truth: np.ndarray) -> float:
    return float(np.abs(alpha - truth.astype(np.float32)).mean())


def checkerboard_energy(prob: np.ndarray) -> float:
    """Share of the signal's variation that sits at the 2- and 4-pixel periods a transposed
    convolution's checkerboard produces (0 = none); measured on the raw model output."""
    p = prob.astype(np.float64) - prob.mean()
    spectrum = np.abs(np.fft.fft2(p)) ** 2
    total = spectrum.sum() - spectrum[0, 0]
    if total <= 1e-12:
        return 0.0
    n, m = p.shape
    grid = np.zeros_like(spectrum, dtype=bool)
    for fy in (0, n // 4, n // 2, 3 * n // 4):
        for fx in (0, m // 4, m // 2, 3 * m // 4):
            if fy or fx:
                grid[fy, fx] = True
    return float(spectrum[grid].sum() / total)


def portrait_crop(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic head-and-shoulders crop: from just above the head to ~38% of the body."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    height = y1 - y0
    crop_h = int(height * 0.38)
    top = max(0, y0 - int(crop_h * 0.08))
    bottom = min(mask.shape[0], top + crop_h)
    cx = int(np.median(xs[ys < y0 + crop_h]))  # centred on the upper body, not the legs
    half = int(crop_h * 0.4)
    left, right = max(0, cx - half), min(mask.shape[1], cx + half)
    return image[top:bottom, left:right], mask[top:bottom, left:right]


def centre_crop(image: np.ndarray, mask: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """The middle 1/zoom of the photo each way, as a camera zoomed in on it frames it: at 1.6 a
    standing person is cut by the top and bottom edges (session 12 found a model that gained on
    full bodies and crops yet lost here)."""
    h, w = mask.shape
    crop_h, crop_w = int(h / zoom), int(w / zoom)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return image[top:top + crop_h, left:left + crop_w], mask[top:top + crop_h, left:left + crop_w]


BACKGROUNDS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "backgrounds"


def inset(image: np.ndarray, mask: np.ndarray, scale: float, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photo shrunk by scale and stood on the bottom edge of a background scene of the photo's
    own size, a third of the way across: its person as small as one further from the camera, among
    surroundings the photo never showed (everything outside the inset is background). A stand-in
    for wide shots, which ccp lacks; the pasted edge is sharper than any real scene's."""
    h, w = mask.shape
    canvas = cv2.resize(background, (w, h), interpolation=cv2.INTER_AREA)
    small_w, small_h = int(w * scale), int(h * scale)
    small = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask.astype(np.uint8), (small_w, small_h), interpolation=cv2.INTER_NEAREST) > 0
    top, left = h - small_h, (w - small_w) // 3
    canvas[top:, left:left + small_w] = small
    truth = np.zeros((h, w), bool)
    truth[top:, left:left + small_w] = small_mask
    return canvas, truth


def load_pairs(images: Path, masks: Path, ids: list[str] | None):
    if ids is None:
        ids = sorted(p.stem for p in masks.glob("*.png"))
    for i in ids:
        img_path = next((images / f"{i}{ext}" for ext in (".jpg", ".png", ".jpeg") if (images / f"{i}{ext}").exists()),
                        None)
        if img_path is None:
            continue
        img = cv2.cvtColor(cv2.imread(str(img_path)), cv2.COLOR_BGR2RGB)
        mask = cv2.imread(str(masks / f"{i}.png"), cv2.IMREAD_GRAYSCALE) > 127
        yield i, img, mask


def median_ms(fn, arg, repeats: int = 30) -> float:
    for _ in range(3):
        fn(arg)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def evaluate(images: Path, masks: Path, ids, peers: list[str], crops: bool, refine: bool = True,
             model: str | None = None, subjects: str = "main", mirror: bool = True, per_photo: bool = False,
             zoom: float = 1.0, focus: bool = True, inset_scale: float = 1.0) -> dict:
    """Scores each model on the CLI's photo path: probability (mirror-averaged unless
    mirror=False), subject choice, full-resolution refinement, the focus pass on small subjects
    unless focus=False (segmenter.photo_alpha). The peer gets the same steps.
    per_photo: also each photo's id and IoU (results[name]["per_photo_iou"]).
    zoom: score each photo's (or crop's) centre_crop instead, when above 1.
    inset_scale: score each photo inset into a background scene (inset), when below 1."""
    from portraitcli.segmenter import Segmenter
    from portraitcli.subjects import SubjectFilter

    ours = Segmenter(model, device="cpu", threads=1, subjects=subjects, mirror_photos=mirror)
    # name -> (the probability the CLI's path gives a photo, one bare inference for timing)
    predictors = {"portraitcli": (ours.frame_probability, ours.model.predict)}
    if "mediapipe" in peers:
        from models.teacher import MediaPipeSelfie

        teacher = MediaPipeSelfie(num_threads=1)
        choose = SubjectFilter(subjects)
        predictors["mediapipe-selfie"] = (lambda img: choose(teacher.predict(img, flip_average=mirror)),
                                          teacher.predict)
    scores = {name: {"iou": [], "bf1": [], "mae": []} for name in predictors}
    sample = None
    seen = []
    backgrounds = sorted(BACKGROUNDS.glob("*.jpg")) if inset_scale < 1 else []
    for photo_id, img, mask in load_pairs(images, masks, ids):
        seen.append(photo_id)
        if inset_scale < 1:  # each photo its own scene, the same every run
            scene = cv2.cvtColor(cv2.imread(str(backgrounds[len(seen) % len(backgrounds)])), cv2.COLOR_BGR2RGB)
            img, mask = inset(img, mask, inset_scale, scene)
        if crops:
            img, mask = portrait_crop(img, mask)
        if zoom > 1:
            img, mask = centre_crop(img, mask, zoom)
        sample = img
        for name, (probability, _) in predictors.items():
            alpha = photo_alpha(img, probability, refine, focus)
            scores[name]["iou"].append(iou(alpha, mask))
            scores[name]["bf1"].append(boundary_f1(alpha, mask))
            scores[name]["mae"].append(mae(alpha, mask))
    flat = flat_background_photo()
    results = {}
    for name, (_, predict) in predictors.items():
        s = scores[name]
        results[name] = {
            "photos": len(s["iou"]),
            "iou": round(float(np.mean(s["iou"])), 4),
            "boundary_f1": round(float(np.mean(s["bf1"])), 4),
            "mae": round(float(np.mean(s["mae"])), 4),
            "ms_per_inference_1_thread": round(median_ms(predict, sample), 2) if sample is not None else None,
            "checkerboard_energy_flat_bg": round(checkerboard_energy(predict(flat)), 6),
        }
        if per_photo:
            results[name]["per_photo_iou"] = {i: round(float(v), 4) for i, v in zip(seen, s["iou"])}
    return results


def flat_background_photo(size: int = 512) -> np.ndarray:
    """A large flat wall with faint noise and a soft light gradient (no person)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.array([200, 190, 170], np.float32) * (0.85 + 0.15 * xx)[:, :, None]
    noisy = base + rng.normal(0, 2, base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ccp"
    parser.add_argument("--images", type=Path, default=root / "images")
    parser.add_argument("--masks", type=Path, default=root / "masks")
    parser.add_argument("--list", type=Path, default=None, help="file of ids to use (e.g. ccp/val.txt)")
    parser.add_argument("--peer", action="append", default=[], choices=["mediapipe"])
    parser.add_argument("--crops", action="store_true", help="score head-and-shoulder crops of each photo")
    parser.add_argument("--zoom", type=float, default=1.0,
                        help="score the middle 1/ZOOM of each photo, as a zoomed camera frames it (e.g. 1.3, 1.6)")
    parser.add_argument("--inset", type=float, default=1.0, metavar="K",
                        help="score each photo shrunk by K (e.g. 0.5) into a background scene: people far away")
    parser.add_argument("--no-refine", action="store_true", help="plain bilinear upsampling instead")
    parser.add_argument("--no-focus", action="store_true",
                        help="no second look at subjects that fill little of the photo")
    parser.add_argument("--model", default=None, help="ONNX file (default: the bundled model)")
    parser.add_argument("--subjects", choices=["main", "all"], default="main",
                        help="as the CLI's --subjects (main: bystanders count as background)")
    parser.add_argument("--no-mirror", action="store_true",
                        help="one inference per photo (the CLI averages it with the mirror image)")
    parser.add_argument("--worst", type=int, default=0, metavar="N",
                        help="also list the N photos where ours trails the peer most (without a peer: "
                             "ours' N lowest), by IoU")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    ids = args.list.read_text().split() if args.list else None
    results = evaluate(args.images, args.masks, ids, args.peer, args.crops, not args.no_refine, args.model,
                       args.subjects, not args.no_mirror, per_photo=bool(args.worst), zoom=args.zoom,
                       focus=not args.no_focus, inset_scale=args.inset)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    label = "head-and-shoulder crops" if args.crops else "full photos"
    if args.zoom > 1:
        label += f", centre 1/{args.zoom:g}"
    if args.inset < 1:
        label += f", inset at {args.inset:g}x in a scene"
    print(f"{label}, refinement {'off' if args.no_refine else 'on'}, subjects {args.subjects}, "
          f"{'one inference' if args.no_mirror else 'mirror-averaged'}, focus {'off' if args.no_focus else 'on'}")
    print(f"{'model':<20}{'photos':>7}{'IoU':>8}{'BF1':>8}{'MAE':>8}{'ms/inf':>8}{'checker':>10}")
    for name, r in results.items():
        print(f"{name:<20}{r['photos']:>7}{r['iou']:>8.4f}{r['boundary_f1']:>8.4f}{r['mae']:>8.4f}"
              f"{r['ms_per_inference_1_thread']:>8.2f}{r['checkerboard_energy_flat_bg']:>10.2e}")
    if args.worst:
        print_worst(results, args.worst)


def print_worst(results: dict, count: int) -> None:
    """Where the gap comes from: a few photos usually carry most of it."""
    ours = results["portraitcli"]["per_photo_iou"]
    peer_name = next((n for n in results if n != "portraitcli"), None)
    peer = results[peer_name]["per_photo_iou"] if peer_name else {i: 1.0 for i in ours}
    gaps = sorted(ours, key=lambda i: ours[i] - peer[i])[:count]
    total = sum(peer[i] - ours[i] for i in ours) / len(ours)
    shown = sum(peer[i] - ours[i] for i in gaps) / len(ours)
    against = f"against {peer_name}" if peer_name else "lowest"
    print(f"\nworst {count} photos by IoU, {against}: they make up {shown:+.4f} of the mean gap {total:+.4f}")
    for i in gaps:
        print(f"  {i:<12} ours {ours[i]:.3f}" + (f"  {peer_name} {peer[i]:.3f}" if peer_name else ""))


if __name__ == "__main__":
    main()
