"""replace-bg: the person on a new background (a colour, an image or a looping video)."""
from __future__ import annotations

from portraitcli.commands.base import Command, rgb_of


class ReplaceBackground(Command):
    name = "replace-bg"
    help = """Put the person on a new background."""
    photo_bytes_per_pixel = 19

    def click_options(self):
        import click

        return [
            click.option("-b", "--background", required=True,
                         help="New background: an image, a video, or a colour (name, #rrggbb, r,g,b)."),
            click.option("--fit", type=click.Choice(["cover", "contain", "stretch"]), default="cover",
                         show_default=True,
                         help="How a background image or video of another shape fills the frame: cover scales it "
                              "to fill and crops the overflow, contain fits it whole and fills the bars with its "
                              "own blurred edges, stretch ignores its aspect ratio."),
            click.option("--edge-match", type=click.FloatRange(0, 1), default=0.3, show_default=True,
                         help="Match the colour of soft edges to the new background's light."),
        ]

    def open(self, options):
        if not options.background:
            raise ValueError("replace-bg needs --background IMAGE|VIDEO|COLOUR")
        from portraitcli.compositing.background import BackgroundSource

        return BackgroundSource(options.background)

    def composite(self, renderer, frame, alpha, index, rotation):
        from portraitcli.compositing import effects
        from portraitcli.media.frames import colour_pyramid, stored

        rgb = rgb_of(frame)
        h, w = alpha.shape
        if (rotation // 90) % 2:
            h, w = w, h
        dtype = colour_pyramid(rgb).image.dtype
        back = stored(renderer.state.frame(index, h, w, dtype, renderer.options.fit), rotation)
        return effects.replace_background(rgb, alpha, back, renderer.options.edge_match)
