"""Step 3, phoenix_create_admin_user.sh: the admin's Linux account (password, sudo, SSH
key) and Proxmox user <name>@pve with Administrator on / (through the API, not pveum)."""

from __future__ import annotations

from typing_extensions import TypedDict

from phoenix_remote.config.models import HostConfig
from phoenix_remote.config.secrets import Secret
from phoenix_remote.engine.step import HostView, Step
from phoenix_remote.engine.types import Api, Change, InstallFile, Plan, Run
from phoenix_remote.facts import pve, users
from phoenix_remote.host.batch import Out


def public_key(cfg: HostConfig) -> str | None:
    """The admin's public key, read from the workstation when the config was loaded."""
    return cfg.admin_public_key


class AdminUserFacts(TypedDict):
    passwd: dict[str, str] | None
    groups: list[str]
    ssh_modes: list[str]
    keys: list[str]
    password: str  # matches / differs / unset / no user / unknown (no secret to check)
    pve_user: bool
    acl: list[pve.Record]
    pve_password: str  # matches / differs / unknown (no user or no secret)


class AdminUser(Step):
    id = "admin_user"
    title = "admin user (Linux + Proxmox + SSH key)"
    facts_model = AdminUserFacts

    def inputs(self, cfg: HostConfig) -> dict:
        return {**cfg.config.admin_user.model_dump(), "key": public_key(cfg)}

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        a = cfg.config.admin_user
        cmds = {"passwd": users.account_query(a.username),
                "groups": users.groups_query(a.username),
                "ssh": users.ssh_modes_query(a.username),
                "keys": users.keys_query(a.username)}
        if a.password_secret in cfg.secrets:
            cmds["password"] = users.CHECK_PASSWORD
        return cmds

    def probe_stdin(self, cfg: HostConfig) -> Secret | None:
        """What the password check reads: `user:password`, as a Secret (never shown)."""
        a = cfg.config.admin_user
        secret = cfg.secrets.get(a.password_secret or "")
        return Secret(f"{a.username}:{secret.reveal()}\n", secret.origin) if secret else None

    def facts(self, out: dict[str, Out], host: HostView, cfg: HostConfig) -> AdminUserFacts:
        a = cfg.config.admin_user
        secret = cfg.secrets.get(a.password_secret or "")
        pve_user = pve.user_exists(host.api, a.pve_userid)
        pve_password = "unknown"
        if pve_user and secret:
            ok = host.api.login_works(a.pve_userid, secret.reveal())
            pve_password = "matches" if ok else "differs"
        return {"passwd": users.account(out["passwd"]),
                "groups": users.groups(out["groups"]),
                "ssh_modes": users.home_lines(out["ssh"], "~/.ssh's modes"),
                "keys": users.home_lines(out["keys"], "authorized_keys"),
                "password": users.password(out["password"]) if "password" in out else "unknown",
                "pve_user": pve_user,
                "acl": pve.acl_entries(host.api, a.pve_userid, a.pve_acl_path),
                "pve_password": pve_password}

    def plan(self, f: AdminUserFacts, cfg: HostConfig) -> Plan:
        a = cfg.config.admin_user
        secret: Secret | None = cfg.secrets.get(a.password_secret or "")
        changes: list[Change] = []
        if f["passwd"] is None:
            changes.append(Change(f"Linux user {a.username}", "missing",
                                  f"created (shell {a.shell}, home /home/{a.username})",
                                  (Run(("useradd", "-m", "-s", a.shell, a.username)),)))
        if secret and f["password"] != "matches":
            stdin = Secret(f"{a.username}:{secret.reveal()}\n", secret.origin)
            changes.append(Change(f"password of {a.username}", f["password"], "set (***)",
                                  (Run(("chpasswd",), stdin=stdin),)))
        if a.group not in f["groups"]:
            changes.append(Change(f"{a.username} in group {a.group}", "not a member", "member",
                                  (Run(("usermod", "-aG", a.group, a.username)),)))
        if not f["pve_user"]:
            params: dict = {"userid": a.pve_userid}
            if secret:
                params["password"] = secret
            changes.append(Change(f"Proxmox user {a.pve_userid}", "missing", "created",
                                  (Api("POST", "/access/users", params),)))
        elif secret and f["pve_password"] == "differs":
            changes.append(Change(f"Proxmox password of {a.pve_userid}", "differs", "set (***)",
                                  (Api("PUT", "/access/password",
                                       {"userid": a.pve_userid, "password": secret}),)))
        if not any(x["roleid"] == a.pve_role for x in f["acl"]):
            changes.append(Change(f"ACL {a.pve_acl_path} for {a.pve_userid}", "none",
                                  f"{a.pve_role} (propagate)",
                                  (Api("PUT", "/access/acl", {"path": a.pve_acl_path,
                                                              "roles": a.pve_role,
                                                              "users": a.pve_userid}),)))
        key = public_key(cfg)
        modes = [f"700 {a.username}", f"600 {a.username}"]
        if key and (key not in f["keys"] or f["ssh_modes"] != modes):
            changes.append(Change(f"SSH key of {a.username}", "absent" if key not in f["keys"]
                                  else "wrong modes", f"{key.split()[0]} …{key[-20:]}",
                                  key_actions(a.username, f["passwd"], f["keys"], key)))
        return Plan(changes)


def key_actions(user: str, passwd: dict[str, str] | None, keys: list[str], key: str
                ) -> tuple[Run, InstallFile]:
    """~/.ssh (700) and authorized_keys (600) owned by the user, holding the key once (the
    other lines kept). A user created in this apply gets useradd's defaults: /home/<name>,
    a group of the same name."""
    home = passwd["home"] if passwd else f"/home/{user}"
    group = passwd["gid"] if passwd else user
    lines = keys if key in keys else [*keys, key]
    return (Run(("install", "-d", "-m", "700", "-o", user, "-g", group, f"{home}/.ssh")),
            InstallFile(f"{home}/.ssh/authorized_keys", "".join(x + "\n" for x in lines),
                        mode="0600", owner=f"{user}:{group}"))
