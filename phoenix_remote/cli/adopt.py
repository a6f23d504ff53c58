"""phoenix lxc adopt HOST VMID...: take over containers phoenix did not make.

phoenix manages a container only when it carries the `phoenix` tag and the host's ledger
records it (a tag alone can be set by anyone allowed to edit a guest). Adopting is the
operator saying "this one is mine": each container must be configured for the host, be a
container on that node with the configured host name, and have what PVE fixes at
creation as the config says (unprivileged, rootfs storage, a disk no larger); then it is
tagged (PUT with the config's digest) and recorded in the ledger with its rootfs, under
the host's lock. From the next apply on it is managed like the ones phoenix made.
"""

from __future__ import annotations

import argparse

from phoenix_remote.config import inventory as inv
from phoenix_remote.config.lxc import TAG
from phoenix_remote.errors import PhoenixError, StepRefused, UsageError
from phoenix_remote.steps.lxc_keys import rootfs_volume


def adopt_containers(args: argparse.Namespace, result: inv.Inventory) -> int:
    from phoenix_remote.engine.ledger import Ledger, now
    from phoenix_remote.host.host import Host
    from phoenix_remote.steps.lxc import check_fixed_at_creation
    cfg = result.hosts[args.host]
    lxc = cfg.config.lxc
    unknown = [v for v in args.vmids if v not in cfg.containers or lxc is None]
    if unknown:
        raise UsageError(f"lxc adopt: {', '.join(map(str, unknown))} not among {cfg.name}'s "
                         f"containers ({', '.join(map(str, cfg.containers)) or 'none'}): "
                         "list it under the host's `containers` first")
    assert lxc is not None
    host = Host(cfg, readonly=False, known_hosts=args.known_hosts, insecure=args.insecure)
    ledger = Ledger(host, cfg.config.ledger_path)
    code = 0
    try:
        host.ssh.connect()
        ledger.acquire()
        ledger.load()
        node = host.api.node
        guests = {int(g["vmid"]): g for g in host.api.get("/cluster/resources", type="vm")}
        for vmid in args.vmids:
            ct = lxc.container(vmid)
            try:
                guest = guests.get(vmid)
                if guest is None or guest.get("type") != "lxc" or guest.get("node") != node:
                    raise StepRefused(f"there is no container {vmid} on node {node}")
                path = f"/nodes/{node}/lxc/{vmid}/config"
                conf = host.api.get(path)
                if conf.get("hostname") != ct.hostname:
                    raise StepRefused(f"container {vmid} is {conf.get('hostname')}, the config "
                                      f"says {ct.hostname}: rename it first (`pct set "
                                      f"{vmid} --hostname {ct.hostname}`) or fix the config")
                check_fixed_at_creation(vmid, ct, lxc, conf)
                tags = [t for t in str(conf.get("tags") or "").split(";") if t]
                if TAG not in tags:
                    host.api.call("PUT", path, {"tags": ";".join(tags + [TAG]),
                                                "digest": conf["digest"]})
                rootfs = rootfs_volume(conf)
                ledger.remember("containers", str(vmid), {
                    "hostname": ct.hostname, "rootfs": rootfs, "adopted": now()},
                    cfg.config.logging.log_file)
                print(f"{cfg.name}: container {vmid} {ct.hostname} adopted (tag {TAG}, "
                      f"rootfs {rootfs} recorded)")
            except PhoenixError as e:
                print(f"{cfg.name}: container {vmid} not adopted: {e}")
                code = 1
    finally:
        ledger.release()
        host.close()
    return code
