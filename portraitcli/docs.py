"""Generate the README's options tables from the Click commands, so the docs cannot drift.

    python -m portraitcli.docs --write README.md   # rewrite the section between the markers
    python -m portraitcli.docs                     # print it
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

START, END = "<!-- options:start -->", "<!-- options:end -->"


def _row(param: click.Parameter) -> str:
    names = ", ".join(f"`{o}`" for o in param.opts + param.secondary_opts)
    help_text = (getattr(param, "help", "") or "").replace("|", "\\|").replace("\n", " ")
    default = param.default if not callable(param.default) else None
    show = getattr(param, "show_default", False)
    if isinstance(show, str):
        help_text += f" [default: {show}]"
    elif show and default not in (None, False, ()):
        help_text += f" [default: {default}]"
    return f"| {names} | {help_text} |"


def options_markdown() -> str:
    from portraitcli import commands
    from portraitcli.cli import cli, common_options

    probe = common_options(lambda **kw: None)
    shared_names = {p.name for p in getattr(probe, "__click_params__", []) if isinstance(p, click.Option)}
    common = None
    parts = []
    for name in commands.NAMES:
        command = cli.commands[name]
        opts = [p for p in command.params if isinstance(p, click.Option)]
        if common is None:
            common = [p for p in opts if p.name in shared_names]
        own = [p for p in opts if p.name not in shared_names]
        summary = command.help.split("\n\n")[0].replace("\n", " ")
        parts.append(f"**`portraitcli {name}`**: {summary}\n")
        if own:
            parts += ["| option | meaning |", "|---|---|"] + [_row(p) for p in own]
        parts.append("")
    head = ["Options every command takes:\n", "| option | meaning |", "|---|---|"] + [_row(p) for p in common] + [""]
    return "\n".join(head + parts).rstrip() + "\n"


def replace_section(text: str, body: str) -> str:
    start, end = text.index(START) + len(START), text.index(END)
    return text[:start] + "\n" + body + text[end:]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    body = options_markdown()
    if argv[:1] == ["--write"]:
        path = Path(argv[1])
        path.write_text(replace_section(path.read_text(), body))
    else:
        sys.stdout.write(body)


if __name__ == "__main__":
    main()
