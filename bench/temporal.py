"""Temporal smoothing: flicker against accuracy and lag, on clips with known ground truth.

    python bench/temporal.py               # 8 clips x 90 frames, 3 camera-path seeds
    python bench/temporal.py --quick       # 2 short clips: a smoke test only

Each clip is a labelled validation photo (../shared/data/ccp, ids from val.txt) filmed by a
virtual camera: a smooth random path of translation and slight zoom (cv2.warpAffine), with a
fast pan in the middle (with motion blur), per-frame sensor noise and JPEG compression. The
person mask goes through the same transform, giving the truth for every frame.

The model runs once per frame; its probability then goes through one TemporalSmoother per
strength (0 = every frame on its own) and the same full-resolution refinement as the CLI.

  flicker  mean |alpha_t - alpha_t-1| over pixels whose truth is the same in both frames
  IoU      alpha > 0.5 against the truth, per frame, averaged (all frames; fast-pan frames)
  trail    how far the predicted mask's centroid trails the truth's along the motion (px,
           fast-pan frames; positive = behind), and the centroid error
Targets: flicker at most half of per-frame, IoU not lower by more than 0.005. Flicker is judged
two ways: over all frame pairs per pixel (camera motion included: where the predicted edge moves
a pixel whose truth stays, that counts too, so it also measures edge accuracy under motion), and
over the still-camera pairs, where the truth does not change at all and any change is flicker.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

HOLD = 0.25  # the first quarter of each clip: camera still (only noise and compression change)
FAST_FRAMES = 8  # length of the fast pan
CATCH_UP = 4  # frames after the pan still counted as fast-motion frames


# --------------------------------------------------------------------------- clips with ground truth


@dataclass
class Clip:
    frames: list[np.ndarray]  # RGB uint8
    truth: list[np.ndarray]  # bool
    fast: set[int]  # indices of the fast-motion frames
    still: set[int]  # frames whose camera did not move since the previous frame


def camera_path(rng: np.random.Generator, count: int, width: int, height: int, zoom: float):
    """Per frame (zoom, tx, ty): the source point at the frame centre, offset from the photo
    centre. Slow wandering plus one fast pan from one side to the other, inside the photo."""
    hold = int(count * HOLD)
    t = np.maximum(np.arange(count, dtype=np.float64) - hold, 0)  # a still camera first, then moving
    room_x = width / 2 * (1 - 1 / zoom)
    room_y = height / 2 * (1 - 1 / zoom)

    def wander(amplitude):
        out = np.zeros(count)
        for _ in range(2):
            freq = rng.uniform(0.005, 0.02)  # cycles per frame: 0.15..0.6 Hz at 30 fps
            out += amplitude / 2 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
        return out

    start = int(rng.integers(int(count * 0.45), max(int(count * 0.45) + 1, int(count * 0.7) - FAST_FRAMES)))
    start = min(start, max(hold, count - FAST_FRAMES - 1))
    side = rng.choice([-1.0, 1.0])
    ramp = np.clip((np.arange(count) - start) / FAST_FRAMES, 0, 1)
    ramp = 0.5 - 0.5 * np.cos(np.pi * ramp)  # eased: fastest mid-pan
    tx = side * 0.7 * room_x * (2 * ramp - 1) + wander(0.2 * room_x)
    ty = wander(0.4 * room_y)
    z = zoom * (1 + 0.04 * np.sin(2 * np.pi * rng.uniform(0.005, 0.015) * t + rng.uniform(0, 2 * np.pi)))
    room_x_t, room_y_t = width / 2 * (1 - 1 / z), height / 2 * (1 - 1 / z)
    tx, ty = np.clip(tx, -room_x_t, room_x_t), np.clip(ty, -room_y_t, room_y_t)
    fast = set(range(start, min(count, start + FAST_FRAMES + CATCH_UP)))
    return z, tx, ty, fast, set(range(1, hold))


def warp(image: np.ndarray, z: float, tx: float, ty: float, interpolation) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    cx, cy = w / 2 + tx, h / 2 + ty
    m = np.array([[z, 0, w / 2 - z * cx], [0, z, h / 2 - z * cy]], np.float64)
    return cv2.warpAffine(image, m, (w, h), flags=interpolation, borderMode=cv2.BORDER_REFLECT_101)


def filmed_frames(rgb: np.ndarray, mask: np.ndarray, count: int, seed: int, noise: float, jpeg: int,
                  zoom: float = 1.3, motion_blur: bool = True) -> Clip:
    """A labelled photo filmed by a moving virtual camera, in memory with its true mask per
    frame: not a clip file (for those, tests/clips.py), since the scores need the truth."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    z, tx, ty, fast, still = camera_path(rng, count, w, h, zoom)
    vx, vy = np.gradient(tx), np.gradient(ty)  # camera velocity, source px per frame
    frames, truth = [], []
    for i in range(count):
        if motion_blur and np.hypot(vx[i], vy[i]) * z[i] > 2:  # > 2 px per frame on screen: a 50% shutter smears
            subs = [(z[i], tx[i] + f * vx[i], ty[i] + f * vy[i]) for f in np.linspace(-0.25, 0.25, 5)]
            frame = np.mean([warp(rgb, *s, cv2.INTER_LINEAR).astype(np.float32) for s in subs], axis=0)
        else:
            frame = warp(rgb, z[i], tx[i], ty[i], cv2.INTER_LINEAR).astype(np.float32)
        frame += rng.normal(0, noise, frame.shape).astype(np.float32)
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg])
        frames.append(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
        truth.append(warp(mask, z[i], tx[i], ty[i], cv2.INTER_LINEAR) > 127)
    return Clip(frames, truth, fast, still)


def load_pair(data: Path, ident: str, scale: float) -> tuple[np.ndarray, np.ndarray]:
    import cv2
    from PIL import Image

    rgb = np.asarray(Image.open(data / "images" / f"{ident}.jpg").convert("RGB"))
    mask = np.asarray(Image.open(data / "masks" / f"{ident}.png").convert("L"))
    if scale != 1:
        size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(rgb), mask


# --------------------------------------------------------------------------- metrics


@dataclass
class Scores:
    flicker: list[float] = field(default_factory=list)  # per consecutive pair
    flicker_still: list[float] = field(default_factory=list)  # pairs with the camera still
    iou: list[float] = field(default_factory=list)  # per frame
    iou_fast: list[float] = field(default_factory=list)
    centroid_fast: list[float] = field(default_factory=list)  # px
    trail_fast: list[float] = field(default_factory=list)  # px along the motion, + = behind
    scene_cuts: int = 0


def centroid(mask: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()]) if len(xs) else None


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    union = np.count_nonzero(pred | truth)
    return np.count_nonzero(pred & truth) / union if union else 1.0


def evaluate_clip(clip: Clip, model, strengths: list[float], scores: dict[float, Scores]) -> None:
    from portraitcli.matting.segmenter import Segmenter

    # one segmenter per strength, all sharing one model session
    segmenters = {s: Segmenter(model, smooth=s) for s in strengths}
    previous: dict[float, np.ndarray] = {}
    truth_centres = [centroid(t) for t in clip.truth]
    for i, (rgb, truth) in enumerate(zip(clip.frames, clip.truth)):
        small = model.shrink(rgb)  # what the CLI's pipeline gives the smoother
        prob = model.predict_small(small)  # once per frame: the segmenters only differ after it
        for s in strengths:
            seg = segmenters[s]  # both smoothing passes and the subject choice, as the CLI runs them
            alpha = seg.finish_frame(seg.follow_frame(prob, small), rgb)
            sc = scores[s]
            pred = alpha > 0.5
            sc.iou.append(iou(pred, truth))
            if i > 0:
                stable = truth == clip.truth[i - 1]
                sc.flicker.append(float(np.abs(alpha - previous[s])[stable].mean()) if stable.any() else 0.0)
                if i in clip.still:
                    sc.flicker_still.append(sc.flicker[-1])
            previous[s] = alpha
            if i in clip.fast:
                sc.iou_fast.append(sc.iou[-1])
                c_pred, c_true = centroid(pred), truth_centres[i]
                if c_pred is not None and c_true is not None:
                    sc.centroid_fast.append(float(np.hypot(*(c_pred - c_true))))
                    prev_true = truth_centres[max(0, i - 1)]
                    velocity = c_true - prev_true if prev_true is not None else np.zeros(2)
                    speed = float(np.hypot(*velocity))
                    if speed > 0.5:
                        sc.trail_fast.append(float(np.dot(c_true - c_pred, velocity / speed)))
    for s in strengths:
        scores[s].scene_cuts += segmenters[s].scene_cuts


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = common.base_parser(__doc__.split("\n\n")[0], "camera-path seeds; figures are medians over "
                                "them (default 3, quick 1)")
    parser.add_argument("--data", type=Path, default=common.SHARED_DATA / "ccp",
                        help="ccp folder (images, masks, val.txt)")
    parser.add_argument("--clips", type=int, default=None, help="photos (clips) per seed (default 8, quick 2)")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default 90, quick 24)")
    parser.add_argument("--strengths", default="0,0.6,0.8", help="smoothing strengths; 0 (per frame) is always the baseline (default 0,0.6,0.8)")
    parser.add_argument("--noise", type=float, default=4.0, help="per-frame Gaussian noise sigma in 8-bit levels (default 4)")
    parser.add_argument("--jpeg", type=int, default=75, help="per-frame JPEG quality (default 75)")
    parser.add_argument("--scale", type=float, default=None, help="resize the photos (default 1, quick 0.5)")
    parser.add_argument("--no-motion-blur", action="store_true", help="no motion blur during fast motion")
    parser.add_argument("--model", type=Path, default=None, help="ONNX file (default: the bundled model)")
    args = parser.parse_args()
    q = args.quick
    n_clips = args.clips or (2 if q else 8)
    n_frames = args.frames or (24 if q else 90)
    scale = args.scale or (0.5 if q else 1.0)
    seeds = args.repeats or (1 if q else 3)
    strengths = sorted({0.0, *(float(s) for s in args.strengths.split(","))})
    ids = [s.strip() for s in (args.data / "val.txt").read_text().split() if s.strip()]
    # spread the chosen ids over the whole validation list
    ids = [ids[round(k * (len(ids) - 1) / max(1, n_clips - 1))] for k in range(n_clips)] if n_clips > 1 else ids[:1]

    common.print_header("portraitcli temporal smoothing benchmark", {
        "clips": n_clips, "frames": n_frames, "seeds": seeds, "strengths": strengths, "noise": args.noise,
        "jpeg": args.jpeg, "scale": scale, "motion blur": not args.no_motion_blur, "data": args.data,
        "model": args.model or "bundled"})
    from portraitcli.matting.model import PortraitModel

    model = PortraitModel(args.model)
    per_seed: list[dict[float, Scores]] = []
    for seed in range(seeds):
        scores = {s: Scores() for s in strengths}
        for k, ident in enumerate(ids):
            rgb, mask = load_pair(args.data, ident, scale)
            clip = filmed_frames(rgb, mask, n_frames, seed=1000 * seed + k, noise=args.noise, jpeg=args.jpeg,
                             motion_blur=not args.no_motion_blur)
            evaluate_clip(clip, model, strengths, scores)
        per_seed.append(scores)
        base = scores[0.0]
        print(f"  seed {seed + 1}/{seeds}: " + ", ".join(
            f"s={s:g} flicker x{np.mean(sc.flicker) / np.mean(base.flicker):.3f} IoU {np.mean(sc.iou):.4f}"
            for s, sc in scores.items()), flush=True)
    print()

    def stat(s: float, name: str) -> list[float]:
        return [float(np.mean(getattr(sc[s], name))) if getattr(sc[s], name) else float("nan") for sc in per_seed]

    base = {name: stat(0.0, name) for name in ("flicker", "flicker_still", "iou", "iou_fast", "trail_fast")}

    def vs_base(s: float, name: str, how) -> float:
        return common.median([how(a, b) for a, b in zip(stat(s, name), base[name])])

    rows = []
    for s in strengths:
        ratio = vs_base(s, "flicker", lambda a, b: a / b)
        d_iou = vs_base(s, "iou", lambda a, b: a - b)
        rows.append([f"{s:g}" + (" (per frame)" if s == 0 else ""), f"{common.median(stat(s, 'flicker')):.4f}",
                     f"{ratio:.3f}", f"{common.median(stat(s, 'flicker_still')):.4f}",
                     f"{vs_base(s, 'flicker_still', lambda a, b: a / b):.3f}",
                     f"{common.median(stat(s, 'iou')):.4f}", f"{d_iou:+.4f}",
                     f"{common.median(stat(s, 'iou_fast')):.4f}", f"{vs_base(s, 'iou_fast', lambda a, b: a - b):+.4f}",
                     f"{common.median(stat(s, 'centroid_fast')):.2f}",
                     f"{vs_base(s, 'trail_fast', lambda a, b: a - b):+.2f}",
                     sum(sc[s].scene_cuts for sc in per_seed)])
    h, w = (round(830 * scale), round(550 * scale))
    common.print_table(
        ["strength", "flicker", "x per-frame", "flicker still", "x per-frame", "IoU", "dIoU", "IoU fast",
         "dIoU fast", "centroid err fast px", "trail vs per-frame px", "scene cuts"],
        rows,
        title=f"Temporal smoothing on {n_clips} clips x {n_frames} frames (about {w}x{h}), median over {seeds} "
              f"camera-path seeds; fast = {FAST_FRAMES}-frame pan + {CATCH_UP} frames")


if __name__ == "__main__":
    main()
