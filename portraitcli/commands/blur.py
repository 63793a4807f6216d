"""blur: the background blurred like a lens would, the person sharp."""
from __future__ import annotations

from portraitcli.commands.base import Command


class Blur(Command):
    name = "blur"
    help = """Background blur that looks like a lens: the person stays sharp, with no halo."""
    planar = True
    reuses_halvings = True  # the blur's pyramid starts from the photo's own
    photo_bytes_per_pixel = 15

    def click_options(self):
        import click

        return [
            click.option("--strength", type=click.FloatRange(0, 1), default=0.5, show_default=True,
                         help="How strong the blur is, on a 0-1 scale: 0 leaves the background sharp, 1 is the "
                              "strongest (a Gaussian whose sigma is 2% of the picture's longer side; 0.5 is 1%)."),
            click.option("--bokeh", is_flag=True, help="Disc-shaped lens blur where bright highlights bloom."),
        ]

    def composite(self, renderer, frame, alpha, index, rotation):
        from portraitcli.compositing import effects
        from portraitcli.media.frames import I420

        o = renderer.options
        if isinstance(frame, I420):
            return effects.blur_background_i420(frame, alpha, o.strength, o.bokeh)
        return effects.blur_background(frame, alpha, o.strength, o.bokeh)

    def render_photo(self, renderer, photo, pixels, alpha, source_alpha, fmt):
        if not photo.grey:
            return super().render_photo(renderer, photo, pixels, alpha, source_alpha, fmt)
        import cv2

        return cv2.cvtColor(renderer.composite(pixels, alpha), cv2.COLOR_RGB2GRAY), []
