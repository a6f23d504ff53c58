"""phoenix verify --html FILE: one self-contained page (no script, no network, no external
asset) for people: the hosts x steps matrix coloured by state, then each host's details
with every change's before and after, the run's time and the versions. Everything from a
host is HTML-escaped (and masked like the other outputs)."""

from __future__ import annotations

import html
import platform
import time
from pathlib import Path

from phoenix_remote import __version__
from phoenix_remote.cli.local_files import write_atomically
from phoenix_remote.cli.render import DRIFT_CLASS, Masker, printable
from phoenix_remote.engine.types import HOST_ACCESS, HostReport

COLOURS = {"ok": "#2e7d32", "changed": "#00838f", "pending": "#f9a825", "drift": "#ef6c00",
           "failed": "#c62828", "skipped": "#9e9e9e", "unknown": "#6a1b9a"}
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #212121; }
table.matrix { border-collapse: collapse; margin: 1em 0; }
.matrix th, .matrix td { border: 1px solid #ccc; padding: .3em .6em; text-align: center; }
.matrix th.host { text-align: left; }
td.state { color: #fff; font-weight: 600; }
pre { background: #f5f5f5; padding: .4em; white-space: pre-wrap; margin: .2em 0; }
.before { border-left: 4px solid #c62828; } .after { border-left: 4px solid #2e7d32; }
details { margin: .4em 0 .4em 1em; } summary { cursor: pointer; }
.meta { color: #616161; } .access { color: #c62828; font-weight: 600; }
"""


def _e(text: object, lines: bool = False) -> str:
    """HTML text of a value; `lines`: its line breaks kept (inside <pre>)."""
    return html.escape(printable(str(text), "" if lines else None), quote=True)


def render(reports: list[HostReport], mode: str, code: int, mask: Masker, when: float) -> str:
    steps: list[str] = []
    for r in reports:
        steps += [s.step for s in r.steps if s.step not in steps]
    rows = []
    for r in reports:
        by = {s.step: s for s in r.steps}
        cells = []
        for step in steps:
            state = by[step].status.value if step in by else ("failed" if r.error else "-")
            title = by[step].drift_class or "" if step in by else ""
            cells.append(f'<td class="state {state}" data-step="{_e(step)}" '
                         f'style="background:{COLOURS.get(state, "#eee")}" '
                         f'title="{_e(title)}">{_e(state)}</td>')
        rows.append(f'<tr data-host="{_e(r.host)}"><th class="host">{_e(r.host)}</th>'
                    + "".join(cells) + f"<td>{r.duration:.1f} s</td></tr>")
    details = []
    for r in reports:
        parts = [f'<h3 id="host-{_e(r.host)}">{_e(r.host)} <span class="meta">'
                 f'{_e(r.address)}: {_e(r.status.value)}</span></h3>']
        if r.error:
            parts.append(f"<pre>{_e(mask(r.error))}</pre>")
        for s in r.steps:
            if not (s.changes or s.error or s.notes):
                continue
            body = [f"<pre>{_e(mask(s.error))}</pre>"] if s.error else []
            if s.drift_class:
                body.append(f"<p>{_e(DRIFT_CLASS[s.drift_class])}</p>")
            for c in s.changes:
                body.append(f"<details open><summary>{_e(mask(c.summary))}</summary>"
                            f'<pre class="before">- {_e(mask(c.before), True)}</pre>'
                            f'<pre class="after">+ {_e(mask(c.after), True)}</pre></details>')
            body += [f'<p class="{"access" if n.startswith(HOST_ACCESS) else "meta"}">'
                     f'{_e(mask(n))}</p>' for n in s.notes]
            parts.append(f"<details open><summary>{_e(s.step)}: {_e(s.status.value)}"
                         f"</summary>{''.join(body)}</details>")
        details.append(f'<section class="host">{"".join(parts)}</section>')
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(when))
    head = "".join(f"<th>{_e(s)}</th>" for s in steps)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>phoenix {_e(mode)}: {len(reports)} host(s), exit {code}</title>
<style>{STYLE}</style></head><body>
<h1>phoenix {_e(mode)}</h1>
<p class="meta">{_e(stamp)}; exit code {code}; phoenix {_e(__version__)}, Python
{_e(platform.python_version())}</p>
<table class="matrix"><thead><tr><th class="host">host</th>{head}<th>time</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{"".join(details)}
</body></html>
"""


def write(path: Path, reports: list[HostReport], mode: str, code: int, mask: Masker) -> None:
    write_atomically(path, render(reports, mode, code, mask, time.time()))
