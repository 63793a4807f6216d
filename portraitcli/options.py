"""Option bundles shared by the CLI, the batch runner and worker processes (stdlib only, so
importing them keeps `portraitcli --help` instant)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RenderOptions:
    command: str  # a name in portraitcli.commands.REGISTRY
    strength: float = 0.5  # blur
    bokeh: bool = False  # blur
    threshold: float | None = None  # edge controls (all commands): hard edge at this alpha
    feather: float = 0.0  # edge controls: soften by this many pixels
    shift: int = 0  # edge controls: grow (+) or shrink (-) the matte by this many pixels
    background: str | None = None  # replace-bg: colour, image or video; cutout: flatten colour
    fit: str = "cover"  # replace-bg
    edge_match: float = 0.3  # replace-bg
    sixteen_bit_matte: bool = False  # segment to 16-bit PNG (TIFF is always 16-bit)
    params: dict = field(default_factory=dict)  # an effect's own options that have no field above

    @property
    def effect(self):
        """The command's object (portraitcli/commands/): its compositor and what its output holds."""
        from portraitcli import commands

        return commands.get(self.command)

    @property
    def edges(self):
        from portraitcli.compositing.edges import EdgeControls

        return EdgeControls(self.feather, self.shift, self.threshold)


@dataclass
class Settings:
    """Everything a job needs besides its inputs; picklable for worker processes."""

    render: RenderOptions
    model: str | None = None
    device: str = "auto"
    precision: str = "fp32"  # the bundled model's variant: fp32, or int8 (models/quantize.py)
    refine: bool = True
    smooth: float = 0.6
    subjects: str = "main"  # "main": bystanders fade into the background; "all": everyone
    format: str | None = None
    overwrite: bool = False
    jobs: int = 0
    quality: int = 95
    max_pixels: int = 89_478_485
    crf: int = 20
    preset: str = "veryfast"
    codec: str | None = None
    stream_format: str = "nut"
    preview: bool = False
    dry_run: bool = False
    crop: bool = False  # photos: crop to the main subjects
    crop_margin: float = 0.1  # share of the subjects' box added on each side
    crop_aspect: tuple[float, float] | None = None  # (W, H) of a fixed aspect ratio
    crop_pad: bool = False  # the box may reach outside the photo (background or transparency)
    raw_space: str = "srgb"  # camera RAW develops to "srgb" or "adobe" (Adobe RGB with its ICC profile)
    raw_preview: bool = False  # camera RAW: use the embedded JPEG preview instead of developing
    accept_truncated: bool = False  # a video shorter than declared is processed, not failed
    ray: str | None = None  # a Ray cluster's address (cluster.py); None: this machine only
    split_over: float = 120.0  # videos longer than this (seconds) run in parallel pieces; 0: never
