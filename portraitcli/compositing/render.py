"""The compositor step: one Renderer per job turns (frame, alpha) into output pixels.

It is built once from the command's options and used for every photo or video frame, so the
photo path, the video pipeline and the Python API share exactly the same effect code; the
effect itself is the command's (portraitcli/commands/).
"""
from __future__ import annotations

from portraitcli.options import RenderOptions


def flatten_colour(options: RenderOptions) -> tuple[int, int, int]:
    """The colour an output with alpha is flattened onto where the sink has none."""
    return options.effect.flatten_colour(options)


class Renderer:
    def __init__(self, options: RenderOptions):
        self.effect = options.effect  # ValueError for an unknown command
        self.options = options
        self.edges = options.edges
        self.flatten_colour = flatten_colour(options)
        self.state = self.effect.open(options)  # e.g. replace-bg's new background

    @property
    def output_channels(self) -> int:
        """1 for a matte, 4 for a cutout, 3 otherwise."""
        return self.effect.channels

    def __call__(self, frame, alpha, index: int = 0, rotation: int = 0):
        """The edge controls (feather, shift, threshold) on the alpha, then the effect."""
        return self.composite(frame, self.edges(alpha), index, rotation)

    def composite(self, frame, alpha, index: int = 0, rotation: int = 0):
        """The effect alone, on an alpha whose edges are final.
        frame: RGB array, its Pyramid (a photo's halvings, shared with the matte) or I420 video
        frame (the planar commands keep I420; the others work in RGB);
        rotation: the frame's display rotation, so a new background goes on the right way up."""
        return self.effect.composite(self, frame, alpha, index, rotation)

    def close(self) -> None:
        if self.state is not None:
            self.state.close()
