"""The `aectl` command: subcommands dispatched without importing torch, and a quick exit.

Each subcommand lives in `aectl/commands/` (`aectl train ...` hands its arguments to the
Hydra app: overrides, -m, --cfg, --help; the others use argparse) and is imported only
when it is called, so `aectl --help` and shell completion stay instant.

When the command has finished, Python would still finalise every module it imported
(torch, scikit-learn, matplotlib: thousands of them): measured on 2 cores, 0.9 s after
`import torch` alone and 1.5-2 s after a run. Nothing aectl writes needs that: its files go
through `aectl.atomic` and are closed, and a run closes its TensorBoard writer. So the
console command (`run`) ends with `leave`: what finalisation must do for the user
(threading's exit hooks, which stop an executor's idle workers, and the non-daemon
threads; the atexit handlers: logging's flush; stdout and stderr flushed), then
`os._exit`. `main`, which tests and scripts call, returns as before.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
from typing import NoReturn

from aectl import __version__
from aectl.errors import OneLineParser

SUBCOMMANDS = {
    "train": "train an autoencoder (Hydra overrides; -m sweeps; `aectl train --help` lists groups)",
    "eval": "evaluate a trained run: numbers, pictures, eval.json (`aectl eval RUN_DIR`)",
    "summarize": "table, summary.csv and summary.png of a sweep (finished or running)",
    "bench": "time aectl's training step against the tutorial DataLoader loop; writes bench.json",
    "completion": 'print a shell completion script (bash or zsh): eval "$(aectl completion bash)"',
}


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="aectl",
        description="Train and compare autoencoders from Hydra configs.",
        epilog="Examples:\n  aectl train\n  aectl train model=contractive regularizer.weight=0.1\n"
        "  aectl train -m model=contractive regularizer.weight=1e-4,1e-3,1e-2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"aectl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in SUBCOMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    return p


class ReaderMayLeave:
    """stdout whose reader may leave (`aectl train | head -3`): the command goes on and
    finishes its files (a run its checkpoints and metrics.json, eval its eval.json), and
    what it would have printed goes nowhere. Python raises BrokenPipeError from whichever
    print came next, mid-epoch, and the run ended with status 1 and nothing saved."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()

    def _gone(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())  # what is still buffered lands there too
        os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def run() -> None:
    """The `aectl` console command: `main`, then out without finalising the interpreter
    (`leave`). An unexpected exception is raised as usual (traceback, status 1)."""
    sys.stdout = ReaderMayLeave(sys.stdout)
    try:
        code: object = main()
    except SystemExit as e:  # Hydra ends a failed job this way
        code = e.code
    leave(code)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return dispatch(argv)
    except BrokenPipeError:  # `aectl train --help | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:  # Ctrl-C before a command handles it (while importing)
        print("aectl: stopped", file=sys.stderr)
        return 130


def dispatch(argv: list[str]) -> int:
    if argv and argv[0] == "train":
        from aectl.commands.train import main as train_main

        return train_main(argv[1:])
    if argv and argv[0] == "eval":
        from aectl.commands.eval import main as eval_main

        return eval_main(argv[1:])
    if argv and argv[0] == "summarize":
        from aectl.commands.summarize import main as summarize_main

        return summarize_main(argv[1:])
    if argv and argv[0] == "completion":
        from aectl.commands.completion import main as completion_main

        return completion_main(argv[1:], list(SUBCOMMANDS))
    if argv and argv[0] == "bench":
        from aectl.bench.cli import main as bench_main

        return bench_main(argv[1:])
    p = parser()
    args = p.parse_args(argv)
    if args.command is None:
        p.print_help()
        return 0
    return 0


def leave(code: object) -> NoReturn:
    """End the process with `code` as `sys.exit(code)` would report it."""
    status = exit_status(code)
    # CPython's own first steps of finalising, in its order: threading's exit hooks
    # (an executor's shutdown: joblib's workers) and joining the non-daemon threads,
    # then the atexit handlers
    shutdown_threads = getattr(threading, "_shutdown", None)
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if shutdown_threads is None or run_exitfuncs is None:  # (not CPython: as usual)
        sys.exit(status)
    shutdown_threads()
    run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120  # what Python exits with when a flush at exit fails
    os._exit(status)


def exit_status(code: object) -> int:
    """The status `sys.exit(code)` ends with: None is 0, an int is itself, anything else is
    printed to stderr and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    run()
