"""The command-line reference, read from the argparse parsers `signalstack.cli._parser()` builds.

Every subcommand and nested action gets a section (anchored by its words: `#train`, `#paper-run`), its usage
line as argparse prints it, and a table of its arguments: the flag, its value, its default and its help, all
as the parser holds them, so the page follows the code.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from . import markdown as md


def page() -> str:
    """The whole CLI reference page."""
    from signalstack.cli import _parser

    root = _parser()
    out = [
        "# Command line\n",
        (
            "Generated from the parsers of `signalstack` when this site was built: every subcommand, every flag, "
            "its default and its help. `signalstack COMMAND --help` prints the same, each default the library's "
            "own constant; `signalstack --version` prints the version. A mistake in what you gave a command (a "
            "flag, a file, a setting) is one line on stderr, `signalstack COMMAND: error: ...`, with exit status 1. "
            "Anything else is a bug in signalstack: one line saying so, with the exception and the temporary file "
            "holding its traceback to attach to a report on the issue tracker, also exit status 1; `--debug` "
            "prints the traceback instead, `-v` adds debug logging, Ctrl-C exits 130.\n"
        ),
        _section(root, ["signalstack"], None, level=2),
    ]
    for words, parser, help_text in _commands(root, ["signalstack"]):
        out.append(_section(parser, words, help_text, level=min(len(words), 4)))
    return "\n".join(out)


def anchor(words: list[str]) -> str:
    """The anchor of a command's section: its words after `signalstack`, joined by dashes (`paper-run`)."""
    return "-".join(words[1:]) or "signalstack"


def _commands(
    parser: argparse.ArgumentParser, words: list[str]
) -> Iterator[tuple[list[str], argparse.ArgumentParser, str | None]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield [*words, name], sub, helps.get(name)
                yield from _commands(sub, [*words, name])


def _section(parser: argparse.ArgumentParser, words: list[str], help_text: str | None, level: int) -> str:
    title = " ".join(words)
    lines = [f"{'#' * level} `{title}` {{#{anchor(words)}}}\n"]
    if help_text or parser.description:
        lines.append(md.text(parser.description or help_text) + "\n")
    lines.append("```text\n" + parser.format_usage().strip().removeprefix("usage: ") + "\n```\n")
    subcommands = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    for action in subcommands:
        rows = [
            [f"[`{name}`](#{anchor([*words, name])})", md.text(choice.help or "")]
            for name, choice in zip(action.choices, action._choices_actions, strict=True)
        ]
        lines.append(md.table(["command", "what it does"], rows))
    rows = [
        _row(parser, action)
        for action in parser._actions
        if not isinstance(action, (argparse._SubParsersAction, argparse._HelpAction))
    ]
    if rows:
        lines.append(md.table(["argument", "value", "default", "help"], rows))
    return "\n".join(lines)


def _row(parser: argparse.ArgumentParser, action: argparse.Action) -> list[str]:
    names = ", ".join(md.code(name) for name in action.option_strings) or md.code(action.metavar or action.dest)
    if action.required and action.option_strings:
        names += " (required)"
    return [names, _value(action), _default(action), md.text(_help(parser, action))]


def _value(action: argparse.Action) -> str:
    if action.choices is not None and not isinstance(action.choices, dict):
        return " \\| ".join(md.code(choice) for choice in action.choices)
    if action.nargs == 0 or not action.option_strings:
        return ""
    metavar = action.metavar or action.dest.upper()
    shown = md.code(" ".join(metavar) if isinstance(metavar, tuple) else metavar)
    return shown + (" (repeatable)" if isinstance(action, argparse._AppendAction) else "")


def _default(action: argparse.Action) -> str:
    if (
        isinstance(action, argparse._VersionAction)
        or action.default in (None, argparse.SUPPRESS)
        or action.default == []
        or isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
    ):
        return ""
    return md.code(action.default)


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help is argparse.SUPPRESS:
        return ""
    formatter = parser._get_formatter()
    return formatter._expand_help(action) if "%" in action.help else action.help
