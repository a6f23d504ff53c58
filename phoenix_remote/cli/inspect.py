"""phoenix status / disks / lxc list: read what is on hosts (the ledger, the drives, the
containers), change nothing."""

from __future__ import annotations

import argparse
import json
from typing import Any, cast

from phoenix_remote.config import inventory as inv
from phoenix_remote.errors import PhoenixError


def show_status(args: argparse.Namespace, result: inv.Inventory) -> int:
    """The ledger of each host: what each step applied, when, with which backups."""
    from phoenix_remote.engine.ledger import Ledger
    from phoenix_remote.host.host import Host
    out = {}
    for cfg in result.hosts.values():
        host = Host(cfg, readonly=True, known_hosts=args.known_hosts, insecure=args.insecure)
        try:
            out[cfg.name] = Ledger(host, cfg.config.ledger_path).load()
        except PhoenixError as e:
            out[cfg.name] = {"error": str(e)}
        finally:
            host.close()
    if args.as_json:
        print(json.dumps({"schema": "phoenix_remote/status/v1", "hosts": out}, indent=2))
        return 0
    for name, data in out.items():
        print(f"{name}: {data.get('error') or ''}")
        for step, rec in data.get("steps", {}).items():
            print(f"  {step:<14} {rec.get('result', '?'):<8} {rec.get('finished', ''):<25} "
                  f"inputs {rec.get('fingerprint', '-')}  "
                  f"backups {len(rec.get('backups', []))}")
            for item, res in rec.get("items", {}).items():  # e.g. each container
                print(f"    {item:<12} {res.get('result', '?'):<8} {res.get('hostname', '')} "
                      + "; ".join(res.get("changes", [])))
        if data.get("runs"):
            last = data["runs"][-1]
            print(f"  last run: {last.get('status')} at {last.get('finished')}")
    return 0


def show_disks(args: argparse.Namespace, result: inv.Inventory) -> int:
    """A host's NVMe drives (by-id path, size, model, in use or free) from its API."""
    from phoenix_remote.host.host import Host
    host = Host(result.hosts[args.host], readonly=True, known_hosts=args.known_hosts,
                insecure=args.insecure)
    try:
        rows = host.api.get(f"/nodes/{host.api.node}/disks/list")
    finally:
        host.close()
    print(f"{'by-id path':<64} {'size':>9}  {'model':<28} state")
    for d in rows:
        if d.get("type") not in ("nvme", None) and "nvme" not in d["devpath"]:
            continue
        size = f"{d['size'] / 1e12:.2f} TB" if d["size"] >= 1e12 else f"{d['size'] / 1e9:.0f} GB"
        link = d.get("by_id_link") or d["devpath"]
        print(f"{link:<64} {size:>9}  {d.get('model', ''):<28} "
              f"{'in use: ' + d['used'] if d.get('used') else 'free'}")
    return 0


def show_containers(args: argparse.Namespace, result: inv.Inventory) -> int:
    """Every guest on each host (the API's /cluster/resources), whether phoenix owns it
    (configured here and tagged), its state, and the lxc step's drift for the configured
    ones: the same read-only probe verify makes. Exit 2 when anything drifts."""
    from phoenix_remote.cli.render import printable
    from phoenix_remote.config.lxc import TAG
    from phoenix_remote.engine.ledger import Ledger
    from phoenix_remote.engine.step import probe
    from phoenix_remote.host.host import Host
    from phoenix_remote.steps.lxc import Lxc, LxcFacts, by_container, owned_containers
    rows: list[dict[str, Any]] = []
    code = 0
    for cfg in result.hosts.values():
        host = Host(cfg, readonly=True, known_hosts=args.known_hosts, insecure=args.insecure)
        try:
            host.ledger = Ledger(host, cfg.config.ledger_path)  # which containers it made
            host.ledger.load()
            owned = owned_containers(host.ledger)
            facts = probe(host, Lxc(), cfg) if cfg.containers else None
            drift = by_container(Lxc().plan(cast(LxcFacts, facts), cfg) if facts else [])
            guests = host.api.get("/cluster/resources", type="vm")
        except PhoenixError as e:
            rows.append({"host": cfg.name, "error": str(e)})
            code = 1
            continue
        finally:
            host.close()
        for g in sorted(guests, key=lambda g: int(g["vmid"])):
            vmid = int(g["vmid"])
            ours = (vmid in cfg.containers and vmid in owned
                    and TAG in str(g.get("tags") or "").split(";"))
            rows.append({"host": cfg.name, "vmid": vmid, "name": printable(str(g.get("name"))),
                         "type": g.get("type"), "status": g.get("status"),
                         "owner": "phoenix" if ours else "other",
                         "drift": drift.get(vmid, [])})
        present = {int(g["vmid"]) for g in guests}
        rows += [{"host": cfg.name, "vmid": v, "name": cfg.config.lxc.container(v).hostname
                  if cfg.config.lxc else "", "type": "lxc", "status": "missing",
                  "owner": "phoenix", "drift": drift.get(v, [])}
                 for v in cfg.containers if v not in present]
        code = max(code, 2 if any(drift.values()) else 0)
    if args.as_json:
        print(json.dumps({"schema": "phoenix_remote/lxc-list/v1", "guests": rows}, indent=2))
        return code
    print(f"{'host':<12} {'vmid':>6}  {'name':<22} {'type':<5} {'status':<8} {'owner':<8} drift")
    for r in rows:
        if "error" in r:
            print(f"{r['host']:<12} error: {r['error']}")
            continue
        print(f"{r['host']:<12} {r['vmid']:>6}  {str(r['name'])[:22]:<22} {r['type']:<5} "
              f"{r['status']:<8} {r['owner']:<8} {'; '.join(r['drift']) or '-'}")
    return code
