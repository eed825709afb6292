"""`aectl train`: the Hydra application (one job = one trained autoencoder) and its command line.

Hydra composes configs/train.yaml with the user's overrides, makes the run folder, and
(with -m) fans jobs out through its launcher and sweeper plugins. The task function returns
the monitored metric so sweepers (Optuna) can minimise it. Before Hydra runs, `main`
refuses flags Hydra does not have and a new run into a folder that holds checkpoints, and
turns any composition error into one line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from aectl import lock
from aectl.config import record_dir
from aectl.config.register import register_all
from aectl.errors import UserError, one_line
from aectl.paths import configs_dir
from aectl.sweeps.callbacks import FAILED, forget_sweeps, undo_refused_sweep
from aectl.training.job import job_config
from aectl.training.resume import SAFE_VALUE, hydra_value, refuse_used_folder, resume_command
from aectl.training.stopping import load_torch, stopping_now

register_all()

# What hydra.run.dir held before this command (relative paths), so a refused run removes
# only what it added; a folder missing here did not exist before the command.
_BEFORE: dict[Path, set[str] | None] = {}
# ... and its checkpoints' modification times: a run that wrote one has trained, and keeps
# every file it added (the logs and pictures of the epochs that checkpoint holds).
_CHECKPOINTS: dict[Path, dict[str, int]] = {}


def _checkpoints(run_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (run_dir / "checkpoints").glob("*.pt")}


@hydra.main(version_base="1.3", config_path=str(configs_dir()), config_name="train")
def train_main(cfg: DictConfig) -> float:
    hc = HydraConfig.get()
    try:
        return train_job(cfg, hc)
    except KeyboardInterrupt:  # (Hydra forgets this job's config once it is out)
        stopping_now()
        discard_unstarted_run(hc)
        if hc.mode == RunMode.MULTIRUN:
            stopped_sweep_job(hc)
        raise
    finally:
        if hc.mode != RunMode.MULTIRUN:  # (a sweep job's is the callback's, at its end)
            record_dir.end(hc.runtime.output_dir)


def stopped_sweep_job(hc) -> None:
    """Ctrl-C in a sweep's job before its first step (a second one while it saves): its
    status.json says interrupted and the command that finishes the sweep is printed, as
    after a Ctrl-C while it trains (status.json said "running" for good)."""
    from aectl.sweeps.status import mark_interrupted

    run_dir = Path(hc.runtime.output_dir)
    command = resume_command(
        str(run_dir), list(hc.overrides.task), list(hc.overrides.hydra), hc.sweep.dir
    )
    print(f"resume with: {command}", file=sys.stderr)
    if run_dir.is_dir():
        mark_interrupted(run_dir, "SIGINT", command)


def train_job(cfg: DictConfig, hc) -> float:
    run_dir = hc.runtime.output_dir
    try:
        run_cfg = job_config(cfg, hc.mode == RunMode.MULTIRUN)
    except UserError as e:
        user_error(e, hc.mode)

    from aectl.sweeps.status import (
        STATUS_FILE,
        mark_ended,
        mark_interrupted,
        mark_resumed_alone,
        put_back,
    )

    load_torch()  # torch: only once the config is good, and a Ctrl-C meanwhile held
    from aectl.training.run import train
    from aectl.training.stopping import Interrupted

    # a sweep job's folder resumed by a run alone: its status.json follows this run
    follows = hc.mode != RunMode.MULTIRUN and (Path(run_dir) / STATUS_FILE).is_file()
    before = mark_resumed_alone(run_dir) if follows else None
    try:
        result = train(run_cfg, run_dir)
    except Interrupted as e:
        stopping_now()
        where = f" {e.where}" if e.where else ""
        print(
            f"aectl: interrupted by {e}{where}; checkpoints/last.pt saved in {run_dir}",
            file=sys.stderr,
        )
        sweep_dir = hc.sweep.dir if hc.mode == RunMode.MULTIRUN else None
        command = resume_command(
            run_dir, list(hc.overrides.task), list(hc.overrides.hydra), sweep_dir
        )
        print(f"resume with: {command}", file=sys.stderr)
        if sweep_dir is not None or follows:
            mark_interrupted(run_dir, str(e), command)
        sys.exit(e.exit_code)
    except UserError as e:
        if follows and e.nothing_written:  # refused: as it was
            put_back(run_dir, before)
        elif follows:  # (diverged, or a write that failed)
            mark_ended(run_dir, "failed", error=str(e))
        user_error(e, hc.mode)
    if follows:
        mark_ended(run_dir, "completed")
    return result


def user_error(e: UserError, mode: RunMode) -> NoReturn:
    if mode == RunMode.MULTIRUN:
        raise e  # the launcher records the failed job; the sweep goes on
    discard_refused_run(HydraConfig.get())
    print(f"aectl: error: {e}", file=sys.stderr)
    sys.exit(e.exit_code)


def discard_refused_run(hc) -> None:
    """A run refused before it trained leaves nothing behind: Hydra made its folder, the
    config record (`.hydra/`, or a resume's `.hydra/resume_<time>/`) and a log before aectl
    could check the config, and aectl may have written config.yaml or an event file.
    What this command added goes; what was there before stays (an earlier run's files, a
    folder the user made). Nothing is touched while another process writes the folder."""
    run_dir = Path(hc.runtime.output_dir)
    if not run_dir.is_dir():
        return
    try:
        lock.acquire(run_dir)
    except UserError:
        return  # another aectl is writing there (it is why this run was refused)
    try:
        remove_added(run_dir, _BEFORE.get(run_dir.resolve()))
    finally:
        lock.release(run_dir)


def discard_unstarted_run(hc) -> None:
    """Ctrl-C before a run's first step (while it imports or loads its data) leaves no
    folder of Hydra's record and an empty log. A run that has logged or saved anything
    keeps its folder; so does every job of a sweep."""
    run_dir = Path(hc.runtime.output_dir)
    if hc.mode == RunMode.MULTIRUN or not run_dir.is_dir():
        return
    if any(run_dir.glob("events.out.tfevents.*")) or any(run_dir.glob("checkpoints/*.pt")):
        return
    discard_refused_run(hc)


def remove_added(run_dir: Path, before: set[str] | None) -> None:
    """Remove what is in `run_dir` but not in `before` (None: the folder was not there).
    Nothing goes once this command has written a checkpoint: it trained, and the files it
    added are that checkpoint's epochs (a resume that trained, then could not write its
    analyses, keeps them, and its rerun only does the analyses)."""
    if before is None:
        if any((run_dir / "checkpoints").glob("*.pt")):
            return  # never delete a checkpoint
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    if _checkpoints(run_dir) != _CHECKPOINTS.get(run_dir.resolve(), {}):
        return
    added = sorted(
        (p for p in run_dir.rglob("*") if p.relative_to(run_dir).as_posix() not in before),
        key=lambda p: len(p.parts),
        reverse=True,
    )
    for p in added:
        if p.is_dir() and not p.is_symlink():
            if not any(p.iterdir()):
                p.rmdir()
        elif p.suffix != ".pt":
            p.unlink(missing_ok=True)


# ---- the command line, before Hydra -----------------------------------------------------------


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
    dirs = [value(a) for a in args if a.startswith("hydra.run.dir=")]
    resume = [value(a) for a in args if a.lstrip("+~").startswith("trainer.resume=")]
    resume_value = resume[-1] if resume and resume[-1] not in (None, "null", "") else None
    if dirs:
        run_dir = Path(dirs[-1])
        refuse_used_folder(run_dir, resume_value)
        # A folder that was there (the user's own, an earlier run): a refused run removes
        # only what it added; one that was not there goes whole.
        listing = None
        if run_dir.is_dir():
            listing = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")}
        lock.acquire(run_dir)  # before Hydra writes its record there; held until the end
        _BEFORE[run_dir.resolve()] = listing
        _CHECKPOINTS[run_dir.resolve()] = _checkpoints(run_dir)


FOLDER_KEYS = ("hydra.run.dir", "hydra.sweep.dir", "hydra.sweep.subdir")


def check_command_line(args: list[str]) -> None:
    """Refuse, before Hydra runs, overrides it would misread or reject in its grammar's words:
    a value its grammar cannot read unquoted (`=`, `(`, non-ASCII letters: say how to quote
    it), a list of values without -m, and an empty or null run folder (Hydra would write
    into the current folder)."""
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType

    parsed, _ = get_args_parser().parse_known_args(args)
    parser = OverridesParser.create()
    for line in parsed.overrides:
        key, _, raw = line.partition("=")
        key = key.lstrip("+~")
        try:
            o = parser.parse_override(line)
        except Exception:
            if _parses(parser, key, raw):
                bad = dict.fromkeys(c for c in raw if not SAFE_VALUE.fullmatch(c))
                raise UserError(
                    key,
                    f"got {raw!r}, which Hydra's override grammar cannot read unquoted "
                    f"(it holds {', '.join(map(repr, bad))}); allowed: the value in quotes, "
                    f"{_quoted(key, raw)}",
                ) from None
            continue  # Hydra's own message follows
        if o.key_or_group in FOLDER_KEYS and (o.value() is None or str(o.value()).strip() == ""):
            raise UserError(
                o.key_or_group,
                f"got {raw!r}; allowed: a folder path (an empty one would be the current "
                f"folder; leave {o.key_or_group} out for aectl's default)",
            )
        if not parsed.multirun and o.value_type == ValueType.SIMPLE_CHOICE_SWEEP:
            raise UserError(
                key,
                f"got {raw!r}, a list of values; allowed: -m to sweep over them, or one value "
                f"in quotes, {_quoted(key, raw)}",
            )
        if not parsed.multirun and key in ("hydra/launcher", "hydra/sweeper"):
            print(
                f"aectl: note: {key}={raw} applies to sweeps (-m); this single run does not use it",
                file=sys.stderr,
            )


def _parses(parser, key: str, raw: str) -> bool:
    """Whether `raw`, quoted, is a value Hydra reads (and not a call of one of its grammar's
    functions, like `range(1,`, which quoting would only hide)."""
    if raw.split("(", 1)[0].strip() in parser.functions.functions:
        return False
    try:
        parser.parse_override(f"{key}={hydra_value(raw)}")
    except Exception:
        return False
    return True


def _quoted(key: str, raw: str) -> str:
    """`key='value'` for Hydra, as one shell word."""
    override = f"{key}={hydra_value(raw)}"
    return f'"{override}"' if not set(override) & set('"$`\\!') else shlex.quote(override)


def print_help() -> None:
    """Hydra's help for `aectl train`, without the `schema/*` groups: those are the typed
    bases the options extend (aectl/config/), not options a user picks."""
    text = io.StringIO()
    try:
        with contextlib.redirect_stdout(text):
            train_main()  # Hydra prints the help, then exits
    finally:
        lines = text.getvalue().splitlines(keepends=True)
        sys.stdout.write("".join(x for x in lines if not x.startswith("schema/")))


def unknown_flags(args: list[str]) -> list[str]:
    """Flags Hydra's command line does not have (it would print its whole usage block).
    A flag of Hydra's with a value it refuses (`--cfg jobb`) is a UserError, in argparse's
    one line (which names the flag and its choices) without the usage block."""
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()
    parser.exit_on_error = False  # raise ArgumentError instead of printing usage and exiting
    try:
        known, unknown = parser.parse_known_args(args)
    except argparse.ArgumentError as e:
        raise UserError("aectl train", str(e).removeprefix("argument ")) from None
    shown = "--cfg" if known.cfg else "--info" if known.info else None
    if known.multirun and shown:  # (Hydra raises a ValueError: a traceback)
        raise UserError(
            shown,
            "describes one run, not a sweep (Hydra refuses it with -m); allowed: one value per "
            "key without -m "
            "(each job's config is its folder's .hydra/config.yaml once the sweep runs)",
        )
    return [a for a in unknown if a.startswith("-")]


def missing_parents(args: list[str]) -> list[Path]:
    """The folders above where this command's run or sweep folder goes that do not exist yet
    (`outputs/runs/` in a fresh folder), deepest first: the command removes them at its end
    if they are empty, so a refused command leaves nothing behind, not even those. The run
    or sweep folder's own path is known only once Hydra resolves it (`${now:...}`), so this
    takes the part before its first interpolation."""
    import yaml

    sweep = "-m" in args or "--multirun" in args
    key = "hydra.sweep.dir" if sweep else "hydra.run.dir"
    given = [value(a) for a in args if a.startswith(f"{key}=")]
    if given and given[-1]:
        template = str(given[-1])
    else:
        hydra_cfg = yaml.safe_load((configs_dir() / "train.yaml").read_text())["hydra"]
        template = str(hydra_cfg["sweep" if sweep else "run"]["dir"])
    static = template.split("${")[0]
    parent = Path(static) if static.endswith("/") else Path(static).parent
    found = []
    for folder in [parent, *parent.parents]:
        if folder.exists() or str(folder) in (".", "/", ""):
            break
        found.append(folder)
    return found


def mode_from_command_line(args: list[str]):
    """Hydra composes the whole config once only to read `hydra.mode` before composing it
    again to run (`Hydra.get_mode`); aectl's configs never set it, so the mode is the
    command line's: -m, or a `hydra.mode=` override. Saves that first composition."""
    from hydra._internal.hydra import Hydra
    from hydra.types import RunMode

    given = [value(a) for a in args if a.startswith("hydra.mode=")]

    def get_mode(self, config_name, overrides):
        return RunMode[given[-1]] if given and given[-1] in RunMode.__members__ else None

    Hydra.get_mode = get_mode


def main(args: list[str]) -> int:
    before = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let Hydra raise, so errors become one line here
    new_parents = missing_parents(args)
    try:
        return _main(args, user_wants_traces=before == "1")
    finally:  # the process as it was (aectl used as a library, in tests): folders
        for folder in new_parents:  # (empty: the command was refused, its folder removed)
            with contextlib.suppress(OSError):
                folder.rmdir()
        for run_dir in list(_BEFORE):  # unlocked, the environment restored
            lock.release(run_dir)
        _BEFORE.clear()
        _CHECKPOINTS.clear()
        forget_sweeps()
        if before is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = before


def _main(args: list[str], user_wants_traces: bool) -> int:
    failed_job = HydrasJobLine()
    try:
        if bad := unknown_flags(args):
            print(
                f"aectl: error: aectl train: unrecognized arguments: {' '.join(bad)}",
                file=sys.stderr,
            )
            return 2
        check_command_line(args)
        refuse_used_run_dir(args)
        sys.argv = ["aectl train", *args]
        if "--help" in args or "-h" in args:
            print_help()
        else:
            mode_from_command_line(args)
            with failed_job:
                train_main()
    except KeyboardInterrupt:  # a second Ctrl-C: stop now (checkpoint writes are atomic)
        print("aectl: stopped", file=sys.stderr)
        return 130
    except Exception as exc:
        if user_wants_traces:
            failed_job.say_it()
            raise
        msg = one_line(exc)
        study = msg is None and "No trials are completed yet" in str(exc)
        if study:  # Optuna's, at the end: the study's error, not one job's
            failed_job.overrides = None
            msg = (
                "hydra.sweeper: no trial of the study completed, so it has no best one; each "
                "failed trial's error is in its folder's status.json (aectl summarize on the "
                "sweep folder lists them)"
            )
        if msg is None and isinstance(exc, OSError):  # Hydra writing its record or log
            where = exc.filename or next(iter(_BEFORE), None) or "the run folder"
            msg = f"{where}: cannot write ({exc.strerror or exc})"
        if msg is None:  # a bug: its traceback, after the line Hydra would have written
            failed_job.say_it()
            raise
        lines = [arch_hint(msg, args)]
        if failed_job.overrides is not None:  # a sweep's job failed: which one (each one)
            failed = FAILED if len(FAILED) > 1 else [(failed_job.overrides, lines[0])]
            lines = [f"job {swept_part(o, args)}: {arch_hint(m, args)}" for o, m in failed]
        undo_refused_run()
        undo_refused_sweep()
        for line in lines:
            print(f"aectl: error: {line}", file=sys.stderr)
        return 2
    return 0


class HydrasJobLine:
    """sys.stderr without the line Hydra writes before it re-raises a failed sweep job's
    error ("Error executing job with overrides: [...]"): its overrides are kept, and the
    error's one line names the job instead (`swept_part`)."""

    PREFIX = "Error executing job with overrides: "

    def __init__(self) -> None:
        self.overrides: list[str] | None = None
        self._stream = sys.stderr

    def __enter__(self) -> HydrasJobLine:
        self._stream, sys.stderr = sys.stderr, self  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stderr = self._stream

    def write(self, text: str) -> int:
        if text.startswith(self.PREFIX):
            import ast

            with contextlib.suppress(ValueError, SyntaxError):
                if self.overrides is None:  # (the first: the one whose error is raised)
                    self.overrides = [str(o) for o in ast.literal_eval(text[len(self.PREFIX) :])]
                return len(text)
        return self._stream.write(text)

    def say_it(self) -> None:
        """Hydra's line after all, for a traceback that follows it."""
        if self.overrides is not None:
            print(f"{self.PREFIX}{self.overrides}", file=sys.stderr)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def swept_part(overrides: list[str], args: list[str]) -> str:
    """A job's overrides less those the command line gave every job: what tells it apart.
    (By key: the sweeper writes a job's values its own way, `optim.lr=0.0001` for `1e-4`.)"""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()

    def key(o: str) -> str | None:
        try:
            parsed = parser.parse_override(o)
        except Exception:  # (not Hydra's grammar: compared whole)
            return None
        return None if parsed.is_sweep_override() else parsed.key_or_group

    every = {k for a in args if (k := key(a)) is not None} | set(args)
    own = [o for o in overrides if o not in every and key(o) not in every]
    return " ".join(own or overrides)


def arch_hint(msg: str, args: list[str]) -> str:
    """`model=contractive arch=conv`: the preset sets arch fields for its own architecture,
    which the chosen one lacks. Say so, and which presets are built on the chosen one."""
    import re

    from aectl.config.run_name import preset_picks

    field = re.match(r"arch\.(\w+): unknown key", msg)
    chosen = dict(a.split("=", 1) for a in args if re.match(r"(model|arch)=[\w-]+$", a))
    if not field or "arch" not in chosen:
        return msg
    model = chosen.get("model", "deep")

    names = sorted(p.stem for p in (configs_dir() / "model").glob("*.yaml"))
    presets = {name: preset_picks(name) for name in names}
    own = presets.get(model, {})
    built = [f"model={m}" for m, got in presets.items() if got.get("arch") == chosen["arch"]]
    reg = own.get("regularizer")
    hint = f"model={model} sets arch.{field.group(1)} for its arch={own.get('arch', '?')}; "
    hint += f"for arch={chosen['arch']}, use " + (
        f"a model preset built on it ({', '.join(built)})" if built else "another model preset"
    )
    return f"{msg}; {hint}" + (f" with regularizer={reg}" if reg and reg != "none" else "")


def undo_refused_run() -> None:
    """A run refused outside the task function (Hydra's composition, or Hydra failing to
    write its record or log into an explicit hydra.run.dir): remove what the command added
    there, as a refused run does."""
    for run_dir, before in list(_BEFORE.items()):
        if lock.is_held(run_dir):
            remove_added(run_dir, before)
