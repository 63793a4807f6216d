"""The commands, one object each (portraitcli/commands/<name>.py), asked by the CLI, the docs
generator, planning and rendering. Adding an effect: a new file and a line in REGISTRY."""
from __future__ import annotations

from portraitcli.commands.base import Command
from portraitcli.commands.blur import Blur
from portraitcli.commands.cutout import Cutout
from portraitcli.commands.replace_bg import ReplaceBackground
from portraitcli.commands.segment import Segment

# in the order the CLI's help and the README list them
REGISTRY: dict[str, Command] = {c.name: c for c in (Segment(), Blur(), ReplaceBackground(), Cutout())}
NAMES = tuple(REGISTRY)


def get(name: str) -> Command:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown command {name!r}") from None
