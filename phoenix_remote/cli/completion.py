"""Shell completion: `phoenix completion bash|zsh` prints a script that asks phoenix itself
(`phoenix __complete CWORD WORDS...`) for the candidates: subcommands, each command's
options, step ids after --only/--skip, and the inventory's hosts and groups after -l and
where a HOST goes (read from -i, $PHOENIX_INVENTORY or the default, unvalidated: a
completion never fails loudly)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from phoenix_remote.cli.defaults import inventory_path

BASH = r"""# phoenix completion for bash: save what `phoenix completion bash` prints as
#   ~/.local/share/bash-completion/completions/phoenix
_phoenix() {
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$(phoenix __complete "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null)" \
        -- "${COMP_WORDS[COMP_CWORD]}"))
}
complete -o default -F _phoenix phoenix
"""
ZSH = ("#compdef phoenix\n# phoenix completion for zsh: save what `phoenix completion zsh` "
       "prints as ~/.zfunc/_phoenix\nautoload -U +X bashcompinit && bashcompinit\n" + BASH)
FILE_OPTIONS = {"-i", "--inventory", "-c", "--config", "--junit", "--log-dir",
                "--failed-file", "--known-hosts"}
HOST_POSITIONAL = {"config show", "disks", "lxc adopt"}


def script(shell: str) -> str:
    return BASH if shell == "bash" else ZSH


def inventory_names(words: list[str]) -> list[str]:
    """Hosts and groups of the inventory these words name (or the default one)."""
    import yaml
    given = None
    for flag in ("-i", "--inventory"):
        if flag in words[:-1]:
            given = Path(words[words.index(flag) + 1])
    path = inventory_path(argparse.Namespace(inventory=given))  # as the commands find it
    try:
        doc = yaml.safe_load(path.expanduser().read_text()[:4 * 1024 * 1024])
        return [*map(str, doc.get("hosts") or {}), *map(str, doc.get("groups") or {})]
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return []


def candidates(cword: int, words: list[str],
               by_name: Mapping[str, argparse.ArgumentParser],
               steps: tuple[str, ...]) -> list[str]:
    before = words[1:cword]
    prev = words[cword - 1] if cword >= 1 else ""
    if prev in ("-l", "--limit"):
        return inventory_names(words)
    if prev in ("--only", "--skip"):
        return list(steps)
    if prev in FILE_OPTIONS:
        return []  # the shell completes file names
    plain = [w for w in before if not w.startswith("-")]
    command = next((" ".join(plain[:n]) for n in (2, 1) if " ".join(plain[:n]) in by_name),
                   None)
    groups = {name.split()[0] for name in by_name if " " in name}
    if command is None:
        if plain and plain[0] in groups:
            return sorted(n.split()[1] for n in by_name if n.startswith(plain[0] + " "))
        return sorted({n.split()[0] for n in by_name})
    if command in HOST_POSITIONAL and len(plain) == len(command.split()):  # HOST comes next
        return inventory_names(words)
    return sorted(s for a in by_name[command]._actions for s in a.option_strings)
