"""Shell friendliness: docs in sync with the CLI, config and environment defaults, info, dry run,
contact sheet, version."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from portraitcli import __version__
from portraitcli.cli import cli
from portraitcli.docs import END, START, options_markdown
from tests.conftest import ROOT, run_portraitcli


def test_readme_options_tables_match_the_cli():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(START) + len(START):readme.index(END)]
    assert section.strip() == options_markdown().strip(), "run: python -m portraitcli.docs --write README.md"


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_config_file_and_environment_defaults(tmp_path, astronaut_png):
    config = tmp_path / "config.toml"
    config.write_text('[segment]\nthreshold = 0.5\n')
    env = dict(os.environ, PORTRAITCLI_CONFIG=str(config))
    import subprocess
    import sys

    out = tmp_path / "m.png"
    subprocess.run([sys.executable, "-m", "portraitcli", "segment", str(astronaut_png), str(out)], env=env, check=True)
    assert set(np.unique(np.asarray(Image.open(out)))) <= {0, 255}  # threshold came from the config
    out2 = tmp_path / "m2.png"
    env2 = dict(os.environ, PORTRAITCLI_SEGMENT_THRESHOLD="0.5")
    env2.pop("PORTRAITCLI_CONFIG", None)
    subprocess.run([sys.executable, "-m", "portraitcli", "segment", str(astronaut_png), str(out2)], env=env2,
                   check=True)
    assert set(np.unique(np.asarray(Image.open(out2)))) <= {0, 255}  # and from the environment


def test_dry_run_lists_and_writes_nothing(tmp_path, astronaut_png):
    proc = run_portraitcli("blur", "--dry-run", astronaut_png, tmp_path / "out.jpg")
    assert proc.returncode == 0
    assert f"{astronaut_png} -> {tmp_path / 'out.jpg'}".encode() in proc.stdout + proc.stderr
    assert not (tmp_path / "out.jpg").exists()


def test_info_photo_and_video(tmp_path, astronaut_rgb, person_clip):
    photo = tmp_path / "p.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(astronaut_rgb[:, :300]).save(photo, exif=exif.tobytes())
    proc = run_portraitcli("info", "--json", photo, person_clip)
    assert proc.returncode == 0, proc.stderr
    p, v = json.loads(proc.stdout)
    assert p["kind"] == "photo" and p["stored_size"] == [300, 512] and p["upright_size"] == [512, 300]
    assert p["orientation"] == 6
    assert v["kind"] == "video" and v["frames"] == 15 and v["audio"] == ["aac"] and v["fps"] == 15
    text = run_portraitcli("info", person_clip, "--as", ".webm").stdout.decode()
    assert "audio re-encoded" in text
    bad = run_portraitcli("info", ROOT / "setup.cfg")
    assert bad.returncode == 1 and b"setup.cfg" in bad.stderr


def test_contact_sheet(tmp_path, astronaut_rgb):
    from skimage import data

    from portraitcli.compositing.sheet import LABEL_HEIGHT, ROW_GAP, label

    src = tmp_path / "in"
    src.mkdir()
    # names whose listing order, plain sort and input order all differ; each photo distinct
    pictures = {"IMG_10.jpg": data.coffee(), "IMG_2.jpg": astronaut_rgb, "IMG_9.jpg": data.chelsea()}
    for name, rgb in pictures.items():
        Image.fromarray(rgb).resize((240, 200)).save(src / name)
    single = tmp_path / "first.jpg"
    Image.fromarray(data.rocket()).resize((240, 200)).save(single)
    sheet = tmp_path / "sheet.png"
    proc = run_portraitcli("segment", "--sheet", sheet, "-j", "2", single, src, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    img = np.asarray(Image.open(sheet))
    row = 160 + LABEL_HEIGHT + ROW_GAP
    assert img.shape[0] == 4 * row  # one row per photo, a name under each
    order = [single, src / "IMG_2.jpg", src / "IMG_9.jpg", src / "IMG_10.jpg"]  # SRC order, then by number
    originals = [np.asarray(Image.open(p).resize((192, 160))).astype(float) for p in order]
    for i, path in enumerate(order):
        tile = img[i * row: i * row + 160, :192].astype(float)
        errors = [np.abs(tile - o).mean() for o in originals]
        assert int(np.argmin(errors)) == i, (i, errors)  # the row shows its photo
        name_strip = img[i * row + 160: i * row + 160 + LABEL_HEIGHT]
        assert (name_strip == label(str(path), img.shape[1])).all()  # and its file name beneath
        assert (name_strip < 100).any()
    assert b"contact sheet" in proc.stderr


def test_shell_completion_script_as_documented():
    import subprocess

    env = dict(os.environ, _PORTRAITCLI_COMPLETE="bash_source")
    exe = os.path.join(os.path.dirname(__import__("sys").executable), "portraitcli")
    proc = subprocess.run([exe], env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "_portraitcli_completion" in proc.stdout
    assert 'eval "$(_PORTRAITCLI_COMPLETE=bash_source portraitcli)"' in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("command, tiles", [("cutout", 3), ("blur", 2)])
def test_contact_sheet_for_other_commands(tmp_path, astronaut_rgb, command, tiles):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(astronaut_rgb).resize((240, 200)).save(src / "a.png")
    sheet = tmp_path / "sheet.png"
    proc = run_portraitcli(command, "--sheet", sheet, src, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    img = np.asarray(Image.open(sheet))
    assert img.shape[1] == tiles * 192  # photo | alpha | cutout, or photo | result
    out = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    shown = img[:160, 192:384].astype(float)
    expected = out[..., 3] if command == "cutout" else out
    expected = np.asarray(Image.fromarray(expected).resize((192, 160))).astype(float)
    if expected.ndim == 2:
        expected = np.repeat(expected[:, :, None], 3, axis=2)
    assert np.abs(shown - expected).mean() < 6
