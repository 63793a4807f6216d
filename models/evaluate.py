"""Score the bundled model (or another ONNX file) on every validation set, side by side with a peer.

    python -m models.evaluate --peer mediapipe                   # every set, one markdown table
    python -m models.evaluate --peer mediapipe --sets web,picsart --model other.onnx --json run.json
    python -m models.evaluate --peer mediapipe --worst 5 --overlays worst/
    python -m models.evaluate --compare candidate.json shipped.json    # per-set deltas of two runs
    python -m models.evaluate --compare run.json run.json:mediapipe-selfie

Every photo goes through `portraitcli segment`'s photo path with its defaults (Segmenter.matte:
the network's output averaged with its mirror image's, bystanders faded out, a second look at
small subjects, full-resolution refinement); the peer's probability goes through the same steps
(segmenter.photo_alpha). Each photo is scored at its own resolution: IoU of alpha > 0.5,
boundary F1 (boundaries matched within 0.75% of the diagonal, as in the DAVIS benchmark), MAE,
and "stray": the share of the background farther than 2% of the diagonal from every person that
is taken for person (posters, racks, flags: mistakes that boundary quality does not explain).

A set is named FOLDER[-FRAMING]: FOLDER is a folder of the data (models.data.DATA, normally
../shared/data) with images/, masks/ (0/255 PNG, same stem) and val.txt; FRAMING is `crops`
(head-and-shoulder crops), `inset` or `insetK` (each photo shrunk by K, 0.5 by default, into a
background scene: people far from the camera) or `zoomZ` (the centre 1/Z, as a zoomed camera
frames it). Without --sets: the DEFAULT_SETS.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from models.data import DATA

OURS = "portraitcli"
PEERS = {"mediapipe": "mediapipe-selfie"}
DEFAULT_SETS = ("ccp", "ccp-crops", "picsart", "web", "pennfudan", "ccp-inset")
FOLDER_WHAT = {
    "ccp": "full-body street photos",
    "picsart": "selfies and portraits",
    "web": "web photos of people",
    "pennfudan": "street photos of 2-9 pedestrians",
}
DEFAULT_INSET = 0.5


# --------------------------------------------------------------------------- metrics


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


def stray(alpha: np.ndarray, truth: np.ndarray) -> float:
    """Share of the background farther than 2% of the diagonal from every person that is taken for
    person: things and scenery mistaken for people, apart from how well the edges fit."""
    # a distance transform, not a dilation: its cost does not grow with the reach (12 MP: 0.17 s against 2.5 s)
    distance = cv2.distanceTransform((~truth).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    far = distance > 0.02 * np.hypot(*truth.shape)
    return float((far & (alpha > 0.5)).sum() / far.sum()) if far.any() else 0.0


SCORES = ("iou", "boundary_f1", "mae", "stray")  # per photo and per set
SET_MEAN_SCORES = ("iou", "boundary_f1", "stray")  # averaged over the sets


def photo_scores(alpha: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {"iou": iou(alpha, truth), "boundary_f1": boundary_f1(alpha, truth), "mae": mae(alpha, truth),
            "stray": stray(alpha, truth)}


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


def flat_background_photo(size: int = 512) -> np.ndarray:
    """A large flat wall with faint noise and a soft light gradient (no person)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.array([200, 190, 170], np.float32) * (0.85 + 0.15 * xx)[:, :, None]
    noisy = base + rng.normal(0, 2, base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def median_ms(fn, arg, repeats: int = 30) -> float:
    for _ in range(3):
        fn(arg)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


# --------------------------------------------------------------------------- framings


def portrait_crop(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic head-and-shoulders crop: from just above the head to ~38% of the body."""
    ys, xs = np.nonzero(mask)
    y0, y1 = ys.min(), ys.max()
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
    standing person is cut by the top and bottom edges (a model once gained on full bodies and
    crops yet lost here)."""
    h, w = mask.shape
    crop_h, crop_w = int(h / zoom), int(w / zoom)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return image[top:top + crop_h, left:left + crop_w], mask[top:top + crop_h, left:left + crop_w]


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


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@lru_cache(maxsize=None)
def background_paths(data: Path) -> tuple[Path, ...]:
    return tuple(sorted((data / "backgrounds").glob("*.jpg")))


# --------------------------------------------------------------------------- validation sets


@dataclass(frozen=True)
class ValidationSet:
    """One row of the table: the photos of FOLDER/val.txt, framed one way."""

    name: str
    folder: str
    framing: str = "full"  # full, crops, inset or zoom
    scale: float = 1.0  # the inset's shrink or the zoom

    @classmethod
    def parse(cls, name: str) -> ValidationSet:
        match = re.fullmatch(r"([a-z0-9_]+)(?:-(crops|inset|zoom)([0-9.]*))?", name)
        if not match or (match[2] == "crops" and match[3]) or (match[2] == "zoom" and not match[3]):
            raise ValueError(f"{name!r} is not a set name (FOLDER, FOLDER-crops, FOLDER-inset[K], FOLDER-zoomZ)")
        folder, framing, number = match[1], match[2] or "full", match[3]
        try:
            scale = float(number) if number else (DEFAULT_INSET if framing == "inset" else 1.0)
        except ValueError:
            raise ValueError(f"{name!r}: {number!r} is not a number") from None
        if (framing == "inset" and not 0 < scale < 1) or (framing == "zoom" and scale <= 1):
            raise ValueError(f"{name!r}: an inset shrinks by less than 1, a zoom enlarges by more than 1")
        return cls(name, folder, framing, scale)

    @property
    def what(self) -> str:
        what = FOLDER_WHAT.get(self.folder, self.folder)
        if self.framing == "crops":
            what = f"{what}, head-and-shoulder crops"
        elif self.framing == "inset":
            what = f"{what}, shrunk {self.scale:g}x into a scene"
        elif self.framing == "zoom":
            what = f"{what}, centre 1/{self.scale:g}"
        return f"{what} ({self.folder}/val.txt)"

    def ids(self, data: Path = DATA) -> list[str]:
        listing = data / self.folder / "val.txt"
        if not listing.is_file():
            raise FileNotFoundError(f"{listing}: no such validation list")
        return listing.read_text().split()

    def photos(self, data: Path = DATA, limit: int | None = None) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(id, RGB photo, boolean truth) as scored, in val.txt's order; the same every run."""
        images, masks = data / self.folder / "images", data / self.folder / "masks"
        for index, photo_id in enumerate(self.ids(data)[:limit]):
            image_path = next((p for p in (images / f"{photo_id}{ext}" for ext in (".jpg", ".png", ".jpeg"))
                               if p.exists()), None)
            if image_path is None:
                raise FileNotFoundError(f"{images / photo_id}.*: listed in {self.folder}/val.txt, no photo")
            truth = cv2.imread(str(masks / f"{photo_id}.png"), cv2.IMREAD_GRAYSCALE) > 127
            yield (photo_id, *self.frame(read_rgb(image_path), truth, index, data))

    def frame(self, image: np.ndarray, truth: np.ndarray, index: int, data: Path = DATA):
        if self.framing == "crops":
            return portrait_crop(image, truth)
        if self.framing == "zoom":
            return centre_crop(image, truth, self.scale)
        if self.framing == "inset":  # each photo its own scene, the same every run
            scenes = background_paths(data)
            return inset(image, truth, self.scale, read_rgb(scenes[(index + 1) % len(scenes)]))
        return image, truth


# --------------------------------------------------------------------------- models on the photo path


@dataclass
class Contender:
    """A model on the CLI's photo path: alpha(photo) -> full-resolution alpha; inference (one
    bare run at the model's size) for the timing and checkerboard figures."""

    name: str
    alpha: Callable[[np.ndarray], np.ndarray]
    inference: Callable[[np.ndarray], np.ndarray]


def contenders(model: str | None = None, peer: str | None = None, subjects: str = "main", refine: bool = True,
               mirror: bool = True, focus: bool = True) -> list[Contender]:
    """Ours exactly as `portraitcli segment` runs it (Segmenter.matte), and the peer's
    probability through the same steps (segmenter.photo_alpha)."""
    from portraitcli.matting.segmenter import Segmenter, photo_alpha
    from portraitcli.matting.subjects import SubjectFilter

    ours = Segmenter(model, device="cpu", threads=1, refine=refine, subjects=subjects, mirror_photos=mirror,
                     focus_photos=focus)
    found = [Contender(OURS, ours.matte, ours.model.predict)]
    if peer == "mediapipe":
        from models.teacher import MediaPipeSelfie

        teacher = MediaPipeSelfie(num_threads=1)
        choose = SubjectFilter(subjects)

        def probability(image):
            return choose(teacher.predict(image, flip_average=mirror))

        found.append(Contender(PEERS[peer], lambda image: photo_alpha(image, probability, refine, focus),
                               teacher.predict))
    return found


def score_set(vset: ValidationSet, models: list[Contender], data: Path = DATA, limit: int | None = None) -> dict:
    """Per-photo and mean scores of each model on one set."""
    per_photo = {}
    for photo_id, image, truth in vset.photos(data, limit):
        per_photo[photo_id] = {m.name: photo_scores(m.alpha(image), truth) for m in models}
    means = {m.name: {key: round(float(np.mean([p[m.name][key] for p in per_photo.values()])), 4)
                      for key in SCORES} for m in models}
    rounded = {i: {name: {k: round(v, 4) for k, v in s.items()} for name, s in p.items()}
               for i, p in per_photo.items()}
    return {"what": vset.what, "photos": len(per_photo), "scores": means, "per_photo": rounded}


def model_figures(models: list[Contender], sample: np.ndarray) -> dict:
    """Median ms of one bare inference (1 thread, batch 1) and the raw output's checkerboard
    energy on a flat wall."""
    flat = flat_background_photo()
    return {m.name: {"ms_per_inference_1_thread": round(median_ms(m.inference, sample), 2),
                     "checkerboard_energy_flat_bg": round(checkerboard_energy(m.inference(flat)), 6)}
            for m in models}


def evaluate(set_names, models: list[Contender], data: Path = DATA, limit: int | None = None,
             progress=None) -> dict:
    """The whole run: every set's scores, their mean over the sets, and the models' figures."""
    sets = [ValidationSet.parse(name) for name in set_names]
    for vset in sets:
        vset.ids(data)  # a missing list fails before minutes of work, not after
    started = time.perf_counter()
    results = {"sets": {}}
    for vset in sets:
        t = time.perf_counter()
        results["sets"][vset.name] = score_set(vset, models, data, limit)
        if progress:
            progress(f"{vset.name}: {results['sets'][vset.name]['photos']} photos, {time.perf_counter() - t:.0f} s")
    results["mean"] = {m.name: {key: round(float(np.mean([s["scores"][m.name][key]
                                                          for s in results["sets"].values()])), 4)
                                for key in SET_MEAN_SCORES} for m in models}
    results["seconds"] = round(time.perf_counter() - started, 1)
    _, sample, _ = next(sets[0].photos(data, 1))
    results["models"] = model_figures(models, sample)
    return results


# --------------------------------------------------------------------------- reports


def markdown_table(results: dict) -> str:
    """A row per set (IoU / boundary F1 of ours, of the peer, and ours minus the peer's; the
    background taken for person far from people), then the mean over the sets."""
    names = list(results["mean"])
    peer = names[1] if len(names) > 1 else None
    header = ["set", "photos", "ours IoU / BF1"]
    if peer:
        header += [f"{peer} IoU / BF1", "difference IoU / BF1"]
    header.append("stray %" + (" ours / peer" if peer else ""))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def cells(scores: dict) -> list[str]:
        row = [f"{scores[OURS]['iou']:.4f} / {scores[OURS]['boundary_f1']:.4f}"]
        if peer:
            row.append(f"{scores[peer]['iou']:.4f} / {scores[peer]['boundary_f1']:.4f}")
            row.append(f"{scores[OURS]['iou'] - scores[peer]['iou']:+.4f} / "
                       f"{scores[OURS]['boundary_f1'] - scores[peer]['boundary_f1']:+.4f}")
        row.append(" / ".join(f"{100 * scores[name]['stray']:.1f}" for name in names[:2]))
        return row

    for name, s in results["sets"].items():
        lines.append("| " + " | ".join([f"`{name}`: {s['what']}", str(s["photos"])] + cells(s["scores"])) + " |")
    total = sum(s["photos"] for s in results["sets"].values())
    lines.append("| " + " | ".join([f"mean over {len(results['sets'])} sets", str(total)]
                                   + cells(results["mean"])) + " |")
    return "\n".join(lines)


def worst_photos(set_result: dict, count: int) -> tuple[list[str], str | None]:
    """The count photos where ours trails the peer most by IoU (without a peer: ours' lowest)."""
    per_photo = set_result["per_photo"]
    names = list(set_result["scores"])
    peer = names[1] if len(names) > 1 else None

    def gap(photo_id):
        scores = per_photo[photo_id]
        return scores[OURS]["iou"] - (scores[peer]["iou"] if peer else 1.0)

    return sorted(per_photo, key=gap)[:count], peer


def print_worst(results: dict, count: int, out=sys.stdout) -> None:
    """Where each set's gap comes from: a few photos usually carry most of it."""
    for name, s in results["sets"].items():
        worst, peer = worst_photos(s, count)
        per_photo = s["per_photo"]
        if peer:
            total = s["scores"][peer]["iou"] - s["scores"][OURS]["iou"]
            shown = sum(per_photo[i][peer]["iou"] - per_photo[i][OURS]["iou"] for i in worst) / len(per_photo)
            print(f"\n{name}: worst {len(worst)} by IoU against {peer}; of the mean gap ({peer} minus ours) "
                  f"{total:+.4f}, they make up {shown:+.4f}", file=out)
        else:
            print(f"\n{name}: lowest {len(worst)} by IoU", file=out)
        for i in worst:
            line = f"  {i:<16} ours {per_photo[i][OURS]['iou']:.3f} / {per_photo[i][OURS]['boundary_f1']:.3f}"
            if peer:
                line += f"   {peer} {per_photo[i][peer]['iou']:.3f} / {per_photo[i][peer]['boundary_f1']:.3f}"
            print(line, file=out)


def overlay(image: np.ndarray, alpha: np.ndarray, truth: np.ndarray, label: str) -> np.ndarray:
    """The photo greyed, with the prediction in colour: green where it is right about the person,
    red where it takes background for person, blue where it misses the person."""
    grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB).astype(np.float32)
    pred = alpha > 0.5
    tint = np.zeros_like(grey)
    tint[pred & truth] = (0, 200, 0)
    tint[pred & ~truth] = (255, 0, 0)
    tint[~pred & truth] = (0, 80, 255)
    painted = pred | truth
    out = grey * 0.6
    out[painted] = grey[painted] * 0.4 + tint[painted] * 0.6
    out = out.astype(np.uint8)
    cv2.putText(out, label, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def write_overlays(results: dict, models: list[Contender], count: int, folder: Path, data: Path = DATA) -> None:
    """FOLDER/SET/RANK_ID.jpg for each set's worst photos: the photo, then one overlay per model."""
    for name, s in results["sets"].items():
        worst, _ = worst_photos(s, count)
        rank = {photo_id: r for r, photo_id in enumerate(worst, 1)}
        (folder / name).mkdir(parents=True, exist_ok=True)
        for photo_id, image, truth in ValidationSet.parse(name).photos(data):
            if photo_id not in rank:
                continue
            panels = [image]
            for m in models:
                scores = s["per_photo"][photo_id][m.name]
                panels.append(overlay(image, m.alpha(image), truth,
                                      f"{m.name} {scores['iou']:.3f} / {scores['boundary_f1']:.3f}"))
            strip = np.hstack(panels)
            if strip.shape[0] > 480:  # small enough to look through many at once
                strip = cv2.resize(strip, (strip.shape[1] * 480 // strip.shape[0], 480), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(folder / name / f"{rank[photo_id]:02d}_{photo_id}.jpg"),
                        cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])


def load_run(spec: str) -> tuple[str, dict]:
    """FILE or FILE:MODEL (default: ours) -> (label, {set: scores}) from a --json file."""
    path, _, model = spec.rpartition(":") if ":" in spec and not Path(spec).exists() else (spec, "", "")
    results = json.loads(Path(path).read_text())
    model = model or OURS
    if model not in results["mean"]:
        raise ValueError(f"{path}: no model {model!r} (it has {', '.join(results['mean'])})")
    label = f"{Path(path).stem}:{model}" if model != OURS else Path(path).stem
    return label, {name: {**s["scores"][model], "photos": s["photos"]} for name, s in results["sets"].items()}


def compare(candidate: str, baseline: str) -> str:
    """Per-set IoU and boundary F1 of two runs and their differences (candidate minus baseline),
    the mean over the sets both scored, and where the candidate is behind (stray included)."""
    a_label, a = load_run(candidate)
    b_label, b = load_run(baseline)
    common = [name for name in a if name in b]
    if not common:
        raise ValueError(f"{candidate} and {baseline} share no set")
    lines = [f"| set | {a_label} IoU / BF1 | {b_label} IoU / BF1 | difference IoU / BF1 |", "|---|---|---|---|"]
    behind = []
    for name in common + ["mean"]:
        if name == "mean":
            x = {k: float(np.mean([a[n][k] for n in common])) for k in ("iou", "boundary_f1")}
            y = {k: float(np.mean([b[n][k] for n in common])) for k in ("iou", "boundary_f1")}
            label = f"mean over the {len(common)} sets of both"
        else:
            x, y, label = a[name], b[name], f"`{name}`"
            behind += [f"{name} {short}" for k, short in (("iou", "IoU"), ("boundary_f1", "BF1")) if x[k] < y[k]]
            if x.get("stray", 0.0) > y.get("stray", 0.0):  # runs saved before stray was scored have none
                behind.append(f"{name} stray ({100 * x['stray']:.1f}% against {100 * y['stray']:.1f}%)")
        lines.append(f"| {label} | {x['iou']:.4f} / {x['boundary_f1']:.4f} | {y['iou']:.4f} / {y['boundary_f1']:.4f}"
                     f" | {x['iou'] - y['iou']:+.4f} / {x['boundary_f1'] - y['boundary_f1']:+.4f} |")
    only = sorted(set(a) ^ set(b))
    lines.append("")
    lines.append(f"{a_label} behind {b_label} on: {', '.join(behind)}" if behind
                 else f"{a_label} at least {b_label} on every set, IoU and boundary F1, and no more stray")
    if only:
        lines.append(f"scored in one run only: {', '.join(only)}")
    uneven = [f"{name} ({a[name]['photos']} against {b[name]['photos']})" for name in common
              if a[name]["photos"] != b[name]["photos"]]
    if uneven:
        lines.append(f"not the same photos: {', '.join(uneven)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--sets", default=",".join(DEFAULT_SETS),
                        help="comma-separated set names (default: %(default)s)")
    parser.add_argument("--zoom", type=float, action="append", default=[], metavar="Z",
                        help="also score ccp's centre 1/Z (as ccp-zoomZ), e.g. 1.3 or 1.6; repeatable")
    parser.add_argument("--peer", choices=sorted(PEERS), default=None, help="score this model beside ours")
    parser.add_argument("--model", default=None, metavar="F", help="ONNX file (default: the bundled model)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="save the per-set and per-photo figures as JSON")
    parser.add_argument("--worst", type=int, default=0, metavar="N",
                        help="per set, the N photos where ours trails the peer most (without one: ours' lowest)")
    parser.add_argument("--overlays", type=Path, default=None, metavar="DIR",
                        help="with --worst: write each one as the photo and one overlay per model to DIR/SET/")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="the first N photos of each set only")
    parser.add_argument("--data", type=Path, default=DATA, help="the data folder (default: %(default)s)")
    parser.add_argument("--subjects", choices=["main", "all"], default="main",
                        help="as the CLI's --subjects (main: bystanders count as background)")
    parser.add_argument("--no-refine", action="store_true", help="plain bilinear upsampling instead")
    parser.add_argument("--no-focus", action="store_true", help="no second look at subjects that fill little of the photo")
    parser.add_argument("--no-mirror", action="store_true", help="one inference per photo, not mirror-averaged")
    parser.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"),
                        help="print per-set deltas of two --json runs (A minus B; FILE:MODEL picks a model "
                             "of the file, e.g. run.json:mediapipe-selfie) and exit")
    args = parser.parse_args(argv)
    if args.compare:
        try:
            print(compare(*args.compare))
        except (OSError, ValueError, KeyError) as exc:
            parser.exit(2, f"models.evaluate: {exc}\n")
        return 0
    names = [n.strip() for n in args.sets.split(",") if n.strip()] + [f"ccp-zoom{z:g}" for z in args.zoom]
    try:
        for name in names:
            ValidationSet.parse(name).ids(args.data)
    except (ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"models.evaluate: {exc}\n")
    models = contenders(args.model, args.peer, args.subjects, not args.no_refine, not args.no_mirror,
                        not args.no_focus)
    results = evaluate(names, models, args.data, args.limit, progress=lambda line: print(line, file=sys.stderr))
    results["model"] = str(args.model or "bundled")
    results["path"] = {"subjects": args.subjects, "refine": not args.no_refine, "mirror": not args.no_mirror,
                       "focus": not args.no_focus}
    print(f"CLI photo path: subjects {args.subjects}, refinement {'off' if args.no_refine else 'on'}, "
          f"{'one inference' if args.no_mirror else 'mirror-averaged'}, focus {'off' if args.no_focus else 'on'}; "
          f"model {results['model']}\n")
    print(markdown_table(results))
    figures = ", ".join(f"{name} {f['ms_per_inference_1_thread']:.2f} ms per inference (1 thread), checkerboard "
                        f"{f['checkerboard_energy_flat_bg']:.1e}" for name, f in results["models"].items())
    print(f"\n{figures}; {results['seconds']:.0f} s for the sets")
    if args.worst:
        print_worst(results, args.worst)
        if args.overlays:
            write_overlays(results, models, args.worst, args.overlays, args.data)
            print(f"\noverlays in {args.overlays}/SET/ (green: right, red: background taken for person, "
                  f"blue: person missed)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
