#!/usr/bin/python3
"""pvesm / pveum for sandbox hosts: the same state and checks as the host's API, so scripts
written for a real PVE node run unchanged. Supported: pvesm add|set|remove|status|config,
pveum user add|list|delete|token add, pveum acl modify|list (options as --key value)."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import pveschema  # noqa: E402
import pvestate as ps  # noqa: E402

OPS = pveschema.load_operations()


def options(args):
    out, rest, i = {}, [], 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            key = a[2:]
            if "=" in key:
                key, value = key.split("=", 1)
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                value, i = args[i + 1], i + 1
            else:
                value = "1"
            out[key] = value
        else:
            rest.append(a)
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


def pvesm(args):
    opts, rest = options(args)
    cmd = rest[0] if rest else "help"
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
    opts, rest = options(args)
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


if __name__ == "__main__":
    tool = os.path.basename(sys.argv[0])
    sys.exit({"pvesm": pvesm, "pveum": pveum}[tool](sys.argv[1:]))
