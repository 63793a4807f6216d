"""`portraitcli info FILE`: what portraitcli sees in an input and what it would do with it."""
from __future__ import annotations

from pathlib import Path

from portraitcli.errors import InputError


def describe(path: Path, dest_ext: str | None = None) -> dict:
    from portraitcli.batch.plan import kind_of

    kind = kind_of(path)
    if kind == "video":
        return _describe_video(path, dest_ext)
    try:
        return _describe_photo(path, dest_ext)
    except InputError:
        if kind is None:  # unknown extension: maybe a video after all
            return _describe_video(path, dest_ext)
        raise


def _describe_photo(path: Path, dest_ext: str | None) -> dict:
    from PIL import Image

    from portraitcli.media.photo import ALPHA_FORMATS, EXTENSION_FORMATS, ORIENTATION_TAG, read_photo

    from portraitcli.media import RAW_EXTENSIONS

    photo = read_photo(path)
    h, w = photo.pixels.shape[:2]
    raw = path.suffix.lower() in RAW_EXTENSIONS
    if raw:
        # LibRaw turned it upright already; Pillow cannot open a sensor mosaic
        stored_mode, stored_size, orientation = "camera RAW", [w, h], 1
    else:
        with Image.open(path) as img:
            stored_mode, stored_size = img.mode, img.size
            orientation = int(img.getexif().get(ORIENTATION_TAG, 1) or 1)
    icc = None
    if photo.icc:
        from io import BytesIO

        from PIL import ImageCms

        try:
            icc = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(BytesIO(photo.icc))).strip()
        except Exception:  # noqa: BLE001 - an unreadable profile is still kept byte for byte
            icc = f"{len(photo.icc)} bytes (unparsed)"
    out_fmt = EXTENSION_FORMATS.get((dest_ext or "").lower(), "TIFF" if raw else photo.format)
    plan = [f"model input: whole photo stretched to 256x256, matte refined back to {w}x{h}"]
    if orientation != 1:
        plan.append(f"EXIF orientation {orientation} applied; output stored upright with orientation 1")
    if raw:
        plan.append("camera RAW developed with the camera's white balance to 16-bit sRGB (--raw-space adobe: "
                    "Adobe RGB; --raw-preview: the embedded JPEG); 16-bit TIFF for cutout/segment, JPEG otherwise")
    plan.append("EXIF, ICC profile and DPI copied to outputs that hold them")
    if photo.pixels.dtype.itemsize == 2:
        plan.append("16-bit kept for PNG/TIFF outputs, reduced to 8-bit for JPEG/WebP")
    if out_fmt not in ALPHA_FORMATS:
        plan.append(f"cutout to {out_fmt} is flattened onto --background (no alpha channel)")
    plan += photo.notes
    return {"file": str(path), "kind": "photo", "format": photo.format, "stored_size": list(stored_size),
            "upright_size": [w, h], "orientation": orientation, "mode": stored_mode,
            "bits_per_channel": 8 * photo.pixels.dtype.itemsize, "has_alpha": photo.alpha is not None,
            "icc_profile": icc, "dpi": list(photo.dpi) if photo.dpi else None, "exif": bool(photo.exif),
            "plan": plan}


def _describe_video(path: Path, dest_ext: str | None) -> dict:
    from portraitcli.media.video import AUDIO_COPYABLE, audio_args, probe

    info = probe(path)
    stamps = info.timestamps or []
    steps = {b - a for a, b in zip(stamps, stamps[1:])}
    ext = (dest_ext or path.suffix).lower()
    plan = [f"{len(stamps) or 'unknown'} frames decoded in stored orientation; timestamps kept"
            + (" (variable frame rate)" if len(steps) > 1 else "")]
    if info.rotation:
        plan.append(f"display rotation {info.rotation} deg: the model sees the upright picture, the output keeps "
                    "the stored frames and the same rotation tag")
    if info.planar_ok:
        plan.append(f"{info.pix_fmt}: blur and segment work on the decoder's own planes (no colour conversion)"
                    + (f", colour tags kept ({', '.join(v for v in info.colour.values())})" if info.colour else ""))
    else:
        plan.append(f"{info.pix_fmt or 'unknown pixel format'}: frames converted to RGB for processing")
    if info.audio_codecs:
        how = "copied untouched" if audio_args(ext, info.audio_codecs) == ["-c:a", "copy"] else \
            f"re-encoded ({ext} cannot hold {', '.join(info.audio_codecs)})"
        plan.append(f"audio {how} into {ext}")
    else:
        plan.append("no audio stream: output without audio")
    if ext not in AUDIO_COPYABLE and ext not in (".mkv", ".nut"):
        plan.append(f"{ext}: uncommon container, codec chosen by ffmpeg defaults")
    return {"file": str(path), "kind": "video", "codec": info.video_codec, "size": [info.width, info.height],
            "display_size": list(info.upright_size), "fps": float(info.fps), "frames": len(stamps) or None,
            "variable_frame_rate": len(steps) > 1, "duration_s": info.duration, "rotation": info.rotation,
            "audio": info.audio_codecs, "pixel_format": info.pix_fmt or None,
            "colour": " ".join(f"{k.lstrip('-')}={v}" for k, v in info.colour.items()) or None, "plan": plan}


def describe_runtime() -> dict:
    """Which onnxruntime build is installed, what it can run on, and the bundled models."""
    import onnxruntime

    from portraitcli.matting.model import BUNDLED_INT8, BUNDLED_MODEL, ONE_BUILD_FIX, onnxruntime_builds

    builds = onnxruntime_builds()
    providers = onnxruntime.get_available_providers()
    plan = ["--device auto: " + ("CUDA if it starts and runs a first inference, else the CPU"
                                  if "CUDAExecutionProvider" in providers else "the CPU (no GPU provider in this build)")]
    if len(builds) > 1:
        plan.insert(0, f"WARNING: {' and '.join(builds)} are both installed and share one module: {ONE_BUILD_FIX}")
    if "CUDAExecutionProvider" in providers:
        plan.append("photos go to the GPU in batches of several; decoding, refinement and encoding on every core")
    return {"file": "onnxruntime", "kind": "runtime", "version": onnxruntime.__version__,
            "installed_builds": builds, "providers": providers,
            "models": [p.name for p in (BUNDLED_MODEL, BUNDLED_INT8) if p.exists()], "plan": plan}


# how each field reads in text; a field not listed is shown with its name
_LABELS = {"stored_size": "stored size", "upright_size": "upright size", "display_size": "display size",
           "bits_per_channel": "bits per channel", "has_alpha": "alpha channel", "icc_profile": "colour profile",
           "dpi": "resolution", "exif": "EXIF", "fps": "frame rate", "variable_frame_rate": "variable frame rate",
           "duration_s": "duration", "pixel_format": "pixel format", "installed_builds": "installed builds"}


def _human(key: str, value) -> str:
    """A value as a person reads it: 640x360, 29.97 fps, aac, yes; '-' for nothing."""
    if value is None or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("size"):
        return f"{value[0]}x{value[1]}"
    if key == "dpi":
        return f"{value[0]:g} x {value[1]:g} dpi"
    if key == "fps":
        return f"{value:.3f}".rstrip("0").rstrip(".") + " fps"
    if key == "duration_s":
        return f"{value:.2f} s"
    if key == "rotation":
        return f"{value} degrees"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def format_text(d: dict) -> str:
    lines = [f"{d['file']}: {d['kind']}"]
    for key, value in d.items():
        if key not in ("file", "kind", "plan"):
            lines.append(f"  {_LABELS.get(key, key.replace('_', ' '))}: {_human(key, value)}")
    lines.append("  portraitcli would:")
    lines += [f"    - {p}" for p in d["plan"]]
    return "\n".join(lines)


def files_in(paths: list[Path]) -> list[Path]:
    """The files info describes: each file named, and the photos and videos under each folder
    (by path, IMG_2 before IMG_10)."""
    from portraitcli.batch.plan import kind_of, media_under, natural_key

    files = []
    for path in paths:
        if path.is_dir():
            files += sorted((f for f in media_under(path) if kind_of(f)), key=lambda f: natural_key(str(f)))
        else:
            files.append(path)
    return files
