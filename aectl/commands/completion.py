"""`aectl completion bash|zsh`: tab completion for the `aectl` command.

Subcommands complete from a fixed list; everything after `aectl train` is completed by
Hydra's own completion (config groups, options, keys), asked as if `aectl train` were the
program, with the `schema/*` bases and the `_target_` keys (what builds each option, never
a user's setting) filtered out. The other subcommands complete paths. A
query imports Hydra and aectl's torch-free schemas only, so a TAB answers in about 0.3 s.

    eval "$(aectl completion bash)"     # in ~/.bashrc
    eval "$(aectl completion zsh)"      # in ~/.zshrc (through bashcompinit)
"""

from __future__ import annotations

from aectl.errors import OneLineParser

SHELLS = ("bash", "zsh")

_BASH = r"""_aectl_complete()
{
    local cur="${COMP_WORDS[COMP_CWORD]}"
    if (( COMP_CWORD == 1 )); then
        COMPREPLY=($(compgen -W "__SUBCOMMANDS__" -- "$cur"))
        return
    fi
    if [[ "${COMP_WORDS[1]}" != "train" ]]; then
        COMPREPLY=()  # eval, summarize, bench: paths, by `complete -o default`
        return
    fi
    # Hydra completes a command line whose first word is the program: drop "train".
    local line="${COMP_LINE:0:$COMP_POINT}"
    line="${COMP_WORDS[0]} ${line#*train}"
    local choices
    choices=$(COMP_LINE="$line" COMP_POINT=${#line} "${COMP_WORDS[0]}" train -sc query=bash 2>/dev/null)
    choices=$(printf '%s\n' $choices | grep -v -e '^schema/' -e '\._target_=')
    COMPREPLY=($(compgen -o nospace -o default -W "$choices" -- "$cur"))
}
COMP_WORDBREAKS=${COMP_WORDBREAKS//=}
complete -o nospace -o default -F _aectl_complete aectl
"""


def script(shell: str, subcommands: list[str]) -> str:
    """The completion script for `shell` (zsh runs the bash one through bashcompinit)."""
    if shell not in SHELLS:
        raise ValueError(f"shell must be one of {SHELLS}, got {shell!r}")
    body = _BASH.replace("__SUBCOMMANDS__", " ".join(subcommands))
    if shell == "zsh":
        body = "autoload -U +X bashcompinit && bashcompinit\n" + body
    return body


def main(argv: list[str], subcommands: list[str]) -> int:

    p = OneLineParser(
        prog="aectl completion",
        description="Print a shell completion script. Add to your shell's rc file: "
        'eval "$(aectl completion bash)"',
    )
    p.add_argument("shell", choices=SHELLS)
    args = p.parse_args(argv)
    print(script(args.shell, subcommands), end="")
    return 0
