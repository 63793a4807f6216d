"""PortraitUNet: the bundled 256x256 person-segmentation network.

A small U-Net after the published real-time portrait design:
- base block: residual block of two depthwise-separable convolutions (dw 3x3 + pw 1x1),
- skips merged by element-wise addition (cheaper than concatenation, same channels),
- a decoder with more blocks than the encoder,
- transposed-convolution upsampling,
- extra residual blocks at the output resolution to smooth away checkerboard artefacts.

Only Conv, ConvTranspose, Relu, Sigmoid and Add appear in the exported graph: there are
no normalisation layers; residual blocks start as identities (zero-initialised last
pointwise conv) so the un-normalised net trains stably.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# (channels, residual blocks) per encoder level; level 0 is at 1/2 resolution.
ENCODER = ((16, 0), (32, 1), (64, 2), (128, 1), (256, 2))
# residual blocks per decoder level, from 1/16 up to 1/2 resolution (the 1/2 level gets
# none: its time is better spent on the output-resolution blocks below). With those, the
# decoder has 8 blocks against the encoder's 6. (The first design had one block more at
# 1/16 and 1/32 in the encoder and at 1/16 and 1/8 in the decoder: 10% slower.)
DECODER_BLOCKS = (2, 2, 2, 0)
# channels and residual blocks at the full output resolution (anti-checkerboard).
OUTPUT_CHANNELS, OUTPUT_BLOCKS = 8, 2


@dataclass(frozen=True)
class Arch:
    encoder: tuple = ENCODER
    decoder_blocks: tuple = DECODER_BLOCKS
    output_channels: int = OUTPUT_CHANNELS
    output_blocks: int = OUTPUT_BLOCKS


# Named layouts (`python -m models.train --arch NAME`, then `python -m models.export --arch NAME`);
# "lean" ships.
ARCHES = {
    "lean": Arch(),
    "lite": Arch(encoder=((16, 0), (32, 1), (64, 2), (128, 1), (256, 1)), decoder_blocks=(2, 2, 1, 0)),
    # 16 channels at the output resolution: onnxruntime's blocked layout on AVX-512 works in
    # blocks of 16 channels, so 8 are padded and reordered; measured 11.4 against 12.9 ms per
    # inference (1 thread, random weights) for 37% more MACs at that resolution. On AVX2 (blocks
    # of 8) it is slower: 13.2 against 9.5 ms (bench/model_latency.py, trained weights).
    "wide-output": Arch(output_channels=16),
}


def separable(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, in_ch, 3, stride, 1, groups=in_ch),
        nn.Conv2d(in_ch, out_ch, 1),
    )


class ResidualBlock(nn.Module):
    """x + sep(relu(sep(x))), then ReLU."""

    def __init__(self, ch: int):
        super().__init__()
        self.first = separable(ch, ch)
        self.second = separable(ch, ch)
        self.relu = nn.ReLU(inplace=True)
        # Start as identity: without normalisation this keeps activations bounded early on.
        nn.init.zeros_(self.second[1].weight)
        nn.init.zeros_(self.second[1].bias)

    def forward(self, x):
        return self.relu(x + self.second(self.relu(self.first(x))))


def stage(ch: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*[ResidualBlock(ch) for _ in range(blocks)])


class PortraitUNet(nn.Module):
    def __init__(self, arch: str | Arch = "lean"):
        super().__init__()
        arch = ARCHES[arch] if isinstance(arch, str) else arch
        encoder = arch.encoder
        first_ch = encoder[0][0]
        self.stem = nn.Sequential(nn.Conv2d(3, first_ch, 3, 2, 1), nn.ReLU(inplace=True))
        self.down = nn.ModuleList()
        self.encoder = nn.ModuleList([stage(*encoder[0])])
        for (prev_ch, _), (ch, blocks) in zip(encoder, encoder[1:]):
            self.down.append(nn.Sequential(separable(prev_ch, ch, stride=2), nn.ReLU(inplace=True)))
            self.encoder.append(stage(ch, blocks))
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        channels = [ch for ch, _ in encoder]
        for level, blocks in zip(range(len(encoder) - 1, 0, -1), arch.decoder_blocks):
            self.up.append(nn.Sequential(
                nn.ConvTranspose2d(channels[level], channels[level - 1], 2, 2), nn.ReLU(inplace=True)))
            self.decoder.append(stage(channels[level - 1], blocks))
        self.up_output = nn.Sequential(
            nn.ConvTranspose2d(first_ch, arch.output_channels, 2, 2), nn.ReLU(inplace=True))
        self.output_blocks = stage(arch.output_channels, arch.output_blocks)
        self.head = nn.Conv2d(arch.output_channels, 1, 1)

    def forward_logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.encoder[0](self.stem(x))
        skips = [x]
        for down, enc in zip(self.down, self.encoder[1:]):
            x = enc(down(x))
            skips.append(x)
        skips.pop()  # the deepest level is x itself
        for up, dec in zip(self.up, self.decoder):
            x = dec(up(x) + skips.pop())
        return self.head(self.output_blocks(self.up_output(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.forward_logits(x))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, size: int = 256) -> int:
    """Multiply-accumulates of one forward pass (convolutions only), via forward hooks."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.ConvTranspose2d):
            total += inputs[0].numel() * module.weight[0].numel()
        elif isinstance(module, nn.Conv2d):
            total += output.numel() * module.weight[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return total
