"""Training samples for the portrait model, generated on the fly from ../shared/data.

Every sample is a pure function of (seed, index): a resumed run sees exactly the same stream as
an uninterrupted one. A sample is (RGB uint8, target float32 in [0, 1], valid uint8): pixels with
valid 0 carry no loss (labels known to be incomplete there). Sources (../shared/data/README.md):

- ccp: full-body street photos, manual masks -> full-body, torso and head-and-shoulder framings,
  and people stood small in wide scenes
- picsart: selfies and portraits, manual masks -> as taken, closer (face and shoulders filling
  the frame, hands at the edge), or the person on another background
- groups: 2-6 people cut out by their masks (ccp, picsart, pennfudan, cutouts) side by side and
  overlapping in one scene, every person labelled exactly
- pennfudan, camvid: street scenes with groups and small pedestrians; where their labels are
  incomplete (an unlabelled bystander the teacher sees, camvid's ignore label) valid is 0
- viton, cutouts: upper bodies and RGBA people on `backgrounds`
- unlabelled ccp and picsart photos: soft labels from the MediaPipe teacher (distillation)
- any of the scenes above, labelled online by the teacher on exactly that scene (teacher_match)
- backgrounds alone, and person-free windows of the labelled photos: negatives, the all-zero target

The model input is the whole frame stretched to a square (the runtime does the same), so crops
come in every aspect ratio from 9:16 to 16:9, and sources are shrunk by area averaging as the
runtime shrinks frames.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

DATA = Path(os.environ.get("PORTRAITCLI_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "data"))
CACHE = Path(__file__).resolve().parent / "cache"


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_gray(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise OSError(f"cannot read {path}")
    return img


def split_ids(dataset: str, data: Path = DATA) -> tuple[list[str], list[str]]:
    """(training ids, validation ids) of a labelled set: its val.txt holds the validation ids."""
    val = [s for s in (data / dataset / "val.txt").read_text().split() if s.strip()]
    every = sorted(p.stem for p in (data / dataset / "images").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    held = set(val)
    return [i for i in every if i not in held], val


def ccp_ids(data: Path = DATA) -> tuple[list[str], list[str]]:
    return split_ids("ccp", data)


def image_path(dataset: str, stem: str, data: Path = DATA) -> Path:
    folder = data / dataset / "images"
    for ext in (".jpg", ".png"):
        if (folder / (stem + ext)).exists():
            return folder / (stem + ext)
    raise OSError(f"no image {stem} in {folder}")


class Teacher:
    """MediaPipe selfie's soft labels (flip-averaged, at the photo's size), cached as PNG."""

    def __init__(self, cache: Path):
        self.cache = cache
        self._model = None

    def __call__(self, name: str, img: np.ndarray) -> np.ndarray:
        path = self.cache / f"{name}.png"
        if path.exists():
            return read_gray(path)
        if self._model is None:
            from models.teacher import MediaPipeSelfie
            self._model = MediaPipeSelfie(num_threads=2)
        prob = self._model.predict(img, flip_average=True)
        prob = cv2.resize(prob, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
        label = np.clip(prob * 255 + 0.5, 0, 255).astype(np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), label)
        return label


def incomplete_label_valid(labelled: np.ndarray, teacher: np.ndarray, ignore: np.ndarray | None = None) -> np.ndarray:
    """Where a photo's labels may be missing someone: 0 on what the teacher calls person but the
    labels do not (an unlabelled bystander), grown by a margin, and on the set's own ignore label."""
    unlabelled_person = ((teacher > 100) & (labelled < 128)).astype(np.uint8)
    margin = max(3, int(0.01 * max(labelled.shape)))
    unlabelled_person = cv2.dilate(unlabelled_person, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    valid = 1 - unlabelled_person
    if ignore is not None:
        valid[ignore] = 0
    return valid.astype(np.uint8)


def person_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask > 127)
    if len(xs) == 0:
        h, w = mask.shape
        return 0, 0, w, h
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def person_cutout(img: np.ndarray, mask: np.ndarray, pad: int = 4) -> np.ndarray | None:
    """The person as a tight RGBA crop (alpha = mask), or None if there is too little of them."""
    x0, y0, x1, y1 = person_bbox(mask)
    if (mask > 127).sum() < 400 or y1 - y0 < 40:
        return None
    h, w = mask.shape
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    return np.dstack([img[y0:y1, x0:x1], mask[y0:y1, x0:x1]])


@dataclass
class Labelled:
    """A photo with its label: target 0-255, valid 0/1 (None: every pixel valid), the person box."""
    img: np.ndarray
    mask: np.ndarray
    valid: np.ndarray | None
    box: tuple[int, int, int, int]


@dataclass
class Person:
    """An RGBA cutout of one person; whole: the cutout shows the whole body (feet included)."""
    rgba: np.ndarray
    whole: bool


@dataclass
class Corpus:
    ccp: list[Labelled]
    picsart: list[Labelled]
    scenes: list[Labelled]  # pennfudan and camvid: groups and small people, labels partly incomplete
    viton: list[Labelled]
    teacher_labelled: list[Labelled]  # unlabelled ccp and picsart photos, soft labels
    people: list[Person]  # cut out by their masks, for groups
    backgrounds: list[np.ndarray]

    @classmethod
    def load(cls, data: Path = DATA, cache: Path = CACHE, viton_limit: int | None = None, log=print):
        teacher = Teacher(cache / "teacher")

        def labelled(dataset: str) -> list[Labelled]:
            out = []
            for i in split_ids(dataset, data)[0]:
                img = read_rgb(image_path(dataset, i, data))
                mask = read_gray(data / dataset / "masks" / f"{i}.png")
                out.append(Labelled(img, mask, None, person_bbox(mask)))
            return out

        ccp, picsart = labelled("ccp"), labelled("picsart")
        scenes, people = [], []
        for i in split_ids("pennfudan", data)[0]:
            img = read_rgb(image_path("pennfudan", i, data))
            mask = read_gray(data / "pennfudan" / "masks" / f"{i}.png")
            valid = incomplete_label_valid(mask, teacher(f"pennfudan_{i}", img))
            scenes.append(Labelled(img, mask, valid, person_bbox(mask)))
            instances = cv2.imread(str(data / "pennfudan" / "instances" / f"{i}.png"), cv2.IMREAD_UNCHANGED)
            for k in np.unique(instances)[1:]:
                cut = person_cutout(img, np.where(instances == k, 255, 0).astype(np.uint8))
                if cut is not None:
                    people.append(Person(cut, whole=True))
        for p in sorted((data / "camvid" / "images").iterdir()):
            img = read_rgb(p)
            raw = read_gray(data / "camvid" / "masks" / f"{p.stem}.png")
            mask = np.where(raw > 191, 255, 0).astype(np.uint8)
            valid = incomplete_label_valid(mask, teacher(f"camvid_{p.stem}", img), ignore=(raw > 63) & (raw <= 191))
            scenes.append(Labelled(img, mask, valid, person_bbox(mask)))
        for item in ccp:
            cut = person_cutout(item.img, item.mask)
            if cut is not None:
                people.append(Person(cut, whole=True))
        for item in picsart:
            # a portrait whose shoulders the photo's sides cut would stand in a group with straight
            # vertical sides: only those with background on both sides are cut out
            side = np.concatenate([item.mask[:, :3], item.mask[:, -3:]], axis=1)
            cut = person_cutout(item.img, item.mask) if (side > 127).mean() < 0.03 else None
            if cut is not None:
                people.append(Person(cut, whole=False))
        for p in sorted((data / "cutouts").glob("*.png")):
            rgba = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            if rgba is not None and rgba.ndim == 3 and rgba.shape[2] == 4:
                people.append(Person(cv2.cvtColor(rgba, cv2.COLOR_BGRA2RGBA), whole=True))
        viton = []
        for p in sorted((data / "viton" / "images").glob("*.jpg"))[:viton_limit]:
            mask = read_gray(data / "viton" / "masks" / f"{p.stem}.png")
            viton.append(Labelled(read_rgb(p), mask, None, person_bbox(mask)))
        teacher_labelled = []
        for folder in ("ccp", "picsart"):
            for p in sorted((data / "unlabelled" / folder).glob("*.jpg")):
                img = read_rgb(p)
                label = teacher(f"unlabelled_{folder}_{p.stem}", img)
                teacher_labelled.append(Labelled(img, label, None, person_bbox(label)))
        backgrounds = [read_rgb(p) for p in sorted((data / "backgrounds").iterdir())
                       if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
        corpus = cls(ccp, picsart, scenes, viton, teacher_labelled, people, backgrounds)
        log(f"data: ccp {len(ccp)}, picsart {len(picsart)}, street scenes {len(scenes)}, viton {len(viton)}, "
            f"teacher-labelled {len(teacher_labelled)}, people for groups {len(people)}, "
            f"backgrounds {len(backgrounds)}")
        return corpus


# ---------------------------------------------------------------- geometry

def crop_affine(cx, cy, crop_w, crop_h, size, angle_deg, flip):
    """2x3 matrix mapping a (possibly rotated) source crop onto a size x size output."""
    a = math.radians(angle_deg)
    sx, sy = size / crop_w, size / crop_h
    cos, sin = math.cos(a), math.sin(a)
    # output = S * R * (p - c) + size/2
    m = np.array([[sx * cos, sx * sin, 0.0], [-sy * sin, sy * cos, 0.0]])
    m[:, 2] = np.array([size / 2, size / 2]) - m[:, :2] @ np.array([cx, cy])
    if flip:
        m[0] = -m[0]
        m[0, 2] += size
    return m


def stand_affine(scale: float, angle_deg: float, source_centre, centre, flip: bool) -> np.ndarray:
    """2x3 matrix that scales and turns a source image about source_centre and puts that point at
    centre of the output, mirrored left to right about it if flip: a person pasted into a scene."""
    a = math.radians(angle_deg)
    m = np.array([[scale * math.cos(a), scale * math.sin(a), 0.0],
                  [-scale * math.sin(a), scale * math.cos(a), 0.0]])
    m[:, 2] = np.array(centre) - m[:, :2] @ np.array(source_centre)
    if flip:
        m[0] = -m[0]
        m[0, 2] += 2 * centre[0]
    return m


class Pyramids:
    """Area-averaged halvings of each source image, made on first use and kept (keyed by the
    array's identity: corpus arrays live as long as the corpus)."""

    def __init__(self):
        self._levels: dict[int, list[np.ndarray]] = {}

    def __call__(self, img: np.ndarray) -> list[np.ndarray]:
        levels = self._levels.get(id(img))
        if levels is None:
            levels = [img]
            while min(levels[-1].shape[:2]) >= 32:
                h, w = levels[-1].shape[:2]
                levels.append(cv2.resize(levels[-1], (w // 2, h // 2), interpolation=cv2.INTER_AREA))
            self._levels[id(img)] = levels
        return levels


def source_corners(m, size) -> np.ndarray:
    """The four corners of a size x size output of the affine map m, in source pixels (4 x 2)."""
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
    return corners @ cv2.invertAffineTransform(m).T


def warp_antialiased(levels: list[np.ndarray], m, size, border=cv2.BORDER_REFLECT101, interp=cv2.INTER_LINEAR):
    """An affine warp without aliasing when it shrinks: the runtime shrinks frames by area
    averaging, and a bilinear warp that skips source pixels gives jagged target edges and
    sparkling textures the network never sees at run time. Start from the pyramid level just finer
    than the output, then blur away what is left of the shrink along each axis."""
    a = m[:, :2]
    footprint = np.hypot(*np.linalg.inv(a).T)  # source pixels covered by one output pixel, along x and y
    level = int(np.clip(np.floor(np.log2(max(float(footprint.min()), 1e-6))), 0, len(levels) - 1))
    src = levels[level]
    kx, ky = src.shape[1] / levels[0].shape[1], src.shape[0] / levels[0].shape[0]
    m = np.column_stack([a[:, 0] / kx, a[:, 1] / ky,
                         m[:, 2] + a @ np.array([0.5 / kx - 0.5, 0.5 / ky - 0.5])])  # pixel centres
    sigma_x, sigma_y = (max(0.0, (r - 1) / 2) for r in (footprint[0] * kx, footprint[1] * ky))
    if max(sigma_x, sigma_y) > 0.05 and interp != cv2.INTER_NEAREST:
        # blur only the part of the level the output sees (plus the kernel's reach)
        seen = source_corners(m, size)
        pad = 3 * max(sigma_x, sigma_y) + 3
        h, w = src.shape[:2]
        x0, y0 = (max(0, int(math.floor(v - pad))) for v in seen.min(axis=0))
        x1, y1 = min(w, int(math.ceil(seen[:, 0].max() + pad))), min(h, int(math.ceil(seen[:, 1].max() + pad)))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            src = cv2.GaussianBlur(src[y0:y1, x0:x1], (0, 0), sigmaX=max(sigma_x, 0.01),
                                   sigmaY=max(sigma_y, 0.01), borderType=cv2.BORDER_REFLECT101)
            m[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
    return cv2.warpAffine(src, m, (size, size), flags=interp, borderMode=border)


def random_aspect(rng) -> float:
    """width / height of the crop, log-uniform from 9:16 to 16:9, portrait slightly favoured."""
    return float(np.exp(rng.uniform(np.log(9 / 16), np.log(16 / 9)) - 0.1))


# ---------------------------------------------------------------- samplers

class SampleMaker:
    """The sample stream of one training phase: a mixture of the sample kinds below."""

    def __init__(self, corpus: Corpus, size: int, mix: dict[str, float], seed: int):
        unknown = set(mix) - set(SAMPLE_KINDS)
        if unknown:
            raise ValueError(f"unknown sample kinds {sorted(unknown)}")
        self.c = corpus
        self.size = size
        self.seed = seed
        self._pyramids = Pyramids()
        self._premultiplied: dict[int, np.ndarray] = {}
        self.kinds = list(mix)
        p = np.array([mix[k] for k in self.kinds], dtype=np.float64)
        self.probs = p / p.sum()
        self._teacher = None  # made on first use, in the data worker

    def __call__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, index])
        kind = self.kinds[rng.choice(len(self.kinds), p=self.probs)]
        out = getattr(self, kind)(rng)
        img, target = out[0], out[1]
        valid = out[2] if len(out) > 2 else np.ones(target.shape, np.uint8)
        img, target = photometric(img, target, rng)
        return img, target, valid

    def _warp(self, img, m, border=cv2.BORDER_REFLECT101, interp=cv2.INTER_LINEAR):
        return warp_antialiased(self._pyramids(img), m, self.size, border=border, interp=interp)

    def _premultiply(self, rgba: np.ndarray) -> np.ndarray:
        """Colour times alpha, so that shrinking never bleeds the (arbitrary) colour of
        transparent pixels into the edge."""
        out = self._premultiplied.get(id(rgba))
        if out is None:
            out = rgba.copy()
            out[:, :, :3] = (rgba[:, :, :3].astype(np.float32) * (rgba[:, :, 3:] / 255.0) + 0.5).astype(np.uint8)
            self._premultiplied[id(rgba)] = out
        return out

    def _framed(self, rng, item: Labelled, m, constant_border: bool = False):
        """Warp a labelled photo and its label (and valid map) through m. Where the frame reaches
        past the photo, the photo's mirror image fills in, unlabelled (valid 0): mirrored people at
        the frame's edges (upside-down shoulders, headless halves) labelled person taught a network
        that a striped cloth hanging into the frame is one."""
        border = cv2.BORDER_CONSTANT if constant_border else cv2.BORDER_REFLECT101
        out = self._warp(item.img, m, border=border)
        target = self._warp(item.mask, m, border=border).astype(np.float32) / 255.0
        valid = None if item.valid is None else self._warp(item.valid, m, border=border, interp=cv2.INTER_NEAREST)
        h, w = item.mask.shape
        seen = source_corners(m, self.size)
        past_the_photo = (seen < 0).any() or (seen[:, 0] > w - 1).any() or (seen[:, 1] > h - 1).any()
        if past_the_photo and not constant_border:
            inside = cv2.warpAffine(np.ones((h, w), np.uint8), m, (self.size, self.size),
                                    flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            if not inside.all():
                valid = inside if valid is None else valid * inside
        return (out, target) if valid is None else (out, target, valid)

    # each kind returns (size x size x 3 uint8 RGB, size x size float32 target[, valid uint8])

    def _person_crop(self, rng, item: Labelled, kind: str):
        """Framings of a labelled person: 'full' (whole body, some context), 'portrait' (head and
        shoulders), 'torso' (cut by the frame at head, feet or both: zoomed video, half-body)."""
        x0, y0, x1, y1 = item.box
        pw, ph = max(x1 - x0, 8), max(y1 - y0, 8)
        aspect = random_aspect(rng)
        if kind == "portrait":
            crop_h = ph * rng.uniform(0.22, 0.5)
            cy = y0 - crop_h * rng.uniform(0.02, 0.2) + crop_h / 2
            cx = (x0 + x1) / 2 + pw * rng.normal(0, 0.08)
        elif kind == "torso":
            crop_h = ph * rng.uniform(0.45, 0.85)
            cy = y0 + ph * rng.uniform(0.3, 0.6)
            cx = (x0 + x1) / 2 + pw * rng.normal(0, 0.12)
        else:
            crop_h = min(max(ph * rng.uniform(0.8, 1.4), 16), item.mask.shape[0] * 1.3)
            cy = (y0 + y1) / 2 + ph * rng.normal(0, 0.12)
            cx = (x0 + x1) / 2 + pw * rng.normal(0, 0.15)
        m = crop_affine(cx, cy, crop_h * aspect, crop_h, self.size, rng.normal(0, 7), rng.random() < 0.5)
        return self._framed(rng, item, m, constant_border=rng.random() < 0.3)

    def ccp_full(self, rng):
        return self._person_crop(rng, self.c.ccp[rng.integers(len(self.c.ccp))], "full")

    def ccp_portrait(self, rng):
        return self._person_crop(rng, self.c.ccp[rng.integers(len(self.c.ccp))], "portrait")

    def ccp_torso(self, rng):
        return self._person_crop(rng, self.c.ccp[rng.integers(len(self.c.ccp))], "torso")

    def _reframed(self, rng, item: Labelled, zoom: tuple[float, float], shift: float):
        """The photo as taken, zoomed by a factor in `zoom` (above 1: closer) about a point near the
        person's upper half, with the aspect ratio changed: phone selfies and video-call frames."""
        h, w = item.mask.shape
        x0, y0, x1, y1 = item.box
        z = float(np.exp(rng.uniform(*np.log(zoom))))
        crop_h = h / z
        crop_w = min(crop_h * random_aspect(rng), w * 1.4)
        cx = (x0 + x1) / 2 + (x1 - x0) * rng.normal(0, shift)
        cy = y0 + (y1 - y0) * rng.uniform(0.2, 0.5) if z > 1.2 else h / 2 + h * rng.normal(0, shift)
        cx = float(np.clip(cx, crop_w / 2 - w * 0.1, w * 1.1 - crop_w / 2)) if crop_w < w else w / 2
        cy = float(np.clip(cy, crop_h / 2, h - crop_h / 2)) if crop_h < h else h / 2 + h * rng.normal(0, 0.1)
        m = crop_affine(cx, cy, crop_w, crop_h, self.size, rng.normal(0, 6), rng.random() < 0.5)
        return self._framed(rng, item, m, constant_border=rng.random() < 0.2)

    def picsart(self, rng):
        return self._reframed(rng, self.c.picsart[rng.integers(len(self.c.picsart))], (0.75, 1.2), 0.08)

    def picsart_close(self, rng):
        """Face and shoulders filling the frame, arms and hands cut by its edges."""
        return self._reframed(rng, self.c.picsart[rng.integers(len(self.c.picsart))], (1.3, 2.4), 0.15)

    def teacher_labelled(self, rng):
        item = self.c.teacher_labelled[rng.integers(len(self.c.teacher_labelled))]
        if rng.random() < 0.5 and item.img.shape[0] > 400:  # the street photos: people framed as ccp's
            return self._person_crop(rng, item, "full" if rng.random() < 0.6 else "torso")
        return self._reframed(rng, item, (0.8, 1.8), 0.1)

    def street_scene(self, rng):
        """pennfudan and camvid: the whole scene, or a closer crop around a pedestrian."""
        item = self.c.scenes[rng.integers(len(self.c.scenes))]
        h, w = item.mask.shape
        if rng.random() < 0.4:
            crop_h = h * rng.uniform(0.8, 1.0)
            cx, cy = w / 2 + w * rng.normal(0, 0.05), h / 2
        else:
            ys, xs = np.nonzero(item.mask > 127)
            j = rng.integers(len(xs)) if len(xs) else None
            crop_h = h * rng.uniform(0.35, 0.8)
            cx, cy = (xs[j], ys[j]) if j is not None else (w / 2, h / 2)
            cx += crop_h * rng.normal(0, 0.25)
            cy += crop_h * rng.normal(0, 0.15)
        crop_w = min(crop_h * random_aspect(rng) * (w / h) ** 0.5, w)
        cx = float(np.clip(cx, crop_w / 2, w - crop_w / 2))
        cy = float(np.clip(cy, crop_h / 2, h - crop_h / 2)) if crop_h < h else h / 2
        m = crop_affine(cx, cy, crop_w, crop_h, self.size, rng.normal(0, 3), rng.random() < 0.5)
        return self._framed(rng, item, m)

    def background(self, rng) -> np.ndarray:
        bg = self.c.backgrounds[rng.integers(len(self.c.backgrounds))]
        h, w = bg.shape[:2]
        aspect = random_aspect(rng)
        crop_h = h * rng.uniform(0.3, 1.0)
        crop_w = min(crop_h * aspect, w)
        crop_h = crop_w / aspect
        cx = rng.uniform(crop_w / 2, w - crop_w / 2)
        cy = rng.uniform(min(crop_h / 2, h / 2), max(h - crop_h / 2, h / 2))
        m = crop_affine(cx, cy, crop_w, crop_h, self.size, rng.normal(0, 3), rng.random() < 0.5)
        return self._warp(bg, m)

    def negative(self, rng):
        """A person-free scene: rooms, streets, shops' clutter, wallpapers."""
        return self.background(rng), np.zeros((self.size, self.size), np.float32)

    def _window(self, rng, item: Labelled, height: tuple[float, float], tilt: float):
        """A random window of a labelled photo, its height a share in `height` of the photo's."""
        h, w = item.mask.shape
        crop_h = h * rng.uniform(*height)
        crop_w = min(crop_h * random_aspect(rng), w)
        cx, cy = rng.uniform(crop_w / 2, w - crop_w / 2), rng.uniform(crop_h / 2, h - crop_h / 2)
        m = crop_affine(cx, cy, crop_w, crop_h, self.size, rng.normal(0, tilt), rng.random() < 0.5)
        return self._framed(rng, item, m)

    def scene_remainder(self, rng):
        """A person-free window of a labelled photo (street scenes, ccp, picsart): poles, lamps,
        towers and shop fronts from the very photos people stand in, labelled background."""
        for _ in range(8):
            pick = rng.random()
            pool = self.c.scenes if pick < 0.5 else self.c.ccp if pick < 0.75 else self.c.picsart
            out = self._window(rng, pool[rng.integers(len(pool))], (0.2, 0.6), tilt=3)
            if out[1].max() < 0.05:
                return out
        return self.negative(rng)

    def _paste(self, canvas, target, rgba, m):
        """Alpha-composite a (premultiplied) RGBA person onto canvas through m; the target keeps the
        union of every person (a person in front covers one behind: both are person)."""
        layer = self._warp(self._premultiply(rgba), m, border=cv2.BORDER_CONSTANT).astype(np.float32)
        alpha = layer[:, :, 3] / 255.0
        return layer[:, :, :3] + canvas * (1 - alpha[:, :, None]), np.maximum(target, alpha)

    def group(self, rng):
        """2-6 people side by side and overlapping, a back row a little smaller and higher: family
        photos, friends, a table of children. Half-body people (picsart) stand with the frame's
        bottom edge cutting them; whole-body people stand on the ground or are cut at the knees."""
        canvas = self.background(rng).astype(np.float32)
        target = np.zeros((self.size, self.size), np.float32)
        count = int(rng.choice([2, 2, 3, 3, 4, 5, 6]))
        height = self.size * rng.uniform(0.45, 1.1) * (1.0 if count <= 3 else 0.8)
        half_body = rng.random() < 0.4
        pool = [p for p in self.c.people if p.whole != half_body] or self.c.people
        xs = np.sort(rng.uniform(0.1, 0.9, count)) * self.size
        rows = rng.random(count) < (0.35 if count > 2 else 0.0)
        for i in np.argsort(-rows.astype(int), kind="stable"):  # the back row first: the front covers it
            person = pool[rng.integers(len(pool))]
            rgba = person.rgba
            h, w = rgba.shape[:2]
            scale = height * rng.uniform(0.85, 1.15) * (0.8 if rows[i] else 1.0) / h
            bottom = self.size * (rng.uniform(1.0, 1.15) if half_body else rng.uniform(0.8, 1.3))
            bottom -= self.size * 0.08 * rows[i]
            m = stand_affine(scale, rng.normal(0, 4), (w / 2, h / 2), (xs[i], bottom - h * scale / 2),
                             rng.random() < 0.5)
            canvas, target = self._paste(canvas, target, rgba, m)
        return np.clip(canvas, 0, 255).astype(np.uint8), target

    def small_people(self, rng):
        """People far from the camera, 0.12-0.6 of the frame tall, stood in a scene with ground below
        their feet, one to four of them: a wide shot must not run a person down to the frame's edge."""
        canvas = self.background(rng).astype(np.float32)
        target = np.zeros((self.size, self.size), np.float32)
        whole = [p for p in self.c.people if p.whole]
        horizon = self.size * rng.uniform(0.45, 0.9)
        for _ in range(int(rng.choice([1, 1, 2, 3, 4]))):
            person = whole[rng.integers(len(whole))]
            h, w = person.rgba.shape[:2]
            feet = horizon + self.size * rng.uniform(-0.05, 0.1)
            scale = self.size * rng.uniform(0.12, 0.6) * (feet / self.size) / h
            m = stand_affine(scale, rng.normal(0, 3), (w / 2, h / 2),
                             (self.size * rng.uniform(0.08, 0.92), feet - h * scale / 2), rng.random() < 0.5)
            canvas, target = self._paste(canvas, target, person.rgba, m)
        return np.clip(canvas, 0, 255).astype(np.uint8), target

    def person_on_background(self, rng):
        """A picsart portrait or a VITON upper body cut out by its mask and put on another
        background, bottom edge at or below the frame's: the person in front of any scene."""
        if rng.random() < 0.6:
            item = self.c.picsart[rng.integers(len(self.c.picsart))]
        else:
            item = self.c.viton[rng.integers(len(self.c.viton))]
        h, w = item.mask.shape
        z = float(np.exp(rng.uniform(np.log(0.55), np.log(1.6))))
        scale = self.size / h * z
        cx = self.size * rng.uniform(0.25, 0.75)
        bottom = self.size * rng.uniform(1.0, 1.0 + 0.3 * z)
        m = stand_affine(scale, rng.normal(0, 4), (w / 2, h), (cx, bottom), rng.random() < 0.5)
        # the photo's bottom edge is at or below the frame's: the person is never cut off mid-air
        fg = self._warp(item.img, m, border=cv2.BORDER_CONSTANT)
        alpha = self._warp(item.mask, m, border=cv2.BORDER_CONSTANT).astype(np.float32) / 255.0
        alpha = soften(alpha, rng)
        return blend(fg, self.background(rng), alpha), alpha

    def viton(self, rng):
        """A VITON upper body framed like ccp or (60%) put on another background by its mask: the
        studio grey teaches nothing about clutter."""
        item = self.c.viton[rng.integers(len(self.c.viton))]
        if rng.random() < 0.4:
            return self._person_crop(rng, item, "portrait" if rng.random() < 0.3 else "full")
        h, w = item.mask.shape
        crop_h = h * rng.uniform(0.6, 1.25)
        crop_w = crop_h * random_aspect(rng)
        cx = w / 2 + w * rng.normal(0, 0.15)
        cy = h / 2 + h * rng.uniform(0, 0.2) * (crop_h > h)
        m = crop_affine(cx, cy, crop_w, crop_h, self.size, rng.normal(0, 6), rng.random() < 0.5)
        fg = self._warp(item.img, m)
        alpha = soften(self._warp(item.mask, m, border=cv2.BORDER_CONSTANT).astype(np.float32) / 255.0, rng)
        return blend(fg, self.background(rng), alpha), alpha

    def cutout(self, rng):
        """RGBA people at portrait scale (head near the top, body running off the bottom) or whole."""
        canvas = self.background(rng).astype(np.float32)
        target = np.zeros((self.size, self.size), np.float32)
        cutouts = [p for p in self.c.people if p.whole]
        person = cutouts[rng.integers(len(cutouts))]
        h, w = person.rgba.shape[:2]
        if rng.random() < 0.5:
            scale = self.size * rng.uniform(1.4, 3.2) / h
            top = self.size * rng.uniform(-0.05, 0.25)
            cx = self.size * rng.uniform(0.3, 0.7)
        else:
            scale = self.size * rng.uniform(0.35, 1.0) / h
            top = self.size * rng.uniform(-0.1, 1.0) - h * scale * rng.uniform(0.0, 0.9)
            cx = self.size * rng.uniform(0.1, 0.9)
        m = stand_affine(scale, rng.normal(0, 6), (w / 2, h / 2), (cx, top + h * scale / 2), rng.random() < 0.5)
        canvas, target = self._paste(canvas, target, person.rgba, m)
        return np.clip(canvas, 0, 255).astype(np.uint8), target

    # ------------------------------------------------------------ distractors
    # Pasted people stand on a small set of background photos, so a net can learn "any texture
    # that is not one of those backgrounds is a person" and then takes posters, racks, poles and
    # cups in real photos for people. Things pasted from other photos' person-free parts, in
    # front of and behind the people, take that shortcut away.

    def _distractor_texture(self, rng) -> tuple[np.ndarray, np.ndarray]:
        """A size x size crop of a real photo's person-free part (or of a background photo),
        with the map of where it holds no person."""
        pick = rng.random()
        if pick < 0.25:
            return self.background(rng), np.ones((self.size, self.size), np.float32)
        pool = self.c.ccp if pick < 0.45 else self.c.picsart if pick < 0.6 else \
            self.c.scenes if pick < 0.8 else self.c.teacher_labelled
        out = self._window(rng, pool[rng.integers(len(pool))], (0.2, 0.7), tilt=10)
        free = (out[1] < 0.1).astype(np.float32)
        if len(out) > 2:
            free *= out[2]
        return out[0], free

    def _distractor_shape(self, rng) -> np.ndarray:
        """A pole (with a sign or flag on it, sometimes), a panel (poster, rack, window), or a
        blob (cup, bag, plant, chair), from small to filling the frame."""
        s = self.size
        shape = np.zeros((s, s), np.uint8)
        kind = rng.choice(["pole", "panel", "blob", "blob"])
        if kind == "pole":
            x, width = rng.uniform(0.05, 0.95) * s, max(2.0, rng.uniform(0.015, 0.07) * s)
            top, tilt = rng.uniform(-0.2, 0.6) * s, rng.normal(0, 0.04) * s
            quad = [(x - width / 2, top), (x + width / 2, top), (x + width / 2 + tilt, s * 1.1),
                    (x - width / 2 + tilt, s * 1.1)]
            cv2.fillPoly(shape, [np.round(np.array(quad)).astype(np.int32)], 255)
            if rng.random() < 0.5:  # a sign or a flag on one side near the top
                fw, fh = rng.uniform(0.08, 0.3) * s, rng.uniform(0.06, 0.22) * s
                side = 1 if rng.random() < 0.5 else -1
                x0 = x + side * width / 2
                cv2.rectangle(shape, (int(x0), int(top)), (int(x0 + side * fw), int(top + fh)), 255, -1)
        elif kind == "panel":
            w, h = rng.uniform(0.12, 0.6, 2) * s
            rect = ((rng.uniform(0, 1) * s, rng.uniform(0, 1) * s), (w, h), rng.normal(0, 8))
            cv2.fillPoly(shape, [np.round(cv2.boxPoints(rect)).astype(np.int32)], 255)
        else:
            centre = rng.uniform(0.1, 0.9, 2) * s
            radius = s * (rng.uniform(0.25, 0.5) if rng.random() < 0.3 else rng.uniform(0.05, 0.25))
            if rng.random() < 0.5:
                axes = (int(radius), int(radius * rng.uniform(0.5, 1.6)))
                cv2.ellipse(shape, (int(centre[0]), int(centre[1])), axes, rng.uniform(0, 180), 0, 360, 255, -1)
            else:
                angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 10))))
                radii = radius * rng.uniform(0.6, 1.2, len(angles))
                pts = centre + np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)
                cv2.fillPoly(shape, [np.round(pts).astype(np.int32)], 255)
        return soften(shape.astype(np.float32) / 255.0, rng)

    def clutter(self, rng):
        """A scene (pasted people, a labelled photo, or no person) with 1-4 things from other
        photos pasted in front of and behind its people; a thing in front hides the person."""
        base = rng.choice(["group", "small_people", "cutout", "person_on_background", "negative",
                           "ccp_full", "picsart", "street_scene"], p=[0.2, 0.15, 0.1, 0.15, 0.15, 0.1, 0.1, 0.05])
        out = getattr(self, base)(rng)
        img, target = out[0].astype(np.float32), out[1]
        valid = out[2] if len(out) > 2 else None
        for _ in range(int(rng.choice([1, 1, 2, 2, 3, 4]))):
            texture, free = self._distractor_texture(rng)
            alpha = self._distractor_shape(rng) * free
            if rng.random() < 0.5:
                alpha = alpha * (1 - target)  # behind the people
            texture = texture.astype(np.float32) * rng.uniform(0.7, 1.3)
            img = texture * alpha[:, :, None] + img * (1 - alpha[:, :, None])
            target = target * (1 - alpha)
            if valid is not None:  # a pasted thing is known not to be a person
                valid = np.maximum(valid, (alpha > 0.5).astype(np.uint8))
        img = np.clip(img, 0, 255).astype(np.uint8)
        return (img, target) if valid is None else (img, target, valid)

    # ------------------------------------------------------------ function matching
    # The teacher's labels on a fixed set of photos teach its answers on those photos only. Here
    # the teacher labels exactly the scene the student sees (a crop, a composite or a blend of two,
    # drawn from every kind): the student matches the teacher's function on far more inputs than
    # the corpus holds, person-free textures among them.
    TEACHER_MATCH_BASES = ("ccp_full", "ccp_torso", "ccp_portrait", "picsart", "picsart_close", "teacher_labelled",
                           "street_scene", "negative", "negative", "group", "small_people", "clutter")

    def teacher_match(self, rng):
        base = self.TEACHER_MATCH_BASES[rng.integers(len(self.TEACHER_MATCH_BASES))]
        img = getattr(self, base)(rng)[0]
        if rng.random() < 0.25:  # a blend of two scenes
            other = getattr(self, self.TEACHER_MATCH_BASES[rng.integers(len(self.TEACHER_MATCH_BASES))])(rng)[0]
            share = rng.uniform(0.25, 0.75)
            img = np.clip(img * share + other.astype(np.float32) * (1 - share) + 0.5, 0, 255).astype(np.uint8)
        if self._teacher is None:
            from models.teacher import MediaPipeSelfie
            self._teacher = MediaPipeSelfie(num_threads=1)
        side = self._teacher.size  # the teacher's own input size; 128 px samples go up to it and back
        square = img if self.size == side else cv2.resize(img, (side, side), interpolation=cv2.INTER_LINEAR)
        target = self._teacher.predict_square(square)
        if self.size != side:
            target = cv2.resize(target, (self.size, self.size), interpolation=cv2.INTER_AREA)
        # the teacher answers before blur, noise and JPEG (it misses motion-blurred people); they
        # apply to its answer afterwards, as to any label
        return img, target.astype(np.float32)


SAMPLE_KINDS = ("ccp_full", "ccp_portrait", "ccp_torso", "picsart", "picsart_close", "teacher_labelled",
                "street_scene", "negative", "group", "small_people", "person_on_background", "viton", "cutout",
                "clutter", "teacher_match", "scene_remainder")


def soften(alpha: np.ndarray, rng) -> np.ndarray:
    """A hard mask pasted on a new background gets a 1-2 px soft edge, like a real photo."""
    if rng.random() < 0.7:
        return cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 1.2))
    return alpha


def blend(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[:, :, None]
    return np.clip(fg.astype(np.float32) * a + bg.astype(np.float32) * (1 - a), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- photometric

def boundary_band(target: np.ndarray, radius: int = 3) -> np.ndarray:
    """1 within `radius` pixels of a person boundary (where the 7x7 window holds both person and
    background), else 0: the training loss weights these pixels up."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return ((cv2.dilate(target, kernel) - cv2.erode(target, kernel)) > 0.05).astype(np.uint8)


def motion_kernel(rng, length: int) -> np.ndarray:
    k = np.zeros((length, length), np.float32)
    angle = rng.uniform(0, 180)
    c = (length - 1) / 2
    dx, dy = math.cos(math.radians(angle)) * c, math.sin(math.radians(angle)) * c
    cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1.0, 1)
    return k / max(k.sum(), 1e-6)


def photometric(img: np.ndarray, target: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Motion blur, focus blur, curves, colour, light falloff, sensor noise and JPEG."""
    size = img.shape[0]
    x = img.astype(np.float32) / 255.0
    blurred = False
    # motion blur blurs the true alpha as well: a moving edge really is partly transparent
    if rng.random() < 0.25:
        k = motion_kernel(rng, int(rng.integers(3, max(4, size // 16))))
        x = cv2.filter2D(x, -1, k, borderType=cv2.BORDER_REFLECT101)
        target = cv2.filter2D(target, -1, k, borderType=cv2.BORDER_REFLECT101)
        blurred = True
    elif rng.random() < 0.1:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 2.0))
        blurred = True
    gamma = rng.uniform(0.6, 1.6)
    if blurred:
        x = np.power(np.clip(x, 0, 1), gamma)
    else:  # still 256 levels: a lookup table gives the same floats at a fraction of the pow's cost
        x = np.power(np.arange(256, dtype=np.float32) / 255.0, gamma)[img]
    x = (x - 0.5) * rng.uniform(0.65, 1.35) + 0.5 + rng.normal(0, 0.08)
    x = x * rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    gray = ((x[:, :, 0] + x[:, :, 1] + x[:, :, 2]) / np.float32(3))[:, :, None]
    sat = 0.0 if rng.random() < 0.05 else rng.uniform(0.5, 1.4)
    x = gray + (x - gray) * sat
    if rng.random() < 0.35:  # a soft directional or radial light field
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
        if rng.random() < 0.5:
            a = rng.uniform(0, 2 * math.pi)
            field = (xx - 0.5) * math.cos(a) + (yy - 0.5) * math.sin(a)
        else:
            field = -np.hypot(xx - rng.uniform(0, 1), yy - rng.uniform(0, 1))
        field = (field - field.min()) / max(float(np.ptp(field)), 1e-6)
        x = x * (rng.uniform(0.35, 0.8) + rng.uniform(0.3, 0.8) * field)[:, :, None]
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(0.005, 0.04), x.shape).astype(np.float32)
    out = np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 92))])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out, np.clip(target, 0, 1).astype(np.float32)
