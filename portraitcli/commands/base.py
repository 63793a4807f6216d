"""What a command is: its name, help and own options for the CLI, what its output holds
(channels, alpha, the planes it can work on), its default output format, and its compositor.

Stdlib only at import, so building the CLI from the registry keeps `portraitcli --help`
instant: Click, numpy and the pixel effects are imported inside the methods that use them.
"""
from __future__ import annotations

WHITE = (255, 255, 255)


class Command:
    """One command (a subclass per file in this package, an instance in the registry); the
    defaults here are those of an effect that outputs RGB pictures."""

    name: str = ""
    help: str = ""  # the command's help text, as a docstring would give it
    channels: int = 3  # the rendered frame: 1 a matte, 3 RGB, 4 RGBA
    planar: bool = False  # can composite a video's I420 planes without converting to RGB
    reuses_halvings: bool = False  # reuses a photo's Pyramid halvings after the matte is made
    # default outputs when DEST does not name a format (folder mode, stdout):
    photo_format: str | None = None  # a photo's (PIL name); None: the source's own where writable
    raw_extension: str = ".jpg"  # a camera RAW's
    video_extension: str | None = None  # a video's container; None: the source's own where common
    # peak bytes a pixel of one photo in a worker, the whole process (bench/photo_memory.py)
    photo_bytes_per_pixel: int = 19

    @property
    def keeps_alpha(self) -> bool:
        """Its output has an alpha channel that a sink which cannot hold it flattens."""
        return self.channels == 4

    def output_channels(self, alpha_ok: bool) -> int:
        """The channels a sink takes: 4 only where it holds alpha, a flattened picture otherwise."""
        return self.channels if alpha_ok or not self.keeps_alpha else 3

    def click_options(self) -> list:
        """Its own options (Click decorators), listed before the common ones."""
        return []

    def configure(self, render, fmt: str | None) -> None:
        """Adjust RenderOptions for --format (the matte's bit depth)."""

    def flatten_colour(self, options) -> tuple[int, int, int]:
        """The colour an output with alpha goes onto where the sink has none."""
        return WHITE

    def open(self, options):
        """The per-job state its compositor needs (a new background), or None; checks options.
        Raises ValueError with a usage message."""
        return None

    def composite(self, renderer, frame, alpha, index: int, rotation: int):
        """The effect on an alpha whose edges are final; see Renderer.composite."""
        raise NotImplementedError

    def render_photo(self, renderer, photo, pixels, alpha, source_alpha, fmt: str):
        """A photo's output pixels for format fmt (a PIL name), and notes on what was adapted to it."""
        import numpy as np

        from portraitcli.media.photo import ALPHA_FORMATS

        out = renderer.composite(pixels, alpha)
        if source_alpha is not None and fmt in ALPHA_FORMATS:
            out = np.dstack([out, source_alpha])  # keep the source's own transparency
        return out, []

    def sheet_tiles(self, rgb, result) -> list:
        """A contact sheet row's tiles after the photo: what was made of it."""
        from portraitcli.media.frames import to_uint8

        return [rgb, to_uint8(result.rgb)]


def rgb_of(frame):
    """An RGB frame, or a photo's Pyramid as it is (the foreground estimate reuses its halvings)."""
    import numpy as np

    from portraitcli.media.frames import Pyramid

    return frame if isinstance(frame, (np.ndarray, Pyramid)) else frame.to_rgb()
