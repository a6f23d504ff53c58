"""Step 1, phoenix_proxmox_initial_setup.sh: log rotation, apt repositories, upgrade, base
packages, timezone and NTP, firewall, then network identity (last: it can move the host)."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from phoenix_remote.config.host_surface import allows_ssh
from phoenix_remote.config.models import AptApiConfig, HostConfig
from phoenix_remote.engine.step import HostView, Step
from phoenix_remote.engine.types import Api, Change, CommitNetwork, Plan, Run
from phoenix_remote.errors import ProbeUnknown, StepRefused
from phoenix_remote.facts import firewall, packages, services, system
from phoenix_remote.host import files
from phoenix_remote.host.batch import Out
from phoenix_remote.steps.common import APT_ENV, apt_install, file_change, keep_manual, with_lines


def logrotate_text(cfg: HostConfig) -> str:
    log = cfg.config.logging
    body = "".join(f"    {line}\n" for line in log.logrotate)
    return f"{log.log_file} {{\n{body}}}\n"


def interfaces_text(cfg: HostConfig) -> str:
    n = cfg.config.network
    return (f"auto {n.interface}\niface {n.interface} inet static\n    address {n.address}\n"
            f"    gateway {n.gateway}\n    dns-nameservers {n.dns}\n")


def hosts_text(current: str, ip: str, hostname: str, domain: str | None) -> tuple[str, str]:
    """/etc/hosts with the node's name on its own address, as the PVE installer writes it
    (`<address> <fqdn> <hostname>`): pve-cluster and the node certificates need the name to
    resolve to a non-loopback address. Lines giving the name another address, the address
    another name, and Debian's 127.0.1.1 line are dropped; everything else stays.
    Returns (the text, the node's line)."""
    names = {hostname} | ({f"{hostname}.{domain}"} if domain else set())
    want = f"{ip} {hostname}.{domain} {hostname}" if domain else f"{ip} {hostname}"
    out, found = [], None
    for line in current.splitlines():
        fields = line.split("#", 1)[0].split()
        if not fields:
            out.append(line)
        elif fields[0] == ip and names <= set(fields[1:]) and found is None:
            found = line
            out.append(line)
        elif fields[0] not in (ip, "127.0.1.1") and not names & set(fields[1:]):
            out.append(line)  # 127.0.1.1 only ever names this machine: its old name
    if found is None:
        out.append(want)
    return "\n".join(out) + "\n", found or want


def ufw_rule(rule: str) -> tuple[str, str]:
    return (rule, "Anywhere")


class InitialSetupFacts(TypedDict):
    logrotate: str | None
    sources: str
    lists: str
    upgradable_n: int
    installed: set[str]
    manual: set[str]
    has_smbd: bool
    timezone: str
    ntp_enabled: str
    ntp_active: str
    hostname: str
    iface: str | None
    hosts: str
    ssh_port: int
    ufw: firewall.UfwState
    disable_present: list[str]
    pve_major: int
    repos: dict[str, Any] | None  # PVE's repository API, on releases apt.by_pve_major names
    proxmox_firewall: str  # systemctl is-enabled proxmox-firewall (the nftables firewall)
    iface_exists: bool
    node_guests: list[str]  # guests under the node's current name (asked when it would change)


class InitialSetup(Step):
    id = "initial_setup"
    title = "repositories, upgrade, packages, time, firewall, network identity"
    facts_model = InitialSetupFacts

    def inputs(self, cfg: HostConfig) -> dict:
        c = cfg.config
        return {"logging": c.logging.model_dump(), "apt": c.apt.model_dump(),
                "base": c.base_packages, "samba": c.samba_packages, "time": c.time.model_dump(),
                "network": c.network.model_dump(), "firewall": c.firewall.model_dump()}

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        c = cfg.config
        pkgs = [*c.base_packages, *c.samba_packages, c.time.ntp_package, c.firewall.package]
        cmds = {
            "logrotate": files.read(c.logging.logrotate_file),
            "sources": files.read(c.apt.sources_list),
            "lists": "ls /var/lib/apt/lists/",
            "upgradable": packages.UPGRADES,
            "pkgs": packages.installed_query(pkgs),
            "manual": packages.manual_query(pkgs),
            "smbd": "command -v smbd",
            "timezone": system.TIMEZONE,
            "ntp_enabled": services.enabled_query(c.time.ntp_service),
            "ntp_active": services.active_query(c.time.ntp_service),
            "hostname": system.HOSTNAME,
            "iface": files.read(self.iface_file(cfg)),
            "hosts": files.read("/etc/hosts"),
            "ufw": firewall.STATUS,
            "pveversion": system.PVEVERSION,
            "pve_firewall": services.enabled_query("proxmox-firewall"),
            "iface_exists": files.exists(f"/sys/class/net/{c.network.interface}"),
        }
        for i, path in enumerate(c.apt.disable_lists):
            cmds[f"disable{i}"] = files.exists(path)
        return cmds

    def facts(self, out: dict[str, Out], host: HostView, cfg: HostConfig) -> InitialSetupFacts:
        c = cfg.config
        installed = packages.installed(out["pkgs"])
        return {
            "logrotate": files.content(out["logrotate"], c.logging.logrotate_file),
            "sources": files.content(out["sources"], c.apt.sources_list) or "",
            "lists": listing(out["lists"], "/var/lib/apt/lists/"),
            "upgradable_n": packages.upgrades(out["upgradable"]),
            "installed": installed,
            "manual": packages.manual(out["manual"]),
            "has_smbd": out["smbd"].ok,
            "timezone": system.timezone(out["timezone"]),
            "ntp_enabled": services.enabled(out["ntp_enabled"], c.time.ntp_service),
            "ntp_active": services.active(out["ntp_active"], c.time.ntp_service),
            "hostname": system.hostname(out["hostname"]),
            "iface": files.content(out["iface"], self.iface_file(cfg)),
            "hosts": files.content(out["hosts"], "/etc/hosts") or "",
            "ssh_port": host.ssh_port_in_use,
            "ufw": firewall.state(out["ufw"], c.firewall.package in installed),
            "disable_present": [p for i, p in enumerate(c.apt.disable_lists)
                                if files.present(out[f"disable{i}"], p)],
            "pve_major": (major := system.pve_major(out["pveversion"])),
            "repos": (repositories(host.api) if str(major) in c.apt.by_pve_major else None),
            "proxmox_firewall": services.enabled(out["pve_firewall"], "proxmox-firewall"),
            "iface_exists": files.present(out["iface_exists"], c.network.interface),
            "node_guests": guests_of_node(host, current)
            if (current := system.hostname(out["hostname"]).strip()) != c.network.hostname
            else [],
        }

    @staticmethod
    def iface_file(cfg: HostConfig) -> str:
        return f"/etc/network/interfaces.d/50-{cfg.config.network.interface}.cfg"

    def plan(self, f: InitialSetupFacts, cfg: HostConfig) -> Plan:
        c = cfg.config
        changes: list[Change] = []
        if ch := file_change(c.logging.logrotate_file, f["logrotate"], logrotate_text(cfg)):
            changes.append(ch)
        via_api = c.apt.by_pve_major.get(str(f["pve_major"]))
        if via_api:  # PVE 9: deb822 files, managed by PVE's own repository API
            repo_changes = repository_changes(f["repos"] or {}, via_api)
            changes += repo_changes
            missing: list[str] = []
            repos_changed = bool(repo_changes)
        else:
            for path in f["disable_present"]:
                changes.append(Change(f"disable {path}", "present", f"renamed to {path}.bak",
                                      (Run(("mv", "-f", path, path + ".bak")),)))
            lines = f["sources"].splitlines()
            missing = [r for r in c.apt.repositories if r not in (x.strip() for x in lines)]
            repos_changed = bool(missing or f["disable_present"])
        if missing:
            text = with_lines(f["sources"], missing)
            ch = file_change(c.apt.sources_list, f["sources"], text)
            assert ch is not None
            changes.append(Change(f"apt repositories in {c.apt.sources_list}", "missing: "
                                  + "; ".join(missing), "present", ch.actions))
        never_updated = not any("download.proxmox.com" in x for x in f["lists"].split())
        if c.apt.dist_upgrade and (repos_changed or never_updated or f["upgradable_n"]):
            changes.append(Change(
                "system upgrade", f"{f['upgradable_n']} upgradable package(s)"
                + ("; package lists stale" if repos_changed or never_updated else ""),
                "up to date; boot loader and initramfs refreshed",
                (Run((*APT_ENV, "apt-get", "update", "-q")),
                 Run((*APT_ENV, "apt-get", "dist-upgrade", "-y", "-q")),
                 Run(("proxmox-boot-tool", "refresh")), Run(("update-initramfs", "-u")))))
        want = [p for p in c.base_packages if p not in f["installed"]]
        if not f["has_smbd"]:
            want += [p for p in c.samba_packages if p not in f["installed"]]
        if c.time.ntp_package not in f["installed"]:
            want.append(c.time.ntp_package)
        if c.firewall.package not in f["installed"]:
            want.append(c.firewall.package)
        if want:
            changes.append(Change("packages", "missing: " + " ".join(want), "installed",
                                  apt_install(want)))
        changes += keep_manual([*c.base_packages, *c.samba_packages, c.time.ntp_package,
                                c.firewall.package], f["installed"], f["manual"])
        if f["timezone"].strip() != c.time.timezone:
            changes.append(Change("timezone", f["timezone"].strip() or "unknown",
                                  c.time.timezone,
                                  (Run(("timedatectl", "set-timezone", c.time.timezone)),)))
        if f["ntp_enabled"].strip() != "enabled" or f["ntp_active"].strip() != "active":
            changes.append(Change(f"{c.time.ntp_service}",
                                  f"{f['ntp_enabled'].strip()}/{f['ntp_active'].strip()}",
                                  "enabled/active",
                                  (Run(("systemctl", "enable", "--now", c.time.ntp_service)),)))
        changes += self.firewall_plan(f, cfg)
        return Plan.join(Plan(changes), self.network_plan(f, cfg))

    def firewall_plan(self, f: InitialSetupFacts, cfg: HostConfig) -> list[Change]:
        allow = cfg.config.firewall.allow
        if f["proxmox_firewall"] == "enabled":
            raise StepRefused("the proxmox-firewall service (PVE's nftables firewall) is "
                              "enabled; ufw must not run beside it: disable it "
                              "(`systemctl disable --now proxmox-firewall`, nftables off in "
                              "the host's firewall options) or leave the firewall to it")
        port = f["ssh_port"]  # the port this run uses
        if not allows_ssh(allow, port):
            raise StepRefused(f"firewall.allow has no rule for SSH ({port}/tcp"
                             + (" or OpenSSH" if port == 22 else "") + "): "
                             "enabling ufw would lock this tool out; add one")
        active, rules = f["ufw"].active, f["ufw"].rules
        missing = [r for r in cfg.config.firewall.allow if ufw_rule(r) not in rules]
        actions = tuple(Run(("ufw", "allow", r)) for r in missing)
        if not active:
            # OpenSSH is allowed before enabling, and --force avoids the interactive
            # question that made the original hang: the tool never locks itself out
            actions += (Run(("ufw", "--force", "enable")),)
        if not actions:
            return []
        return [Change("firewall (ufw)", f"{'active' if active else 'inactive'}; missing rules: "
                       + (", ".join(missing) or "none"), "active; allows "
                       + ", ".join(cfg.config.firewall.allow), actions)]

    def network_plan(self, f: InitialSetupFacts, cfg: HostConfig) -> Plan:
        n = cfg.config.network
        changes: list[Change] = []
        notes = [] if f["iface_exists"] else [
            f"network.interface {n.interface} does not exist on the host yet: the new file "
            "defines it (PVE 9.1 names NICs nicN; check its bridge-ports)"]
        if f["hostname"].strip() != n.hostname:
            if f["node_guests"]:
                old = f["hostname"].strip()
                raise StepRefused(
                    f"hostname {old} -> {n.hostname} refused: PVE keeps this node's guests "
                    f"under /etc/pve/nodes/{old} ({', '.join(f['node_guests'][:10])}), and a "
                    "new name orphans them; migrate or back up and remove them first (then "
                    "restore on the renamed node), or keep network.hostname as "
                    f"{old}")
            changes.append(Change("hostname", f["hostname"].strip(), n.hostname,
                                  (Run(("hostnamectl", "set-hostname", n.hostname)),)))
        iface = file_change(self.iface_file(cfg), f["iface"], interfaces_text(cfg))
        if iface:
            moves = n.ip != cfg.address
            changes.append(Change(f"network identity {n.interface}", iface.before,
                                  f"{n.address} via {n.gateway}, dns {n.dns}"
                                  + (f" (host moves from {cfg.address})" if moves else ""),
                                  (CommitNetwork(self.iface_file(cfg), interfaces_text(cfg),
                                                 n.interface, n.ip, n.confirm_seconds),)))
        # after the network change: if that is rolled back, /etc/hosts still fits the host
        text, line = hosts_text(f["hosts"], n.ip, n.hostname, n.domain)
        if ch := file_change("/etc/hosts", f["hosts"], text):
            changes.append(Change("/etc/hosts entry", ch.before, line, ch.actions))
        return Plan(changes, notes)


def repositories(api: Any) -> dict[str, Any]:
    """GET /nodes/{node}/apt/repositories, reduced to what the plan needs: the enabled
    repositories (file, index, URIs), the standard ones by handle, the digest."""
    node = api.node
    data = api.get(f"/nodes/{node}/apt/repositories")
    return {"node": node, "digest": data["digest"],
            "enabled": [{"path": f["path"], "index": i, "uris": r.get("URIs", [])}
                        for f in data["files"] for i, r in enumerate(f["repositories"])
                        if r.get("Enabled")],
            "handles": {s["handle"]: s.get("status") for s in data.get("standard-repos", [])}}


def repository_changes(r: dict[str, Any], api: AptApiConfig) -> list[Change]:
    """Disable the enabled repositories at the configured URIs, add (or enable) the standard
    ones by handle. The digest goes with the first call: PVE refuses it if the files
    changed since the probe; later calls follow from that one."""
    base = f"/nodes/{r['node']}/apt/repositories"
    off = [e for e in r["enabled"]
           if any(u.startswith(p) for u in e["uris"] for p in api.disable_uri_prefixes)]
    add = [h for h in api.add_handles if r["handles"].get(h) not in (True, 1)]
    calls: list[tuple[str, dict]] = [("POST", {"path": e["path"], "index": e["index"],
                                               "enabled": False}) for e in off]
    calls += [("PUT", {"handle": h}) for h in add]
    if not calls:
        return []
    actions = tuple(Api(method, base, {**params, **({"digest": r["digest"]} if i == 0 else {})})
                    for i, (method, params) in enumerate(calls))
    before = "; ".join([*(f"enabled: {' '.join(e['uris'])}" for e in off),
                        *(f"missing: {h}" for h in add)])
    return [Change("apt repositories (PVE API)", before,
                   f"{', '.join(add) or 'standard ones'} present, "
                   f"{' '.join(api.disable_uri_prefixes)} disabled", actions)]


def guests_of_node(host: Any, node: str) -> list[str]:
    """`vmid (name)` of the guests PVE keeps under this node's name."""
    return [f"{g['vmid']} ({g.get('name', '')})" for g in
            host.api.get("/cluster/resources", type="vm") if g.get("node") == node]


def listing(out: Out, folder: str) -> str:
    """`ls` of a folder that every Debian has: a failure is unknown, not "empty"."""
    if not out.ok:
        raise ProbeUnknown(f"cannot list {folder} (exit {out.code})")
    return out.text
