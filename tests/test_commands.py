"""The command registry: a new effect is one Command subclass and one registry entry, and the
CLI (its options, help, config keys), planning and the compositor take it from there."""
from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from PIL import Image

from portraitcli import cli as cli_module
from portraitcli import commands
from portraitcli.commands.base import Command, rgb_of


class InvertBackground(Command):
    """A toy effect: the background's colours inverted by --amount, the person untouched."""

    name = "invert-bg"
    help = """Invert the background's colours; the person stays as is."""

    def click_options(self):
        import click

        return [click.option("--amount", type=click.FloatRange(0, 1), default=1.0, show_default=True,
                             help="How far to invert the background, 0-1.")]

    def composite(self, renderer, frame, alpha, index, rotation):
        from portraitcli.media.frames import colour_pyramid

        image = colour_pyramid(rgb_of(frame)).image.astype(np.float32)
        amount = renderer.options.params["amount"]
        background = image + amount * (255 - 2 * image)
        a = alpha[:, :, None]
        return np.clip(image * a + background * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def test_a_registered_effect_runs_from_the_cli(monkeypatch, astronaut_png, tmp_path):
    effect = InvertBackground()
    monkeypatch.setitem(commands.REGISTRY, effect.name, effect)
    monkeypatch.setitem(cli_module.cli.commands, effect.name, cli_module.effect_command(effect))
    runner = CliRunner()

    shown = runner.invoke(cli_module.cli, ["invert-bg", "--help"])
    assert shown.exit_code == 0
    assert "Invert the background's colours" in shown.output and "--amount" in shown.output
    assert "--feather" in shown.output  # the common options too

    out, matte = tmp_path / "out", tmp_path / "matte.png"
    done = runner.invoke(cli_module.cli, ["invert-bg", "--amount", "1", "-q", "-j", "1", str(astronaut_png),
                                          str(out) + "/"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    # planning gave it the source's own format (a Command's default), in the folder named
    written = out / "astronaut.png"
    assert written.is_file()
    runner.invoke(cli_module.cli, ["segment", "-q", "-j", "1", str(astronaut_png), str(matte)],
                  catch_exceptions=False)
    source = np.asarray(Image.open(astronaut_png).convert("RGB")).astype(int)
    result = np.asarray(Image.open(written).convert("RGB")).astype(int)
    alpha = np.asarray(Image.open(matte))
    person, background = alpha == 255, alpha == 0
    assert person.mean() > 0.05 and background.mean() > 0.05
    assert np.abs(result[person] - source[person]).max() <= 2
    assert np.abs(result[background] - (255 - source[background])).max() <= 2

