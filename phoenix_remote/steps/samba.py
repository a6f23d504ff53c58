"""Step 9, phoenix_setup_samba.sh: Samba packages, the SMB user and its password, and
smb.conf with the original [global] section plus the configured shares (validated by
testparm before the services restart; the previous file is restored on failure)."""

from __future__ import annotations

from typing_extensions import TypedDict

from phoenix_remote.config.models import HostConfig
from phoenix_remote.config.secrets import Secret
from phoenix_remote.engine.step import HostView, Step
from phoenix_remote.engine.types import Change, Plan, Run
from phoenix_remote.facts import packages, services, users, zfs
from phoenix_remote.facts.ntlm import nt_hash
from phoenix_remote.facts.parsers import lines
from phoenix_remote.host import files
from phoenix_remote.host.batch import Out
from phoenix_remote.steps.common import (
    apt_install,
    dataset_mounts,
    dirs_present,
    validated_file,
)

SMB_CONF = "/etc/samba/smb.conf"


def smb_conf_text(cfg: HostConfig) -> str:
    smb, zfs_cfg, storage = cfg.config.samba, cfg.config.zfs, cfg.config.storage
    out = ["[global]"] + [f"   {k} = {v}" for k, v in smb.global_.items()] + [""]
    for share in smb.shares:
        _, content = storage.type_and_content(share.dataset)
        out += [f"[{share.name}]",
                f"   comment = Samba share for {share.dataset} ({','.join(content)})",
                f"   path = {zfs_cfg.mountpoint(share.dataset)}",
                f"   force user = {smb.user}", f"   force group = {smb.user}"]
        out += [f"   {k} = {v}" for k, v in share.options.items()] + [""]
    return "\n".join(out)


class SambaFacts(TypedDict):
    installed: set[str]
    manual: set[str]
    user: bool
    hash: str | None
    conf: str | None
    datasets: list[str]
    dirs: list[str]
    services: dict[str, str]


class Samba(Step):
    id = "samba"
    title = "Samba shares"
    facts_model = SambaFacts

    def inputs(self, cfg: HostConfig) -> dict:
        smb = cfg.config.samba
        return {"user": smb.user, "packages": smb.packages, "conf": smb_conf_text(cfg)}

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        smb = cfg.config.samba
        return {
            "pkgs": packages.installed_query([*smb.packages, "samba-common-bin"]),
            "manual": packages.manual_query(smb.packages),
            "user": users.account_query(smb.user),
            "pdb": users.SAMBA_PASSDB,
            "conf": files.read(SMB_CONF),
            "datasets": zfs.FILESYSTEMS,
            "dirs": dirs_present(cfg, [x.dataset for x in smb.shares]),
            "smbd": services.active_query("smbd"),
            "nmbd": services.active_query("nmbd"),
        }

    def facts(self, out: dict[str, Out], host: HostView, cfg: HostConfig) -> SambaFacts:
        smb = cfg.config.samba
        return {"installed": packages.installed(out["pkgs"]),
                "manual": packages.manual(out["manual"]),
                "user": users.account(out["user"]) is not None,
                "hash": users.samba_hash(out["pdb"], smb.user),
                "conf": files.content(out["conf"], SMB_CONF),
                "datasets": zfs.names(out["datasets"]), "dirs": lines(out["dirs"].text),
                "services": {unit: services.active(out[unit], unit) for unit in ("smbd", "nmbd")}}

    def plan(self, f: SambaFacts, cfg: HostConfig) -> Plan:
        smb = cfg.config.samba
        secret: Secret | None = cfg.secrets.get(smb.password_secret)
        changes = []
        if not any(p in f["installed"] for p in smb.packages):
            changes.append(Change("Samba packages", "not installed", " ".join(smb.packages),
                                  apt_install(smb.packages, update=True)))
        # no keep_manual here: the original installs nothing when a Samba package is
        # present, so samba-common keeps its automatic mark (porting row 62)
        if not f["user"]:
            changes.append(Change(f"SMB system user {smb.user}", "missing",
                                  "system account, no login, no home",
                                  (Run(("useradd", "-r", "-s", "/usr/sbin/nologin", "-M",
                                        smb.user)),)))
        if secret is not None and f["hash"] != nt_hash(secret.reveal()):
            stdin = Secret(f"{secret.reveal()}\n{secret.reveal()}\n", secret.origin)
            changes.append(Change(f"Samba password of {smb.user}",
                                  "unset" if f["hash"] is None else "differs", "set (***)",
                                  (Run(("smbpasswd", "-s", "-a", smb.user), stdin=stdin),)))
        changes += dataset_mounts(cfg, [(f"Samba share {x.name}", x.dataset)
                                        for x in smb.shares], f)
        conf = validated_file(SMB_CONF, f["conf"], smb_conf_text(cfg),
                              f"[global] + {len(smb.shares)} share(s)", ("testparm", "-s"),
                              ("systemctl", "restart", "nmbd", "smbd"),
                              ".phoenix.bak.%Y%m%d_%H%M%S")
        changes += conf
        if not conf and any(v != "active" for v in f["services"].values()):
            changes.append(Change("Samba services", str(f["services"]), "smbd, nmbd active",
                                  (Run(("systemctl", "restart", "nmbd", "smbd")),)))
        return Plan(changes)
