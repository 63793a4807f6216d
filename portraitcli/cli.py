"""The `portraitcli` command line (Click only; the work happens in batch/, matting/ and compositing/).

Heavy modules (numpy, OpenCV, onnxruntime) are imported inside the commands, never at the
top, so `portraitcli --help` stays instant.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
from pathlib import Path

import click

from portraitcli import __version__, commands

EXIT_CODES = """\b
Exit codes:
  0    all inputs done (or skipped)
  1    some inputs failed (each reported on one line), or nothing to process
  2    usage error
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP); re-run to resume, finished outputs are skipped"""

CONFIG_PATH = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "portraitcli" / "config.toml"


CONFIG_COMMANDS = (*commands.NAMES, "info")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")
# what --format may name: photo formats, video containers, and stream formats for '-'
OUTPUT_FORMATS = ("jpg", "jpeg", "png", "tif", "tiff", "webp", "bmp", "heic", "heif", "avif", "mp4", "m4v", "mov", "mkv", "webm", "avi",
                  "nut", "matroska", "mpegts", "ts")


def load_config() -> dict:
    """Defaults from config.toml: top-level keys apply to every command, [blur] etc. to one.
    Unknown keys and bad values are usage errors that name the file, the key and what is valid;
    so are PORTRAITCLI_<COMMAND>_<OPTION> variables."""
    _check_environment()
    named = os.environ.get("PORTRAITCLI_CONFIG")
    path = Path(named or CONFIG_PATH)
    if named and not path.is_file():
        raise click.UsageError(f"PORTRAITCLI_CONFIG={named}: no such config file")
    if not path.is_file():
        return {}
    import tomllib

    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise click.UsageError(f"{path}: bad config file ({exc})") from None
    shared = {k.replace("-", "_"): v for k, v in data.items() if not isinstance(v, dict)}
    shared = {_PARAM_NAMES.get(k, k): v for k, v in shared.items()}
    for table, body in data.items():
        if isinstance(body, dict) and table not in CONFIG_COMMANDS:
            raise click.UsageError(f"{path}: unknown table [{table}] (valid: {', '.join(CONFIG_COMMANDS)})")
    every = {name for cmd in CONFIG_COMMANDS for name in _option_params(cmd)}
    for key, value in shared.items():
        if key not in every:
            raise click.UsageError(f"{path}: unknown key {key!r} (valid: {_spelt(every)})")
        for cmd in CONFIG_COMMANDS:
            if key in _option_params(cmd):
                _check_value(_option_params(cmd)[key], value, f"{path}: {key}")
    config = {}
    for cmd in CONFIG_COMMANDS:
        own = {k.replace("-", "_"): v for k, v in data.get(cmd, {}).items()}
        own = {_PARAM_NAMES.get(k, k): v for k, v in own.items()}
        params = _option_params(cmd)
        for key, value in own.items():
            if key not in params:
                raise click.UsageError(f"{path}: [{cmd}] unknown key {key!r} (valid: {_spelt(params)})")
            _check_value(params[key], value, f"{path}: [{cmd}] {key}")
        config[cmd] = {**shared, **own}
    return config


_PARAM_NAMES = {"format": "fmt", "json": "as_json", "as": "dest_ext"}  # config keys as the options are spelt


def _spelt(names) -> str:
    spelling = {v: k for k, v in _PARAM_NAMES.items()}
    return ", ".join(sorted(spelling.get(n, n) for n in names))


def _option_params(command: str) -> dict:
    """A command's options by the name config keys use (strength, edge_match...)."""
    return {p.name: p for p in cli.commands[command].params if isinstance(p, click.Option)}


def _check_value(param, value, where: str) -> None:
    try:
        param.type.convert(value, param, None)
    except click.BadParameter as exc:
        raise click.UsageError(f"{where} = {value!r}: {exc.message}") from None


def _check_environment() -> None:
    """PORTRAITCLI_BLUR_STRENGHT=2 is a typo, not a setting to ignore."""
    for var, value in os.environ.items():
        for cmd in CONFIG_COMMANDS:
            prefix = f"PORTRAITCLI_{cmd.upper().replace('-', '_')}_"
            if not var.startswith(prefix):
                continue
            params = _option_params(cmd)
            key = var[len(prefix):].lower()
            if key not in params:
                valid = ", ".join(prefix + k.upper() for k in sorted(params))
                raise click.UsageError(f"{var}: unknown variable (valid: {valid})")
            _check_value(params[key], value, var)


def common_options(func):
    """Options every processing command takes."""
    options = [
        click.argument("paths", nargs=-1, required=True, metavar="SRC... DEST"),
        click.option("--format", "fmt", metavar="EXT",
                     help="Output format in folder mode (jpg, png, tiff, webp, avif, heic, mp4, mov, webm...) or for '-' "
                          "(stream: nut, matroska, mpegts)."),
        click.option("--overwrite", is_flag=True, help="Replace outputs that already exist (default: skip them)."),
        click.option("-j", "--jobs", type=click.IntRange(0), default=0,
                     show_default="all cores, fewer if the largest photos would not fit in the memory available",
                     help="Photos processed in parallel."),
        click.option("--ray", "ray", metavar="ADDRESS", envvar="PORTRAITCLI_RAY",
                     help="Run on a Ray cluster: auto, HOST:PORT or ray://HOST:10001 (also PORTRAITCLI_RAY); "
                          "paths must be the same on every node. Needs pip install 'portraitcli[ray]'."),
        click.option("--split-over", type=click.FloatRange(0), default=120, show_default=True, metavar="SECONDS",
                     help="Videos longer than this are cut into pieces processed in parallel (with --jobs > 1 "
                          "or --ray); 0: never."),
        click.option("--model", type=click.Path(dir_okay=False), help="Another ONNX model of the same interface."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "coreml", "dml"]), default="auto",
                     show_default=True,
                     help="onnxruntime execution provider: auto takes CUDA (or CoreML, DirectML) when it runs, "
                          "else the CPU; a named one that cannot run stops with the reason."),
        click.option("--precision", type=click.Choice(["fp32", "int8"]), default="fp32", show_default=True,
                     help="The bundled model's variant: fp32, or int8 (built by python -m models.quantize; "
                          "README: int8 model)."),
        click.option("--refine/--no-refine", default=True, show_default=True,
                     help="Edge-aware full-resolution matte (guided filter) instead of plain upsampling."),
        click.option("--smooth", type=click.FloatRange(0, 1), default=0.6, show_default=True,
                     help="Temporal smoothing in video, 0 = every frame on its own."),
        click.option("--subjects", type=click.Choice(["main", "all"]), default="main", show_default=True,
                     help="main: people far smaller than the largest (bystanders) count as background; "
                          "all: everyone the model finds."),
        click.option("--feather", type=click.FloatRange(0), default=0, metavar="PX",
                     help="Edge control: soften the matte's edge by about PX pixels (at full resolution; "
                          "applied first)."),
        click.option("--shift", type=int, default=0, metavar="PX",
                     help="Edge control: grow the matte by PX pixels, or shrink it with a negative PX "
                          "(applied after --feather)."),
        click.option("--threshold", type=click.FloatRange(0, 1), metavar="ALPHA",
                     help="Edge control: hard edge, alpha above ALPHA becomes opaque and the rest "
                          "transparent (0/255 in a matte; applied last)."),
        click.option("--crop", is_flag=True,
                     help="Photos: crop to the main subjects plus --margin (the whole frame, with a note, "
                          "when nobody is found); the box goes into the report."),
        click.option("--margin", type=click.FloatRange(0), default=0.1, show_default="10% of the box",
                     help="With --crop: space around the subjects, as a share of their box's width and height."),
        click.option("--aspect", metavar="W:H",
                     help="With --crop: a fixed aspect ratio (4:5, 1:1, 3:2...) centred on the subjects."),
        click.option("--pad", is_flag=True,
                     help="With --crop: the box may reach outside the photo, filled with the background "
                          "(transparent in a cutout) instead of being kept inside."),
        click.option("--raw-space", type=click.Choice(["srgb", "adobe"]), default="srgb", show_default=True,
                     help="Camera RAW photos (needs portraitcli[raw]) are developed with the camera's white "
                          "balance to 16-bit sRGB, or Adobe RGB (1998) with its ICC profile."),
        click.option("--raw-preview", is_flag=True,
                     help="Camera RAW: use the embedded JPEG preview instead of developing the RAW "
                          "(many times faster; the camera's own rendering and size)."),
        click.option("--crf", type=click.IntRange(0, 63), default=20, show_default=True,
                     help="Video quality, lower is better and bigger: H.264 takes it as it is (18-28 is usual), "
                          "VP9 adds 12; ProRes, FFV1 and a --codec other than libx264 ignore it."),
        click.option("--preset", type=click.Choice(X264_PRESETS), default="veryfast", show_default=True,
                     metavar="PRESET",
                     help="H.264 (x264) speed against size: ultrafast ... veryslow, slower gives a smaller file "
                          "at the same --crf. Other codecs ignore it: VP9 always runs at its realtime speed, "
                          "ProRes and FFV1 have no presets."),
        click.option("--codec", help="Video codec (default from DEST: H.264 mp4, ProRes 4444 mov for cutouts, VP9 webm)."),
        click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True, help="JPEG/WebP/AVIF/HEIC quality."),
        click.option("--max-pixels", type=click.IntRange(1), default=89_478_485, show_default=True,
                     help="Refuse larger images (decompression-bomb guard)."),
        click.option("--accept-truncated", is_flag=True,
                     help="Process a video that ends before its declared length (a cut download or copy) "
                          "instead of failing it; the report marks it."),
        click.option("--preview", is_flag=True, help="Show live results in a window (needs a display)."),
        click.option("--report", type=click.Path(dir_okay=False), help="Write a JSON report of every input."),
        click.option("--sheet", type=click.Path(dir_okay=False),
                     help="Also write a contact sheet of the photos done, one row each: photo | matte | cutout "
                          "(segment, cutout) or photo | result, the file name under it, rows in the order of the "
                          "SRC arguments (a folder's files by name)."),
        click.option("--watch", is_flag=True,
                     help="Hot folder: after the SRC folders are done, keep watching them and process each new "
                          "or changed file once it is completely written (closed, or its size stable); the report "
                          "is rewritten after each file. Ctrl-C or SIGTERM stops."),
        click.option("--dry-run", is_flag=True,
                     help="Write nothing; list on stdout, sorted by output, one line per output: SRC -> DEST."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar or notes; errors only."),
        click.option("-v", "--verbose", count=True, help="More detail (provider, timings); -vv for debug."),
        click.option("--debug", is_flag=True, help="Show tracebacks."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def run_command(command: str, paths: tuple[str, ...], render_extra: dict, **kw) -> None:
    from portraitcli.options import RenderOptions, Settings

    if len(paths) < 2:
        raise click.UsageError("give at least one SRC and a DEST (use '-' for stdin/stdout)")
    if "-" in paths[:-1] and sys.stdin.isatty():
        raise click.UsageError("SRC '-' reads stdin, which is a terminal: redirect or pipe a file in "
                               f"(portraitcli {command} - {paths[-1]} < FILE), or give the file's path")
    setup_logging(kw["verbose"], kw["quiet"], kw["debug"])
    fmt = kw["fmt"]
    if fmt and fmt.lower().lstrip(".") not in OUTPUT_FORMATS:
        raise click.UsageError(f"--format {fmt}: unknown format (valid: {', '.join(OUTPUT_FORMATS)})")
    fields = {f.name for f in dataclasses.fields(RenderOptions)}
    render = RenderOptions(command=command, feather=kw["feather"], shift=kw["shift"], threshold=kw["threshold"],
                           params={k: v for k, v in render_extra.items() if k not in fields},
                           **{k: v for k, v in render_extra.items() if k in fields})
    try:
        from portraitcli.compositing.crop import parse_aspect

        aspect = parse_aspect(kw["aspect"]) if kw["aspect"] else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--aspect") from None
    render.effect.configure(render, fmt)
    settings = Settings(render=render, model=kw["model"], device=kw["device"], precision=kw["precision"],
                        refine=kw["refine"],
                        smooth=kw["smooth"], subjects=kw["subjects"], format=fmt.lower().lstrip(".") if fmt else None,
                        overwrite=kw["overwrite"], jobs=kw["jobs"], quality=kw["quality"],
                        max_pixels=kw["max_pixels"], crf=kw["crf"], preset=kw["preset"], codec=kw["codec"],
                        preview=kw["preview"], dry_run=kw["dry_run"], crop=kw["crop"], crop_margin=kw["margin"],
                        crop_aspect=aspect, crop_pad=kw["pad"], raw_space=kw["raw_space"],
                        raw_preview=kw["raw_preview"], accept_truncated=kw["accept_truncated"],
                        ray=kw["ray"] or None, split_over=kw["split_over"])
    if settings.ray and kw.get("watch"):
        # a hot folder's files come one at a time: a cluster's start-up for each would cost more
        raise click.UsageError("--watch runs on this machine; use --ray for a batch")
    if settings.ray:
        from portraitcli.batch.cluster import RayUnavailable, require_ray

        try:
            require_ray()
        except RayUnavailable as exc:
            raise click.UsageError(str(exc)) from None
    execute(settings, list(paths[:-1]), paths[-1], kw)


def execute(settings, sources: list[str], dest: str, kw) -> None:
    from portraitcli.batch import plan as planning
    from portraitcli.batch.batch import EXIT_FAILED, Batch
    from portraitcli.batch.watch import watch
    from portraitcli.errors import PortraitError, UsageError

    if settings.model or settings.precision != "fp32" or settings.device not in ("auto", "cpu"):
        _check_model(settings)
    if settings.codec:
        _check_codec(settings.codec)
    _check_render_options(settings)
    progress = not kw["quiet"] and sys.stderr.isatty() and dest != "-" and not kw.get("watch")
    batch = Batch(settings, progress=progress, report_path=kw["report"])
    ignored: dict[str, int] = {}
    try:
        if kw.get("watch"):
            code = watch(sources, dest, settings, batch, echo=(lambda message: None) if kw["quiet"] else None)
        else:
            code = batch.run(planning.plan(sources, dest, settings, ignored))
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    except PortraitError as exc:
        raise click.ClickException(str(exc)) from None
    if settings.dry_run:
        planned = sorted((r.output, r.input) for r in batch.results if r.reason == "dry run")
        click.echo("".join(f"{source} -> {output}\n" for output, source in planned), nl=False)
    if not batch.results and not batch.interrupted and not kw.get("watch"):
        what = f"only {planning.ignored_note(ignored)} it does not read" if ignored else "no files"
        click.echo(f"portraitcli: {', '.join(sources)}: nothing to process ({what}; photos: "
                   f"{' '.join(sorted(planning.PHOTO_EXTENSIONS))}; videos: .mp4 .mov .mkv .webm ...)", err=True)
        sys.exit(EXIT_FAILED)
    if ignored and not kw["quiet"]:
        click.echo(f"portraitcli: note: ignored {planning.ignored_note(ignored)}: not photos or videos portraitcli reads",
                   err=True)
    skipped = batch.skipped_note()
    if skipped and not kw["quiet"]:
        click.echo(f"portraitcli: note: {skipped}", err=True)
    if kw.get("sheet") and not settings.dry_run:
        from portraitcli.compositing.sheet import make_sheet

        photos = [(r.input, r.output) for r in batch.results
                  if r.status in ("done", "skipped") and r.output and planning.kind_of(Path(r.input)) == "photo"]
        rows = make_sheet(sorted(photos, key=planning.input_order(sources)), Path(kw["sheet"]), settings.render.command)
        if not kw["quiet"]:
            click.echo(f"contact sheet: {kw['sheet']} ({rows} photos)", err=True)
    counts = batch.counts()
    if not kw["quiet"] and (len(batch.results) != 1 or counts["done"] != 1 or batch.interrupted):
        click.echo(batch.summary(), err=True)
    sys.exit(code)


def _check_model(settings) -> None:
    """Fail fast, before any file is touched, when --model is not a usable ONNX model, the int8
    variant is missing or stale, or a named --device cannot run it."""
    from portraitcli.errors import ModelError
    from portraitcli.matting.model import PortraitModel

    try:
        PortraitModel(settings.model, device=settings.device, threads=1, precision=settings.precision)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None


def _check_codec(codec: str) -> None:
    """--codec must name a video encoder of the bundled ffmpeg: found before any work."""
    import subprocess

    from portraitcli.media.video import ffmpeg_exe

    listing = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    video = [ln.split()[1] for ln in listing.splitlines() if ln.startswith(" V") and len(ln.split()) > 1]
    if codec not in video:
        common = [c for c in ("libx264", "libx265", "libvpx-vp9", "prores_ks", "ffv1", "libaom-av1", "mpeg4")
                  if c in video]
        raise click.UsageError(f"--codec {codec}: not a video encoder of the bundled ffmpeg (valid: "
                               f"{', '.join(common)} and the other video encoders `ffmpeg -encoders` lists)")


def _check_render_options(settings) -> None:
    """A missing --background file or a bad colour is a usage error, found before any work."""
    from portraitcli.errors import PortraitError
    from portraitcli.compositing.render import Renderer

    try:
        Renderer(settings.render).close()
    except (ValueError, PortraitError) as exc:
        raise click.UsageError(str(exc)) from None


def setup_logging(verbose: int, quiet: bool, debug: bool) -> None:
    level = logging.ERROR if quiet else logging.DEBUG if (verbose > 1 or debug) else \
        logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="portraitcli: %(message)s", stream=sys.stderr)
    logging.getLogger("portraitcli").setLevel(level)


class PortraitGroup(click.Group):
    def main(self, *args, **kwargs):
        config = load_config()
        if config:
            kwargs.setdefault("default_map", config)
        return super().main(*args, **kwargs)


CONTEXT = {"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "PORTRAITCLI", "max_content_width": 100}


@click.group(cls=PortraitGroup, context_settings=CONTEXT, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="portraitcli")
def cli():
    """Find the person in every photo and video frame, and do something useful with it.

    \b
      portraitcli blur in.mp4 out.mp4
      portraitcli cutout shoot/ cut/
      portraitcli replace-bg --background beach.jpg *.jpg out/
      portraitcli segment - - < photo.jpg > matte.png
    """


def effect_command(effect: commands.Command) -> click.Command:
    """The Click command of one registered command: its own options, then the common ones;
    its own options' values go into RenderOptions by name."""
    def callback(paths, **kw):
        run_command(effect.name, paths, {name: kw.pop(name) for name in own}, **kw)

    callback.__doc__ = effect.help
    func = common_options(callback)
    shared = len(func.__click_params__)
    for option in reversed(effect.click_options()):
        func = option(func)
    own = [p.name for p in func.__click_params__[shared:]]
    return click.command(effect.name, epilog=EXIT_CODES)(func)


for _effect in commands.REGISTRY.values():
    cli.add_command(effect_command(_effect))


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True), metavar="[FILE|FOLDER]...")
@click.option("--as", "dest_ext", metavar="EXT", help="Explain what writing to this extension would do (e.g. .mp4).")
@click.option("--json", "as_json", is_flag=True,
              help="For scripts: a JSON list with one object per input (sizes as [width, height]).")
@click.option("--runtime", is_flag=True,
              help="Also (or, without FILE, only) the onnxruntime build, its providers and the models.")
def info(paths, dest_ext, as_json, runtime):
    """What portraitcli sees in each input (size, orientation, colour profile, streams, frame
    rate, audio) and what it would do with it; a folder: every photo and video under it.
    --runtime: what runs the model (CPU or GPU build)."""
    import json

    from portraitcli.errors import PortraitError
    from portraitcli.info import describe, describe_runtime, files_in, format_text

    if not paths and not runtime:
        raise click.UsageError("give a FILE or FOLDER, or --runtime")
    failed = 0
    described = [describe_runtime()] if runtime else []
    ext = dest_ext if not dest_ext or dest_ext.startswith(".") else "." + dest_ext
    for f in files_in([Path(p) for p in paths]):
        try:
            described.append(describe(f, ext))
        except PortraitError as exc:
            click.echo(f"portraitcli: {exc}", err=True)
            failed += 1
    if as_json:
        click.echo(json.dumps(described, indent=2))
    else:
        click.echo("\n\n".join(format_text(d) for d in described))
    sys.exit(1 if failed else 0)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main():
    """Entry point: one-line errors, exit codes as documented, tracebacks only with --debug."""
    debug = "--debug" in sys.argv
    import signal

    # kill, docker stop, CI time-outs, systemd and a closed terminal stop us like Ctrl-C does:
    # children stopped, temporaries removed, exit 130 (a signal ignored on entry, as under
    # nohup, stays ignored)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) != signal.SIG_IGN:
            signal.signal(sig, _interrupt)
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("portraitcli: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        exc.show()
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"portraitcli: {exc.format_message()}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("portraitcli: interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
        if debug:
            raise
        click.echo(f"portraitcli: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
                   err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
