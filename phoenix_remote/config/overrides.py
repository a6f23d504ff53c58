"""`--set dotted.path=value`: command-line overrides, merged over every host's config.

The result goes through the same schema and meaning checks as the files (it is a second way
in to every field), with "--set" named as the source of a problem.
"""

from __future__ import annotations

from typing import Any

from phoenix_remote.config.loading import strict_json
from phoenix_remote.errors import ConfigError, Problem


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    problems: list[Problem] = []
    for item in items or []:
        key, eq, raw = item.partition("=")
        parts = key.split(".")
        if not eq or not all(p and p.replace("_", "a").replace("-", "a").isalnum()
                             for p in parts):
            problems.append(Problem("--set", item[:60], "expected dotted.path=value, e.g. "
                                                        "time.timezone=UTC"))
            continue
        try:
            value = strict_json(raw, "--set")
        except ConfigError:
            value = raw  # a bare word is a string
        node = out
        *parents, leaf = parts
        for p in parents:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                problems.append(Problem("--set", key, f"{p} is set to a value and used as a "
                                                      "parent in another --set"))
                break
            node = child
        else:
            node[leaf] = value
    if problems:
        raise ConfigError(problems)
    return out
