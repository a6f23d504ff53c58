"""Step 3, phoenix_create_admin_user.sh: the admin's Linux account (password, sudo, SSH
key) and Proxmox user <name>@pve with Administrator on / (through the API, not pveum)."""

from __future__ import annotations

from typing import Any

from phoenix_remote.config.models import HostConfig
from phoenix_remote.config.secrets import Secret
from phoenix_remote.engine.types import Api, Change, Run, Script
from phoenix_remote.facts.batch import Out
from phoenix_remote.facts.parsers import passwd_entry
from phoenix_remote.host.shell import sh

# Reads "user:password" on fd 3 (the batch's stdin), says whether the shadow entry holds that
# password; nothing is printed. Perl is in every Debian (perl-base is essential) and its crypt()
# is libcrypt's (yescrypt included), whatever Python the host has. Exit 0 matches, 1 differs,
# 2 no usable password (empty or locked), 3 no such user.
CHECK_PASSWORD = ("perl -e 'my ($u, $p) = split(/:/, scalar(<STDIN>), 2); chomp $p; "
                  "my $h = (getpwnam($u))[1]; exit 3 unless defined $h; "
                  "exit 2 if $h eq q() || $h =~ /^[!*]/; exit(crypt($p, $h) eq $h ? 0 : 1)' <&3")


def public_key(cfg: HostConfig) -> str | None:
    """The admin's public key, read from the workstation when the config was loaded."""
    return cfg.admin_public_key


class AdminUser:
    id = "admin_user"
    title = "admin user (Linux + Proxmox + SSH key)"

    def inputs(self, cfg: HostConfig) -> dict:
        return {**cfg.config.admin_user.model_dump(), "key": public_key(cfg)}

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        a = cfg.config.admin_user
        home = sh("home=$(getent passwd {} | cut -d: -f6); ", a.username)
        cmds = {
            "passwd": sh("getent passwd {}", a.username),
            "groups": sh("id -nG {}", a.username),
            "ssh": home + "stat -c '%a %U' \"$home/.ssh\" \"$home/.ssh/authorized_keys\"",
            "keys": home + "cat \"$home/.ssh/authorized_keys\"",
        }
        if a.password_secret in cfg.secrets:
            cmds["password"] = CHECK_PASSWORD
        return cmds

    def probe_stdin(self, cfg: HostConfig) -> Secret | None:
        """What the password check reads: `user:password`, as a Secret (never shown)."""
        a = cfg.config.admin_user
        secret = cfg.secrets.get(a.password_secret or "")
        return Secret(f"{a.username}:{secret.reveal()}\n", secret.origin) if secret else None

    def facts(self, out: dict[str, Out], host: Any, cfg: HostConfig) -> dict:
        a = cfg.config.admin_user
        facts: dict = {"passwd": passwd_entry(out["passwd"].text) if out["passwd"].ok else None,
                       "groups": out["groups"].text.split(),
                       "ssh_modes": out["ssh"].text.splitlines() if out["ssh"].ok else [],
                       "keys": out["keys"].text.splitlines() if out["keys"].ok else [],
                       "password": "unknown"}
        if "password" in out:
            facts["password"] = {0: "matches", 1: "differs", 2: "unset", 3: "no user"}.get(
                out["password"].code, "unknown")
        # the list, not GET /access/users/{id}: PVE answers a missing user with a plain 500
        facts["pve_user"] = any(u.get("userid") == a.pve_userid
                                for u in host.api.get("/access/users"))
        facts["acl"] = [x for x in host.api.get("/access/acl")
                        if x["ugid"] == a.pve_userid and x["path"] == a.pve_acl_path]
        secret = cfg.secrets.get(a.password_secret or "")
        facts["pve_password"] = "unknown"
        if facts["pve_user"] and secret:
            ok = host.api.login_works(a.pve_userid, secret.reveal())
            facts["pve_password"] = "matches" if ok else "differs"
        return facts

    def plan(self, f: dict, cfg: HostConfig) -> list[Change]:
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
        if key and (key not in f["keys"] or f["ssh_modes"] != [f"700 {a.username}",
                                                                 f"600 {a.username}"]):
            changes.append(Change(f"SSH key of {a.username}", "absent" if key not in f["keys"]
                                  else "wrong modes", f"{key.split()[0]} …{key[-20:]}",
                                  (Script(add_key_script(a.username, key),
                                          f"add the SSH key of {a.username}"),)))
        return changes


def add_key_script(user: str, key: str) -> str:
    """Create ~/.ssh (700) and authorized_keys (600), owned by the user; add the key once."""
    return sh("""set -e
user={0}
key={1}
home=$(getent passwd "$user" | cut -d: -f6)
install -d -m 700 -o "$user" -g "$(id -gn "$user")" "$home/.ssh"
keys="$home/.ssh/authorized_keys"
touch "$keys"
grep -qxF "$key" "$keys" || printf '%s\\n' "$key" >> "$keys"
chmod 600 "$keys"
chown "$user":"$(id -gn "$user")" "$keys"
""", user, key)
