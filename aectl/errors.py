"""User-facing errors: one line naming the field, the value and what is allowed.

Anything raised as `UserError` reaches the terminal as a single line and exit code 2
(see `aectl.cli`); everything else is a bug and keeps its traceback. Hydra's and
OmegaConf's composition errors (an unknown option, key or type) are turned into the same
one line by `one_line`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import re
import sys
from typing import Any, NoReturn


class UserError(Exception):
    """Bad input from the user: a config value, a path, a file's contents."""

    exit_code = 2
    nothing_written = False  # refused before the run wrote a file (`refusing`)

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")

    def __reduce__(self):  # pickled back from a launcher's worker process (joblib, submitit)
        return type(self), (self.field, self.message)


@contextlib.contextmanager
def refusing():
    """A UserError raised in here refuses a run before it has written anything into its
    folder: marked so, the folder's status.json is put back as it was (a refused re-run of a
    sweep must not mark the completed run the folder holds as failed)."""
    try:
        yield
    except UserError as e:
        e.nothing_written = True
        raise


def require(ok: bool, field: str, value: Any, allowed: str) -> None:
    """Raise a UserError `field=value: allowed` unless `ok`."""
    if not ok:
        raise UserError(field, f"got {value!r}; {allowed}")


class OneLineParser(argparse.ArgumentParser):
    """argparse for aectl's subcommands: a bad flag gets one line and exit code 2, like every
    other aectl error, not argparse's usage block (`--help` still shows the usage)."""

    def error(self, message: str) -> NoReturn:
        where = "" if self.prog == "aectl" else f"{self.prog}: "
        print(f"aectl: error: {where}{message}", file=sys.stderr)
        sys.exit(2)


# ---- Hydra and OmegaConf composition errors, as one line ------------------------------------


def _flat(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def unknown_key(key: str, allowed: list[str]) -> UserError:
    """A key no schema has, the nearest allowed one suggested (`allowed`: dotted keys)."""
    by_name = {k.rsplit(".", 1)[-1]: k for k in allowed}  # (the shared prefix matches nothing)
    near = difflib.get_close_matches(key.rsplit(".", 1)[-1], list(by_name), n=1)
    hint = f"did you mean {by_name[near[0]]}? " if near else ""
    return UserError(
        key,
        f"unknown key ({hint}aectl's config has no free-form keys); "
        f"allowed: {', '.join(k.rsplit('.', 1)[-1] for k in allowed)}",
    )


def _unknown_key(exc: BaseException, key: str | None) -> str:
    t = getattr(exc, "object_type", None)
    if key and t is not None and dataclasses.is_dataclass(t):
        prefix = key.rsplit(".", 1)[0] + "." if "." in key else ""
        names = [f.name for f in dataclasses.fields(t) if not f.name.startswith("_")]
        if names:
            return str(unknown_key(key, [prefix + k for k in names]))
        if key.startswith("hydra.launcher."):  # the basic launcher: it has no settings
            return _launcher_key(key)
        return f"{key}: unknown key ({key.rsplit('.', 1)[0]} has no settings)"
    if key and t is dict:  # a free-form map (the vmap launcher's submitit parameters)
        return f"{key}: unknown key; a key this map does not hold yet is added with a +: +{key}=..."
    return f"{key}: unknown key"


def _launcher_key(key: str) -> str:
    """A launcher's setting given to the basic launcher: the launchers that have it."""
    import yaml

    from aectl.paths import configs_dir

    name = key.split(".")[2]
    owners = sorted(
        p.stem
        for p in (configs_dir() / "hydra" / "launcher").glob("*.yaml")
        if name in (yaml.safe_load(p.read_text()) or {})
    )
    if owners:
        choose = " or ".join(f"hydra/launcher={o}" for o in owners)
        return f"{key}: the basic launcher (the default) has no settings; it is {choose}'s"
    return f"{key}: unknown key; the basic launcher (the default) has no settings"


_KINDS = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false"}


def one_line(exc: BaseException) -> str | None:
    """The message for a user error, or None if `exc` looks like a bug (keep the traceback)."""
    from hydra.errors import (  # imported here: a torch-only machine (bench) has no Hydra
        ConfigCompositionException,
        HydraException,
        MissingConfigException,
        OverrideParseException,
    )
    from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for e in chain:
        if isinstance(e, UserError):
            return str(e)
    if isinstance(exc, MissingConfigException):
        text = str(exc)
        m = re.search(r"Could not find '([^']+)'", text)
        opts = re.search(r"Available options in '([^']+)':\n((?:\t.*\n?)*)", text)
        if m and opts:
            group, choice = m.group(1).rsplit("/", 1) if "/" in m.group(1) else ("", m.group(1))
            names = [o.strip() for o in opts.group(2).splitlines() if o.strip()]
            near = difflib.get_close_matches(choice, names, n=1)
            hint = f"did you mean {group}={near[0]}? " if near else ""
            return f"{group}={choice}: no such option; {hint}available: {', '.join(names)}"
        if m:
            return f"{m.group(1)}: no such config; {_flat(text.split('Config search path')[0])}"
        return _flat(text.split("Config search path")[0])
    for e in chain:
        if isinstance(e, OmegaConfBaseException):
            key = getattr(e, "full_key", None)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if isinstance(e, ConfigKeyError) or "not in" in first:
                return _unknown_key(e, key)
            typed = re.match(
                r"Value '(.*)' (?:of type '\w+' could not be converted to (\w+)|is not a "
                r"valid (bool))",
                first,
            )
            if key and typed:  # OmegaConf's type check of a typed field
                kind = typed.group(2) or "Boolean"
                return f"{key}: got {typed.group(1)!r}; allowed: {_KINDS.get(kind, kind.lower())}"
            if key and "is not Optional" in first:  # null, for a field that needs a value
                return f"{key}: got null; allowed: a value (it cannot be null)"
            if key and "is not a ListConfig, list or tuple" in first:  # a list field
                got = getattr(e, "value", None)
                return f"{key}: got {got!r}, one value; allowed: a list in brackets, {key}=[...]"
            return f"{key}: {first}" if key else first
    if isinstance(exc, (OverrideParseException, ConfigCompositionException, HydraException)):
        return _flat(str(exc))
    return None
