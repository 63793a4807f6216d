"""segment: the alpha matte itself, 8-bit (16-bit in TIFF, or PNG with --format tiff)."""
from __future__ import annotations

from portraitcli.commands.base import Command


class Segment(Command):
    name = "segment"
    help = """Alpha matte: 8-bit greyscale PNG at full resolution (16-bit with --format tiff),
    or a matte video / PNG sequence for video inputs."""
    channels = 1
    planar = True
    photo_format = "PNG"
    raw_extension = ".tif"
    photo_bytes_per_pixel = 12

    def configure(self, render, fmt):
        if fmt and fmt.lower().lstrip(".") in ("tif", "tiff"):
            render.sixteen_bit_matte = True

    def composite(self, renderer, frame, alpha, index, rotation):
        return self._matte(alpha, renderer.options.sixteen_bit_matte)

    def render_photo(self, renderer, photo, pixels, alpha, source_alpha, fmt):
        return self._matte(alpha, fmt == "TIFF" or (fmt == "PNG" and renderer.options.sixteen_bit_matte)), []

    @staticmethod
    def _matte(alpha, sixteen: bool):
        import numpy as np

        from portraitcli.compositing import effects

        return effects.matte_image(alpha, None, np.uint16 if sixteen else np.uint8)

    def sheet_tiles(self, rgb, result):
        """The matte, and the cutout it makes where it covers the photo (not a --crop)."""
        import numpy as np

        from portraitcli.media.frames import to_uint8

        matte = to_uint8(result.rgb[:, :, 0])
        if matte.shape != rgb.shape[:2]:
            return [rgb, matte]
        return [rgb, matte, np.dstack([rgb, matte])]
