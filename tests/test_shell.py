"""Shell friendliness: docs in sync with the CLI, config and environment defaults, info, dry run,
contact sheet, version."""
from __future__ import annotations

import json
import os

import numpy as np
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
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(astronaut_rgb).resize((200 + 40 * i, 200)).save(src / f"p{i}.jpg")
    sheet = tmp_path / "sheet.jpg"
    proc = run_portraitcli("segment", "--sheet", sheet, src, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    img = np.asarray(Image.open(sheet))
    assert img.shape[0] == 3 * (160 + 4)  # one row per photo
    assert b"contact sheet" in proc.stderr


def test_shell_completion_script_as_documented():
    import subprocess

    env = dict(os.environ, _PORTRAITCLI_COMPLETE="bash_source")
    exe = os.path.join(os.path.dirname(__import__("sys").executable), "portraitcli")
    proc = subprocess.run([exe], env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "_portraitcli_completion" in proc.stdout
    assert 'eval "$(_PORTRAITCLI_COMPLETE=bash_source portraitcli)"' in (ROOT / "README.md").read_text()
