"""portraitcli: find the person in every photo and video frame, and do something useful with it.

The Python API is the same pipeline the CLI runs::

    from portraitcli import Segmenter, effects
    seg = Segmenter()
    alpha = seg.matte(rgb)                 # float32 HxW in [0, 1], full resolution
    out = effects.blur_background(rgb, alpha, strength=0.5)

Imports stay lazy so that `portraitcli --help` does not pay for numpy, cv2 or onnxruntime.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Segmenter", "PortraitModel", "effects", "__version__"]


def __getattr__(name):
    if name == "Segmenter":
        from portraitcli.matting.segmenter import Segmenter
        return Segmenter
    if name == "PortraitModel":
        from portraitcli.matting.model import PortraitModel
        return PortraitModel
    if name == "effects":
        import importlib
        return importlib.import_module("portraitcli.compositing.effects")
    raise AttributeError(name)
