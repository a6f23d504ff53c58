#!/usr/bin/python3
"""pvesm / pveum for sandbox hosts: the same state and checks as the host's API, so scripts
written for a real PVE node run unchanged. Supported: pvesm add|set|remove|status|config,
pveum user add|list|delete|token add, pveum acl modify|list, pct create|set|config|status|
list|start|stop|shutdown|reboot|snapshot|exec|push (as root@pam, like the real pct).

Options are read as PVE's CLI handler reads them (Getopt::Long through
PVE::JSONSchema::get_options): `-name value` or `--name value` or `--name=value`, any
unique prefix of a name, booleans alone meaning 1; an unknown or ambiguous option is
refused with Getopt::Long's warning and PVE's "400 unable to parse option"."""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import pvelxc  # noqa: E402
import pveschema  # noqa: E402
import pvestate as ps  # noqa: E402
import sbct  # noqa: E402
import sbstate  # noqa: E402

OPS = pveschema.load_operations(
    "9.1" if sbstate.platform()["release"].startswith("9") else "8.4")


def options(args, key, positional=()):
    """(options, the other words) for the API operation `key`, as the PVE CLI parses them."""
    props = OPS[key].get("parameters", {}).get("properties", {})
    names = sorted(n for n in props if n not in positional)
    out, rest, i = {}, [], 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-") or a in ("-", "--"):
            rest.append(a)
            i += 1
            continue
        word, eq, value = a.lstrip("-").partition("=")
        indexed = re.fullmatch(r"([a-z]+)(\d+)", word)  # net0 for the schema's net[n]
        if indexed and f"{indexed.group(1)}[n]" in props:
            props = {**props, word: props[f"{indexed.group(1)}[n]"]}
            names = sorted({*names, word})
        matches = [n for n in names if n == word] or [n for n in names if n.startswith(word)]
        if len(matches) != 1:
            what = (f"Option {word} is ambiguous ({', '.join(matches)})" if matches
                    else f"Unknown option: {word}")
            print(what, file=sys.stderr)
            print("400 unable to parse option", file=sys.stderr)
            raise SystemExit(255)
        name = matches[0]
        boolean = props[name].get("type") == "boolean"
        if not eq:
            nxt = args[i + 1] if i + 1 < len(args) else None
            if boolean and (nxt is None or nxt not in ("0", "1", "yes", "no", "on", "off",
                                                       "true", "false")):
                value = "1"
            elif nxt is None:
                print(f"Option {name} requires an argument", file=sys.stderr)
                print("400 unable to parse option", file=sys.stderr)
                raise SystemExit(255)
            else:
                value, i = nxt, i + 1
        if boolean:
            value = {"yes": "1", "on": "1", "true": "1", "no": "0", "off": "0",
                     "false": "0"}.get(value, value)
        out[name] = value
        i += 1
    return out, rest


def call(key, handler, params):
    errors = pveschema.validate(OPS[key], params)
    if errors:
        for k, v in errors.items():
            print(f"{k}: {v}", file=sys.stderr)
        raise SystemExit(255)
    try:
        return handler(params)
    except ps.Fail as e:
        print(e.message, file=sys.stderr)
        raise SystemExit(255) from None


PVESM = {"add": ("POST /storage", ("type", "storage")),
         "set": ("PUT /storage/{storage}", ("storage",)),
         "remove": ("DELETE /storage/{storage}", ("storage",)),
         "delete": ("DELETE /storage/{storage}", ("storage",)),
         "status": ("GET /nodes/{node}/storage", ("node",)),
         "config": ("GET /storage/{storage}", ("storage",))}
PVEUM = {("user", "add"): ("POST /access/users", ("userid",)),
         ("useradd",): ("POST /access/users", ("userid",)),
         ("user", "list"): ("GET /access/users", ()),
         ("user", "delete"): ("DELETE /access/users/{userid}", ("userid",)),
         ("user", "token"): ("POST /access/users/{userid}/token/{tokenid}",
                             ("userid", "tokenid")),
         ("acl", "modify"): ("PUT /access/acl", ("path",)),
         ("aclmod",): ("PUT /access/acl", ("path",)),
         ("acl", "list"): ("GET /access/acl", ())}


def pvesm(args):
    cmd = next((a for a in args if not a.startswith("-")), "help")
    key, positional = PVESM.get(cmd, (None, ()))
    if key is None:
        print("USAGE: pvesm <add|set|remove|status|config> ...", file=sys.stderr)
        return 255
    opts, rest = options(args, key, positional)
    if cmd == "add":
        call("POST /storage", ps.storage_create, {"type": rest[1], "storage": rest[2], **opts})
    elif cmd == "set":
        call("PUT /storage/{storage}", ps.storage_update, {"storage": rest[1], **opts})
    elif cmd in ("remove", "delete"):
        call("DELETE /storage/{storage}", ps.storage_delete, {"storage": rest[1]})
    elif cmd == "status":
        rows = call("GET /nodes/{node}/storage", ps.node_storage, {"node": ps.node_name()})
        print(f"{'Name':<16}{'Type':>9}{'Status':>11}{'Total':>16}{'Used':>16}"
              f"{'Available':>16}{'%':>9}")
        for r in rows:
            if "storage" in opts and r["storage"] != opts["storage"]:
                continue
            pct = f"{100 * r['used_fraction']:.2f}%"
            status = "active" if r["active"] else ("disabled" if not r["enabled"] else
                                                    "inactive")
            print(f"{r['storage']:<16}{r['type']:>9}{status:>11}{r['total'] // 1024:>16}"
                  f"{r['used'] // 1024:>16}{r['avail'] // 1024:>16}{pct:>9}")
    elif cmd == "config":
        print(json.dumps(call("GET /storage/{storage}", ps.storage_get, {"storage": rest[1]}),
                         indent=2))
    else:
        print("USAGE: pvesm <add|set|remove|status|config> ...", file=sys.stderr)
        return 255
    return 0


def pveum(args):
    words_only = [a for a in args if not a.startswith("-")]
    entry = PVEUM.get(tuple(words_only[:2])) or PVEUM.get(tuple(words_only[:1]))
    if entry is None:
        print("USAGE: pveum <user add|list|delete|token add|acl modify|list> ...",
              file=sys.stderr)
        return 255
    opts, rest = options(args, *entry)
    words = rest[:2]
    if words == ["user", "add"] or words == ["useradd"]:
        call("POST /access/users", ps.user_create, {"userid": rest[2], **opts})
    elif words == ["user", "list"]:
        for u in call("GET /access/users", ps.users_list, {}):
            print(u["userid"])
    elif words == ["user", "delete"]:
        call("DELETE /access/users/{userid}", ps.user_delete, {"userid": rest[2]})
    elif words == ["user", "token"] and rest[2:3] == ["add"]:
        print(json.dumps(call("POST /access/users/{userid}/token/{tokenid}", ps.token_create,
                              {"userid": rest[3], "tokenid": rest[4], **opts}), indent=2))
    elif words == ["acl", "modify"] or words == ["aclmod"]:
        call("PUT /access/acl", ps.acl_modify, {"path": rest[2], **opts})
    elif words == ["acl", "list"]:
        for a in call("GET /access/acl", ps.acl_list, {}):
            print(f"{a['path']}\t{a['type']}\t{a['ugid']}\t{a['roleid']}\t{a['propagate']}")
    else:
        print("USAGE: pveum <user add|list|delete|token add|acl modify|list> ...",
              file=sys.stderr)
        return 255
    return 0


LXC = "/nodes/{node}/lxc/{vmid}"
PCT_TASKS = {"start": (f"POST {LXC}/status/start", pvelxc.start),
             "stop": (f"POST {LXC}/status/stop", pvelxc.stop),
             "shutdown": (f"POST {LXC}/status/shutdown", pvelxc.shutdown),
             "reboot": (f"POST {LXC}/status/reboot", pvelxc.reboot),
             "snapshot": (f"POST {LXC}/snapshot", pvelxc.snapshot_create)}


def now(kind, ident, work):
    """pct runs a task in the foreground: its log is the command's output."""
    work(print)


def pct_exec(args):
    """pct exec <vmid> [-- argv]: the command inside the running container; its exit
    code is pct's."""
    vmid, rest = args[0], args[1:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    try:
        argv = sbct.exec_argv(vmid, rest or ["/bin/sh"])
    except sbct.Error as e:
        print(e, file=sys.stderr)
        return 255
    return subprocess.run(argv).returncode


def pct_push(args):
    """pct push <vmid> <file> <destination> [--perms MODE]"""
    perms = args[args.index("--perms") + 1] if "--perms" in args else None
    words = [a for i, a in enumerate(args) if not a.startswith("--")
             and (i == 0 or args[i - 1] not in ("--perms", "--user", "--group"))]
    try:
        sbct.push(words[0], words[1], words[2], perms)
    except (sbct.Error, OSError) as e:
        print(e, file=sys.stderr)
        return 255
    return 0


def pct(args):
    if args[:1] in (["exec"], ["push"]) and len(args) > 1:
        return (pct_exec if args[0] == "exec" else pct_push)(args[1:])
    words = [a for a in args if not a.startswith("-")]
    cmd, node = (words[0] if words else "help"), ps.node_name()
    pvelxc.caller.user = "root@pam"
    if cmd == "list":
        print(f"{'VMID':<10} {'Status':<10} {'Lock':<11} Name")
        for r in sorted(pvelxc.resources(), key=lambda r: r["vmid"]):
            print(f"{r['vmid']:<10} {r['status']:<10} {'':<11} {r['name']}")
        return 0
    if len(words) < 2:
        print("USAGE: pct <set|config|status|list|start|stop|shutdown|reboot|snapshot> <vmid>",
              file=sys.stderr)
        return 255
    base = {"node": node, "vmid": words[1]}
    if cmd == "create" and len(words) > 2:
        opts, _ = options(args, "POST /nodes/{node}/lxc", ("node", "vmid", "ostemplate"))
        call("POST /nodes/{node}/lxc", lambda p: pvelxc.create(p, now),
             {**base, "ostemplate": words[2], **opts})
    elif cmd == "set":
        opts, _ = options(args, f"PUT {LXC}/config", ("node", "vmid"))
        call(f"PUT {LXC}/config", pvelxc.config_put, {**base, **opts})
    elif cmd == "config":
        opts, _ = options(args, f"GET {LXC}/config", ("node", "vmid"))
        conf = call(f"GET {LXC}/config", pvelxc.config_get, {**base, **opts})
        for k, v in sorted(conf.items()):
            if k not in ("digest", "lxc"):
                print(f"{k}: {v}")
        for k, v in conf.get("lxc", []):  # raw lines, as pct config prints them
            print(f"{k}: {v}")
    elif cmd == "status":
        print(f"status: {call(f'GET {LXC}/status/current', pvelxc.status_current, base)['status']}")
    elif cmd in PCT_TASKS:
        key, handler = PCT_TASKS[cmd]
        extra = {"snapname": words[2]} if cmd == "snapshot" and len(words) > 2 else {}
        call(key, lambda p: handler(p, now), {**base, **extra})
    else:
        print(f"sandbox: pct {cmd} is not simulated",
              file=sys.stderr)
        return 255
    return 0


if __name__ == "__main__":
    tool = os.path.basename(sys.argv[0])
    sys.exit({"pvesm": pvesm, "pveum": pveum, "pct": pct}[tool](sys.argv[1:]))
