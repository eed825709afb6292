"""The `aectl` command: subcommands dispatched without importing torch.

`aectl train ...` hands its arguments to the Hydra app (overrides, -m, --cfg, --help);
the other subcommands use argparse. Heavy imports happen inside each subcommand, so
`aectl --help` and shell completion stay instant.
"""

from __future__ import annotations

import argparse
import os
import sys

from aectl import __version__
from aectl.errors import OneLineParser

SUBCOMMANDS = {
    "train": "train an autoencoder (Hydra overrides; -m sweeps; `aectl train --help` lists groups)",
    "eval": "evaluate a trained run: numbers, pictures, eval.json (`aectl eval RUN_DIR`)",
    "summarize": "table, summary.csv and summary.png of a sweep (finished or running)",
    "bench": "time aectl's training step against the tutorial DataLoader loop; writes bench.json",
    "completion": 'print a shell completion script (bash or zsh): eval "$(aectl completion bash)"',
}


RUN_DIR_EXISTED = "AECTL_RUN_DIR_EXISTED"  # read by aectl.app.discard_refused_run


def value(override: str) -> str | None:
    """An override's value as Hydra reads it (quotes and escapes undone); unparsable ones
    as written (Hydra refuses them right after)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        v = OverridesParser.create().parse_override(override).value()
    except Exception:
        return override.split("=", 1)[1]
    return None if v is None else str(v)


def refuse_used_run_dir(args: list[str]) -> None:
    """Refuse a new single run into a folder holding checkpoints before Hydra writes there."""
    if (
        "-m" in args
        or "--multirun" in args
        or any(a.startswith("--cfg") or a in ("-c", "--help", "-h") for a in args)
    ):
        return
    from pathlib import Path

    from aectl.resume import refuse_used_folder

    dirs = [value(a) for a in args if a.startswith("hydra.run.dir=")]
    resume = [value(a) for a in args if a.lstrip("+~").startswith("trainer.resume=")]
    resume_value = resume[-1] if resume and resume[-1] not in (None, "null", "") else None
    if dirs:
        refuse_used_folder(Path(dirs[-1]), resume_value)
        if Path(dirs[-1]).is_dir():  # the user's own folder: a refused run must not remove it
            os.environ[RUN_DIR_EXISTED] = "1"
    if resume_value is not None and not any(a.startswith("hydra.output_subdir=") for a in args):
        # keep the original run's .hydra/ as it was; each resume records its own config there
        args.append("hydra.output_subdir=.hydra/resume_${now:%Y-%m-%d_%H-%M-%S}")


def print_train_help(train_main) -> None:
    """Hydra's help for `aectl train`, without the `schema/*` groups: those are the typed
    bases the options extend (aectl/config/), not options a user picks."""
    import contextlib
    import io

    text = io.StringIO()
    try:
        with contextlib.redirect_stdout(text):
            train_main()  # Hydra prints the help, then exits
    finally:
        lines = text.getvalue().splitlines(keepends=True)
        sys.stdout.write("".join(x for x in lines if not x.startswith("schema/")))


def unknown_flags(args: list[str]) -> list[str]:
    """Flags Hydra's command line does not have (it would print its whole usage block)."""
    from hydra._internal.utils import get_args_parser

    _, unknown = get_args_parser().parse_known_args(args)
    return [a for a in unknown if a.startswith("-")]


def run_train(args: list[str]) -> int:
    user_wants_traces = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let Hydra raise, so errors become one line here
    try:
        if bad := unknown_flags(args):
            print(
                f"aectl: error: aectl train: unrecognized arguments: {' '.join(bad)}",
                file=sys.stderr,
            )
            return 2
        refuse_used_run_dir(args)
        sys.argv = ["aectl train", *args]
        from aectl.app import train_main

        if "--help" in args or "-h" in args:
            print_train_help(train_main)
        else:
            train_main()
    except KeyboardInterrupt:  # a second Ctrl-C: stop now (checkpoint writes are atomic)
        print("aectl: stopped", file=sys.stderr)
        return 130
    except Exception as exc:
        from aectl.errors_hydra import one_line

        if user_wants_traces:
            raise
        msg = one_line(exc)
        if msg is None and isinstance(exc, OSError) and exc.filename:
            msg = f"{exc.filename}: cannot write ({exc.strerror or exc})"
        if msg is None:
            raise
        print(f"aectl: error: {msg}", file=sys.stderr)
        return 2
    return 0


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="aectl",
        description="Train and compare autoencoders from Hydra configs.",
        epilog="Examples:\n  aectl train\n  aectl train model=contractive regularizer.weight=0.1\n"
        "  aectl train -m regularizer.weight=1e-4,1e-3,1e-2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"aectl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in SUBCOMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        return dispatch(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:  # `aectl train --help | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def dispatch(argv: list[str]) -> int:
    if argv and argv[0] == "train":
        return run_train(argv[1:])
    if argv and argv[0] == "eval":
        from aectl.evaluate import main as eval_main

        return eval_main(argv[1:])
    if argv and argv[0] == "summarize":
        from aectl.summarize import main as summarize_main

        return summarize_main(argv[1:])
    if argv and argv[0] == "completion":
        from aectl.completion import main as completion_main

        return completion_main(argv[1:], list(SUBCOMMANDS))
    if argv and argv[0] == "bench":
        from aectl.bench_cli import main as bench_main

        return bench_main(argv[1:])
    p = parser()
    args = p.parse_args(argv)
    if args.command is None:
        p.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
