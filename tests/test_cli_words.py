"""Where the user needs a word: skipped outputs named, usage errors found before any work, config
typos reported, and what a video output could not keep said in a note (issue: nothing silent)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from portraitcli.media.video import ffmpeg_exe, probe
from tests.conftest import make_person_clip, run_portraitcli


@pytest.fixture()
def photos(tmp_path, astronaut_rgb) -> list[Path]:
    small = Image.fromarray(astronaut_rgb).resize((128, 128))
    paths = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    for p in paths:
        small.save(p, quality=90)
    return paths


def _err(proc) -> str:
    return proc.stderr.decode()


def test_skipped_output_is_named_with_the_way_to_replace_it(tmp_path, photos):
    out = tmp_path / "out.jpg"
    assert run_portraitcli("blur", photos[0], out).returncode == 0
    proc = run_portraitcli("blur", "--strength", "1", photos[0], out)
    assert proc.returncode == 0
    assert f"portraitcli: note: {out} exists; --overwrite replaces it" in _err(proc)
    folder = tmp_path / "outs"
    assert run_portraitcli("blur", *photos, folder).returncode == 0
    proc = run_portraitcli("blur", *photos, folder)
    assert "2 outputs exist and were skipped" in _err(proc) and "--overwrite replaces them" in _err(proc)
    assert "exists" not in _err(run_portraitcli("blur", "-q", *photos, folder))


def test_terminal_on_stdin_is_refused_at_once(tmp_path):
    import pty

    controller, terminal = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "portraitcli", "blur", "-", str(tmp_path / "out.jpg")],
                              stdin=terminal, capture_output=True, timeout=60)
    finally:
        os.close(terminal)
        os.close(controller)
    assert proc.returncode == 2, proc.stderr
    assert "stdin, which is a terminal" in _err(proc) and "Fatal Python error" not in _err(proc)
    assert not (tmp_path / "out.jpg").exists()


def test_folder_with_nothing_readable_says_what_it_ignored(tmp_path, photos):
    odd = tmp_path / "odd"
    odd.mkdir()
    for name in ("x.tga", "y.xcf", "notes.txt", "more.txt"):
        (odd / name).write_bytes(b"not media")
    proc = run_portraitcli("blur", odd, tmp_path / "o1")
    assert proc.returncode == 1
    assert "nothing to process" in _err(proc) and "4 files (2 .txt, 1 .tga, 1 .xcf)" in _err(proc)
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_portraitcli("blur", empty, tmp_path / "o2")
    assert proc.returncode == 1 and "nothing to process (no files" in _err(proc)
    # a folder with media too: processed, exit 0, and the rest named
    (odd / "a.jpg").write_bytes(photos[0].read_bytes())
    proc = run_portraitcli("blur", odd, tmp_path / "o3")
    assert proc.returncode == 0, proc.stderr
    assert "portraitcli: note: ignored 4 files (2 .txt, 1 .tga, 1 .xcf)" in _err(proc)
    assert (tmp_path / "o3" / "a.jpg").is_file()


def test_several_inputs_into_a_file_name_is_a_usage_error(tmp_path, photos):
    proc = run_portraitcli("blur", *photos, tmp_path / "out.jpg")
    assert proc.returncode == 2 and "need a folder as DEST" in _err(proc)
    assert not (tmp_path / "out.jpg").exists()


@pytest.mark.parametrize("args, words", [
    (["--preset", "turbo"], "'turbo' is not one of"),
    (["--codec", "nope"], "--codec nope: not a video encoder"),
    (["--format", "xyz"], "--format xyz: unknown format (valid: jpg"),
    ([], "a video cannot be written as .gif"),
    ([], "a video cannot be written as .jpg"),
])
def test_bad_encoder_choices_are_usage_errors_before_any_work(tmp_path, astronaut_rgb, args, words):
    clip = make_person_clip(tmp_path / "clip.mp4", astronaut_rgb, seconds=0.2, audio=False)
    dest = tmp_path / ("out.gif" if ".gif" in words else "out.jpg" if ".jpg" in words else "out.mp4")
    proc = run_portraitcli("blur", *args, clip, dest)
    assert proc.returncode == 2, proc.stderr
    assert words in _err(proc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_mp4_with_its_index_at_the_end_on_stdin_says_why(tmp_path, astronaut_rgb):
    # moov at the end, and more than ffmpeg's read buffer in front of it
    clip = make_person_clip(tmp_path / "clip.mp4", astronaut_rgb, seconds=2, size=(640, 480), audio=False)
    proc = run_portraitcli("blur", "-", tmp_path / "out.mp4", input=clip.read_bytes())
    assert proc.returncode == 1
    assert "faststart" in _err(proc) and "pass the file by path" in _err(proc)
    assert "Output file is empty" not in _err(proc)


def _with_env(*args, **env) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PORTRAITCLI_")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "portraitcli", *map(str, args)], capture_output=True, env=full,
                          timeout=120)


def test_config_and_environment_mistakes_are_named(tmp_path, photos):
    config = tmp_path / "config.toml"
    out = tmp_path / "out.jpg"
    config.write_text("strenght = 2\n")
    proc = _with_env("blur", photos[0], out, PORTRAITCLI_CONFIG=str(config))
    assert proc.returncode == 2 and f"{config}: unknown key 'strenght' (valid: " in _err(proc)
    assert "strength" in _err(proc)
    config.write_text("[blur]\nstrength = 2\n")
    proc = _with_env("blur", photos[0], out, PORTRAITCLI_CONFIG=str(config))
    assert proc.returncode == 2 and f"{config}: [blur] strength = 2:" in _err(proc)
    proc = _with_env("blur", photos[0], out, PORTRAITCLI_CONFIG=str(tmp_path / "missing.toml"))
    assert proc.returncode == 2 and "missing.toml: no such config file" in _err(proc)
    proc = _with_env("blur", photos[0], out, PORTRAITCLI_BLUR_STRENGHT="1")
    assert proc.returncode == 2 and "PORTRAITCLI_BLUR_STRENGHT: unknown variable" in _err(proc)
    assert "PORTRAITCLI_BLUR_STRENGTH" in _err(proc)
    proc = _with_env("blur", photos[0], out, PORTRAITCLI_BLUR_STRENGTH="lots")
    assert proc.returncode == 2 and "PORTRAITCLI_BLUR_STRENGTH = 'lots'" in _err(proc)
    assert not out.exists()
    # a good file still applies, under the option's own spelling
    config.write_text('format = "png"\n')
    proc = _with_env("blur", *photos, tmp_path / "o", PORTRAITCLI_CONFIG=str(config))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.png", "b.png"]


def test_dest_equal_to_src_for_one_file_is_a_usage_error(photos):
    before = photos[0].read_bytes()
    proc = run_portraitcli("blur", photos[0], photos[0], "--overwrite")
    assert proc.returncode == 2 and "DEST is the input itself" in _err(proc)
    assert photos[0].read_bytes() == before


def test_report_counts_video_frames(tmp_path, astronaut_rgb):
    clip = make_person_clip(tmp_path / "clip.mp4", astronaut_rgb, seconds=0.4, audio=False)
    report = tmp_path / "r.json"
    assert run_portraitcli("segment", clip, tmp_path / "m.mp4", "--report", report).returncode == 0
    assert json.loads(report.read_text())["files"][0]["frames"] == 6


def test_format_applies_to_the_kind_it_fits(tmp_path, astronaut_rgb, photos):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for p in photos:
        p.rename(mixed / p.name)
    make_person_clip(mixed / "clip.mp4", astronaut_rgb, seconds=0.2, audio=False)
    proc = run_portraitcli("blur", "--format", "mov", mixed, tmp_path / "o_mov")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "o_mov").iterdir()) == ["a.jpg", "b.jpg", "clip.mov"]
    proc = run_portraitcli("blur", "--format", "webp", mixed, tmp_path / "o_webp")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "o_webp").iterdir()) == ["a.webp", "b.webp", "clip.mp4"]
    assert (tmp_path / "o_webp" / "clip.mp4").is_file()


def test_video_output_keeps_subtitles_and_language_and_says_what_it_changed(tmp_path, astronaut_rgb):
    clip = make_person_clip(tmp_path / "src.mp4", astronaut_rgb, seconds=0.4, size=(161, 121), audio=False,
                            extra_args=["-pix_fmt", "yuv444p10le"])
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,300\nhello\n")
    source = tmp_path / "src.mkv"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(clip), "-i", str(srt), "-map", "0",
                    "-map", "1", "-c:v", "copy", "-c:s", "srt", "-metadata:s:s:0", "language=fra",
                    "-metadata:s:v:0", "language=und", str(source)], check=True)
    out = tmp_path / "out.mp4"
    proc = run_portraitcli("blur", source, out)
    assert proc.returncode == 0, proc.stderr
    banner = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
    assert "(fra): Subtitle: mov_text" in banner  # subtitles carried over, their language kept
    assert "(und): Video" in banner and "(eng)" not in banner
    assert probe(out).subtitle_codecs == ["mov_text"]
    assert "161x121: libx264 4:2:0 needs even sizes, written as 162x122" in _err(proc)
    assert "yuv444p10le source (10-bit): processed and written in 8 bits" in _err(proc)
    # a container that cannot hold them says so
    proc = run_portraitcli("blur", source, tmp_path / "out.avi")
    assert proc.returncode == 0 and ".avi cannot hold subrip subtitles" in _err(proc)


def test_notes_are_told_apart_from_errors(tmp_path, astronaut_rgb):
    """A CMYK photo is converted (a note, exit 0); a broken one fails (the error form, exit 1)."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(astronaut_rgb).resize((128, 128)).convert("CMYK").save(src / "cmyk.jpg", quality=90)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    proc = run_portraitcli("segment", src, tmp_path / "out")
    assert proc.returncode == 1, proc.stderr
    lines = _err(proc).splitlines()
    note = [ln for ln in lines if "CMYK" in ln]
    assert note and note[0].startswith(f"portraitcli: note: {src / 'cmyk.jpg'}: ") and "sRGB" in note[0]
    error = [ln for ln in lines if "broken.jpg" in ln]
    assert len(error) == 1 and error[0].startswith(f"portraitcli: {src / 'broken.jpg'}: ")
    assert "note:" not in error[0]
    assert (tmp_path / "out" / "cmyk.png").is_file() and not (tmp_path / "out" / "broken.png").exists()
    # -q keeps the errors and drops the notes
    quiet = _err(run_portraitcli("segment", "-q", "--overwrite", src, tmp_path / "out"))
    assert "broken.jpg" in quiet and "note:" not in quiet


def test_dry_run_lists_every_output_sorted_on_stdout(tmp_path, astronaut_rgb):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    small = Image.fromarray(astronaut_rgb).resize((64, 64))
    for name in ("c.jpg", "a.jpg", "sub/b.jpg", "B.png"):
        small.save(src / name)
    make_person_clip(src / "clip.mp4", astronaut_rgb, seconds=0.2, audio=False)
    out = tmp_path / "out"
    proc = run_portraitcli("blur", "--dry-run", src, out)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    outputs = [ln.split(" -> ")[1] for ln in lines]
    assert outputs == sorted(outputs) and len(lines) == 5
    assert f"{src / 'sub' / 'b.jpg'} -> {out / 'sub' / 'b.jpg'}" in lines
    assert f"{src / 'clip.mp4'} -> {out / 'clip.mp4'}" in lines
    assert " -> " not in _err(proc)  # the listing is on stdout only
    assert not out.exists()


def test_info_reads_as_text_and_json_for_files_and_folders(tmp_path, astronaut_rgb):
    folder = tmp_path / "shoot"
    (folder / "empty").mkdir(parents=True)
    Image.fromarray(astronaut_rgb).resize((64, 48)).save(folder / "IMG_10.jpg", dpi=(300, 300))
    Image.fromarray(astronaut_rgb).resize((64, 48)).save(folder / "IMG_9.png")
    (folder / "notes.txt").write_text("not media")
    clip = make_person_clip(tmp_path / "clip.mp4", astronaut_rgb, seconds=0.4, size=(160, 120), audio=True)
    proc = run_portraitcli("info", folder, clip)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    assert "[" not in text and "]" not in text and "True" not in text and "False" not in text
    blocks = text.split("\n\n")
    # a folder's files by path, IMG_9 before IMG_10, then the next argument
    assert [b.splitlines()[0] for b in blocks] == [f"{folder / 'IMG_9.png'}: photo",
                                                   f"{folder / 'IMG_10.jpg'}: photo", f"{clip}: video"]
    assert "  stored size: 64x48" in blocks[1] and "  resolution: 300 x 300 dpi" in blocks[1]
    assert "  alpha channel: no" in blocks[0]
    assert "  size: 160x120" in blocks[2] and "  frame rate: 15 fps" in blocks[2] and "  audio: aac" in blocks[2]
    data = json.loads(run_portraitcli("info", "--json", folder, clip).stdout)
    assert [d["file"] for d in data] == [str(folder / "IMG_9.png"), str(folder / "IMG_10.jpg"), str(clip)]
    assert data[1]["stored_size"] == [64, 48] and data[2]["size"] == [160, 120] and data[2]["audio"] == ["aac"]


def test_every_option_says_what_it_does():
    import click

    from portraitcli.cli import cli

    for name, command in cli.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help and len(param.help) > 15, (name, param.opts)
    fit = next(p for p in cli.commands["replace-bg"].params if p.name == "fit").help
    assert all(choice in fit for choice in ("cover", "contain", "stretch"))
    blur = {p.name: p.help for p in cli.commands["blur"].params if isinstance(p, click.Option)}
    assert "0-1" in blur["strength"] and "VP9" in blur["preset"] and "ProRes" in blur["preset"]


def user_docs():
    from tests.conftest import ROOT

    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_readme_recipes_say_when_they_need_a_system_ffmpeg():
    from portraitcli.cli import cli

    assert "ffplay" not in (cli.help or "")
    for page in user_docs():
        text = page.read_text()
        assert "ffplay" not in text, page
        blocks = text.split("```")[1::2]
        for block in blocks:
            if any(line.lstrip().startswith("ffmpeg ") or "| ffmpeg " in line for line in block.splitlines()):
                # the paragraph before the block names the need
                before = text[:text.index(block)].removesuffix("```").rstrip().rsplit("\n\n", 1)[-1]
                assert "system ffmpeg" in before, (page, block)


def test_readme_and_docs_links_lead_to_files_that_exist():
    import re

    pages = user_docs()
    assert len(pages) > 1  # the README links to pages under docs/
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if "://" in target:
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), (page.name, target)
            if anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.M)
                slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
                assert anchor in slugs, (page.name, target)
