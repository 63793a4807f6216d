"""cutout: the person with transparency, flattened onto a colour where the output has no alpha."""
from __future__ import annotations

from portraitcli.commands.base import WHITE, Command, rgb_of


class Cutout(Command):
    name = "cutout"
    help = """The person with transparency: RGBA PNG/WebP/TIFF, ProRes 4444 .mov or VP9 .webm."""
    channels = 4
    photo_format = "PNG"
    raw_extension = ".tif"
    video_extension = ".mov"
    photo_bytes_per_pixel = 16

    def click_options(self):
        import click

        return [click.option("-b", "--background", default=None,
                             help="Colour to flatten onto for formats without alpha (JPEG, mp4) [default: white].")]

    def flatten_colour(self, options):
        if options.background:
            from portraitcli.compositing import effects

            return effects.parse_colour(options.background)
        return WHITE

    def composite(self, renderer, frame, alpha, index, rotation):
        from portraitcli.compositing import effects

        return effects.cutout(rgb_of(frame), alpha)

    def render_photo(self, renderer, photo, pixels, alpha, source_alpha, fmt):
        from portraitcli.compositing import effects
        from portraitcli.media.photo import ALPHA_FORMATS

        out = renderer.composite(pixels, alpha)
        if fmt in ALPHA_FORMATS:
            return out, []
        colour = renderer.flatten_colour
        return effects.flatten(out, colour), [f"{fmt} has no alpha channel: cutout flattened onto {colour}"]

    def sheet_tiles(self, rgb, result):
        if result.alpha is None:  # flattened onto a colour for JPEG
            return super().sheet_tiles(rgb, result)
        from portraitcli.media.frames import to_uint8

        return [rgb, to_uint8(result.alpha), to_uint8(result.pixels)]
