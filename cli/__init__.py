"""The `signalstack` command: one module per subcommand, in the order of a researcher's workflow.

`common`, `trading` and `flags` (flags made from typed settings) hold what subcommands share.
Each subcommand imports what it needs when it runs, so `signalstack serve` never loads torch and
`signalstack --help` loads neither torch nor onnxruntime nor Backtrader. Flag defaults come from
the library's own constants. Library errors become one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from signalstack import __version__

from . import backtest, compare, demo, export_triton, info, models, paper, run, schema, serve, summary, train, tune
from .common import describe

SUBCOMMANDS = (demo, models, summary, train, run, tune, compare, info, serve, backtest, paper, export_triton, schema)
"""In workflow order: try it, pick an architecture, train, research (run, tune, compare), inspect, serve, trade,
scale out; then the files' schemas."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    _quiet_third_parties()
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's job is to turn any failure into one line
        if args.verbose:
            raise
        print(f"signalstack {args.command}: error: {describe(exc)}", file=sys.stderr)
        return 1


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
                self._action_max_length = max(self._action_max_length,
                                              len(self._format_action_invocation(sub)) + self._current_indent)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signalstack", formatter_class=_Formatter,
                                     description="Deep-learning signals for Backtrader: "
                                     "train in PyTorch, export to ONNX, serve over gRPC, backtest.")
    parser.add_argument("--version", action="version", version=f"signalstack {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug logging and full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="in workflow order; `COMMAND --help` lists its flags")
    for command in SUBCOMMANDS:
        command.add(sub)
    return parser
