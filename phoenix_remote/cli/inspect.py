"""phoenix status / disks: read what is on hosts (the ledger, the drives), change nothing."""

from __future__ import annotations

import argparse
import json

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
        print(json.dumps(out, indent=2))
        return 0
    for name, data in out.items():
        print(f"{name}: {data.get('error') or ''}")
        for step, rec in data.get("steps", {}).items():
            print(f"  {step:<14} {rec.get('result', '?'):<8} {rec.get('finished', ''):<25} "
                  f"inputs {rec.get('fingerprint', '-')}  "
                  f"backups {len(rec.get('backups', []))}")
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
