"""`aectl bench`'s command line, apart from the benchmark so that `aectl bench --help` and a
bad argument answer at once: the benchmark module imports torch (about 1-2 s), this one
only the standard library.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from aectl.bench.options import CLOCK_NAMES, COMPILE_MODES, DEFAULT_SECTIONS, SECTIONS
from aectl.errors import OneLineParser, UserError


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="aectl bench",
        description="Time aectl's training step against the tutorial DataLoader loop, the cost "
        "of each regularizer and of logging; print a table and write bench.json.",
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument(
        "--steps", type=int, help="steps per timed chunk (default 5 on CPU, 200 on CUDA)"
    )
    p.add_argument(
        "--repeats",
        type=int,
        help="timed chunks per variant; the median is reported (15 on CPU, 5 on CUDA)",
    )
    p.add_argument(
        "--warmup", type=int, help="untimed steps per variant first (5 on CPU, 20 on CUDA)"
    )
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--quick", action="store_true", help="tiny settings, for tests")
    p.add_argument(
        "--compile", action="store_true", help="also time torch.compile (always on CUDA)"
    )
    p.add_argument(
        "--compile-mode",
        choices=COMPILE_MODES,
        default="default",
        help="torch.compile's mode for the compiled rows (max-autotune-no-cudagraphs: tuned "
        "matrix products, minutes to compile)",
    )
    p.add_argument(
        "--precision",
        choices=("32", "bf16"),
        default="32",
        help="bf16: also time bf16 autocast (always on CUDA)",
    )
    p.add_argument(
        "--data", help="IDX image file (default: the shared MNIST test split, else synthetic)"
    )
    p.add_argument(
        "--sections",
        default=",".join(DEFAULT_SECTIONS),
        help=f"comma-separated subset of {SECTIONS} (default: {','.join(DEFAULT_SECTIONS)}; "
        "run and sweep time whole `aectl train` processes, minutes each)",
    )
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument(
        "--clock",
        choices=CLOCK_NAMES,
        default="wall",
        help="wall: elapsed time (default); cpu: this process's CPU time, steadier on a shared "
        "machine (CPU only; with several threads it also counts their spin-waits)",
    )
    p.add_argument(
        "--peer-python",
        help="with --sections run: also time pythae's default trainer on the run section's "
        "MNIST job (same model, data and epochs), in the same rounds; PEER_PYTHON is a "
        "Python that has pythae and torch installed",
    )
    p.add_argument("--out", default="bench.json", help="where to write the JSON results")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    sections = tuple(s for s in args.sections.split(",") if s)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser().error(f"--sections: unknown {sorted(unknown)}; allowed: {', '.join(SECTIONS)}")
    for name in ("steps", "repeats", "batch_size", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser().error(f"--{name.replace('_', '-')}: got {getattr(args, name)}; allowed: >= 1")
    if args.warmup is not None and args.warmup < 0:
        parser().error(f"--warmup: got {args.warmup}; allowed: >= 0")
    if args.peer_python is not None:
        if "run" not in sections:
            parser().error("--peer-python: needs the run section; allowed: with --sections run")
        if not (os.path.isfile(args.peer_python) and os.access(args.peer_python, os.X_OK)):
            parser().error(
                f"--peer-python: got {args.peer_python!r}; allowed: the path of a Python "
                "executable (one with pythae and torch installed)"
            )
    from aectl.bench.report import report
    from aectl.bench.run import run_bench  # torch: only once the arguments are good

    out = Path(args.out) if args.out else None
    if out is not None and not writable(out):
        parser().error(
            f"--out: cannot write {args.out!r}; allowed: a file path in a writable folder"
        )
    try:
        result = run_bench(
            device=args.device,
            steps=args.steps,
            repeats=args.repeats,
            warmup=args.warmup,
            batch_size=args.batch_size,
            quick=args.quick,
            compile=args.compile,
            compile_mode=args.compile_mode,
            precision=args.precision,
            data=args.data,
            sections=sections,
            threads=args.threads,
            clock=args.clock,
            peer_python=args.peer_python,
        )
    except UserError as e:
        print(f"aectl: error: aectl bench: {e}", file=sys.stderr)
        return e.exit_code
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    report(result, args.out)
    return 0


def writable(path: Path) -> bool:
    """Whether the results could be written there, tried before minutes of timing (a file
    that did not exist is removed again, with any folders made for it)."""
    made = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            return True
    except OSError:
        return False
    finally:
        if not existed:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
                for p in made:  # innermost first
                    p.rmdir()


if __name__ == "__main__":
    sys.exit(main())
