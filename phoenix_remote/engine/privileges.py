"""Before a host is touched: does the API principal have the privileges the selected steps'
calls need? A token made in PVE's GUI is privilege-separated and has no rights until some
are granted; without this check an apply would fail halfway, at its first write.

The needs come from the permission checks of the calls each step makes, in the 8.4 and 9.1
schemas (tests/engine/test_privileges.py holds this table to them). PVE itself answers
what the principal may do: GET /access/permissions?path=P gives its effective privileges
on P (propagation and deeper ACLs worked out by PVE), one parallel GET per path. root@pam
logged in by password may do everything and is not asked.
"""

from __future__ import annotations

from typing import Any

from phoenix_remote.config.models import HostConfig

# step -> (path template, privilege) its writes need; {node} {realm} {acl} {storage}
# {vmid} are filled from the host's config
WRITES: dict[str, list[tuple[str, str]]] = {
    "admin_user": [("/access/realm/{realm}", "Realm.AllocateUser"),
                   ("/access/groups", "User.Modify"), ("{acl}", "Permissions.Modify")],
    "storage": [("/storage", "Datastore.Allocate")],
    "nfs": [("/storage", "Datastore.Allocate")],
    "lxc": [("/vms/{vmid}", "VM.Allocate"), ("/vms/{vmid}", "VM.Clone"),
            ("/vms/{vmid}", "VM.Snapshot"), ("/vms/{vmid}", "VM.PowerMgmt"),
            ("/vms/{vmid}", "VM.Config.Options"), ("/vms/{vmid}", "VM.Config.Disk"),
            ("/storage/{storage}", "Datastore.AllocateSpace"),
            ("/storage/{template_storage}", "Datastore.AllocateTemplate")],
}
# PVE 9 manages repositories through the node's API (apt.by_pve_major)
WRITES_BY_MAJOR: dict[int, dict[str, list[tuple[str, str]]]] = {
    9: {"initial_setup": [("/nodes/{node}", "Sys.Modify")]}}
# what the probes read (verify needs these too): without them PVE lists nothing, which
# would read as "missing". "A|B": either will do. Every run asks /cluster/status for the
# node's name (Sys.Audit on /).
READS: dict[str, list[tuple[str, str]]] = {
    "admin_user": [("/access/groups", "User.Modify|Sys.Audit")],
    "storage": [("/storage", "Datastore.Audit|Datastore.AllocateSpace")],
    "nfs": [("/storage", "Datastore.Audit|Datastore.AllocateSpace")],
    "lxc": [("/vms/{vmid}", "VM.Audit"),
            ("/storage/{template_storage}", "Datastore.Audit|Datastore.AllocateSpace")],
}
ALWAYS = [("/", "Sys.Audit")]
READS_BY_MAJOR: dict[int, dict[str, list[tuple[str, str]]]] = {
    9: {"initial_setup": [("/nodes/{node}", "Sys.Audit")]}}


# the steps that use the API at all (the others run over SSH alone)
API_STEPS = frozenset([*WRITES, *WRITES_BY_MAJOR[9], *READS])


def needed(step_ids: list[str], cfg: HostConfig, node: str, major: int, writes: bool
           ) -> dict[str, set[str]]:
    """path -> the privileges these steps need there."""
    lxc = cfg.config.lxc
    values: dict[str, list[str]] = {
        "node": [node], "realm": [cfg.config.admin_user.pve_realm],
        "acl": [cfg.config.admin_user.pve_acl_path],
        "vmid": [str(v) for v in cfg.containers],
        "storage": sorted({lxc.storage_of(lxc.container(v)) for v in cfg.containers})
        if lxc else [],
        "template_storage": sorted({lxc.templates[t].storage for v in cfg.containers
                                    if (t := lxc.container(v).template)}) if lxc else []}
    tables = [READS, READS_BY_MAJOR.get(major, {})]
    if writes:
        tables += [WRITES, WRITES_BY_MAJOR.get(major, {})]
    out: dict[str, set[str]] = {path: {priv} for path, priv in ALWAYS}
    for table in tables:
        for step in step_ids:
            for template, privilege in table.get(step, []):
                name = template[template.index("{") + 1:template.index("}")] \
                    if "{" in template else None
                for value in values.get(name, [""]) if name else [""]:
                    path = template.replace("{" + name + "}", value) if name else template
                    out.setdefault(path, set()).add(privilege)
    return out


def missing(api: Any, wanted: dict[str, set[str]]) -> list[str]:
    """'PRIV on PATH' for each privilege PVE says the principal lacks."""
    paths = sorted(wanted)
    answers = api.get_all([("/access/permissions", {"path": p}) for p in paths])
    out = []
    for path, answer in zip(paths, answers):
        have = set((answer or {}).get(path) or {})
        out += [f"{priv.replace('|', ' or ')} on {path}" for priv in sorted(wanted[path])
                if not have & set(priv.split("|"))]
    return out


def check(api: Any, step_ids: list[str], cfg: HostConfig, writes: bool) -> str | None:
    """Why this run cannot go on with this principal (None: it may). Asked only of a token
    or a user other than root@pam (a host without API credentials fails where a step
    first needs them, as before)."""
    if not cfg.api.token_id and cfg.api.user in (None, "root@pam"):
        return None
    wanted = needed(step_ids, cfg, api.node, api.major, writes)
    if not wanted:
        return None
    lacking = missing(api, wanted)
    if not lacking:
        return None
    who = cfg.api.token_id or cfg.api.user
    flag = "--tokens" if cfg.api.token_id else "--users"
    return (f"the API principal {who} lacks {', '.join(lacking)}: grant them (e.g. `pveum acl "
            f"modify / --roles PVEAdmin {flag} {who}`, or a narrower role)"
            + (", or use a token without privilege separation" if cfg.api.token_id else "")
            + "; nothing was changed")
