"""The `signalstack` command: one module per subcommand, in the order of a researcher's workflow.

`common` and `flags` (flags made from typed settings) hold what subcommands share.
Each subcommand imports what it needs when it runs, so `signalstack serve` never loads torch and
`signalstack --help` loads neither torch nor onnxruntime nor Backtrader. Flag defaults come from
the library's own constants.

A failure the user can fix (`common.user_error`: signalstack's own errors, a file or port the system
refuses, a server's refusal) is one line on stderr, `signalstack CMD: error: ...`, and exit status 1.
Anything else is a bug in signalstack: one line saying so, with the exception and the temporary file
that holds its traceback, and also exit status 1 (2 is argparse's, for a command line it cannot parse);
`--debug` prints the traceback instead. Ctrl-C is exit status 130.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence

from signalstack import __version__

from . import backtest, compare, demo, export_triton, info, models, paper, run, schema, serve, summary, train, tune
from .common import INTERRUPTED, user_error

SUBCOMMANDS = (demo, models, summary, train, run, tune, compare, info, serve, backtest, paper, export_triton, schema)
"""In workflow order: try it, pick an architecture, train, research (run, tune, compare), inspect, serve, trade,
scale out; then the files' schemas."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    _quiet_third_parties()
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as exc:
        line = user_error(exc)
        if args.debug:
            traceback.print_exception(exc)
        elif line is not None:
            print(f"signalstack {args.command}: error: {line}", file=sys.stderr)
        else:
            print(f"signalstack {args.command}: bug: {_bug_report(exc, args.command, argv)}", file=sys.stderr)
        return 1


def _bug_report(exc: Exception, command: str, argv: Sequence[str] | None) -> str:
    """The bug line's text after `bug:`; the traceback goes to a temporary file named with the time."""
    what = " ".join("".join(traceback.format_exception_only(exc)).split())
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix=f"signalstack-{command}-{stamp}-", suffix=".txt", delete=False
        ) as out:
            out.write(
                f"signalstack {__version__}, Python {platform.python_version()} on {platform.platform()}\n"
                f"command: signalstack {' '.join(sys.argv[1:] if argv is None else argv)}\n\n"
            )
            traceback.print_exception(exc, file=out)
    except OSError as why:
        traceback.print_exception(exc)
        where = f"printed above (no temporary file: {why.strerror or why})"
    else:
        where = f"written to {out.name}"
    return (
        f"{what} (an error in signalstack itself, not in what you gave it; its traceback is {where}; "
        "please report it on signalstack's issue tracker with that traceback, or rerun with --debug)"
    )


def _quiet_third_parties() -> None:
    for name in ("onnx_ir", "onnxscript", "torch.onnx", "matplotlib", "PIL"):
        logging.getLogger(name).setLevel(logging.WARNING)


class _Formatter(argparse.HelpFormatter):
    """Aligns the subcommand list on its longest name, so that each help stays on its name's line
    (Python 3.11 measures the names without their indent and puts `export-triton` on a line of its own)."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if action.help is not argparse.SUPPRESS:
            for sub in self._iter_indented_subactions(action):
                self._action_max_length = max(
                    self._action_max_length, len(self._format_action_invocation(sub)) + self._current_indent
                )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signalstack",
        formatter_class=_Formatter,
        description="Deep-learning signals for Backtrader: "
        "train in PyTorch, export to ONNX, serve over gRPC, backtest.",
    )
    parser.add_argument("--version", action="version", version=f"signalstack {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")
    parser.add_argument("--debug", action="store_true", help="print a failure's full traceback instead of its one line")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="in workflow order; `COMMAND --help` lists its flags"
    )
    for command in SUBCOMMANDS:
        command.add(sub)
    return parser
