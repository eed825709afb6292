"""Turns Hydra and OmegaConf composition errors into aectl's one-line messages.

Hydra reports an unknown option, key or wrong type as a multi-line message with a stack
trace; users get one line naming the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import re

from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from aectl.errors import UserError


def _flat(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _allowed_keys(exc: OmegaConfBaseException) -> str:
    t = getattr(exc, "object_type", None)
    if t is not None and dataclasses.is_dataclass(t):
        keys = [f.name for f in dataclasses.fields(t) if not f.name.startswith("_")]
        return "; allowed keys: " + ", ".join(keys)
    return ""


def one_line(exc: BaseException) -> str | None:
    """The message for a user error, or None if `exc` looks like a bug (keep the traceback)."""
    from hydra.errors import (
        ConfigCompositionException,
        HydraException,
        MissingConfigException,
        OverrideParseException,
    )

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
            return f"{group}={choice}: no such option; available: {', '.join(names)}"
        if m:
            return f"{m.group(1)}: no such config; {_flat(text.split('Config search path')[0])}"
        return _flat(text.split("Config search path")[0])
    for e in chain:
        if isinstance(e, OmegaConfBaseException):
            key = getattr(e, "full_key", None)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if isinstance(e, ConfigKeyError) or "not in" in first:
                return f"{key}: unknown key{_allowed_keys(e)}"
            return f"{key}: {first}" if key else first
    if isinstance(exc, (OverrideParseException, ConfigCompositionException, HydraException)):
        return _flat(str(exc))
    return None
