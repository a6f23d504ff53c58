"""pyinfra's side of the benchmark: the audit of bench/peers/audit_items.py as a deploy,
run with --dry (pyinfra reads its facts and reports what it would change). Idiomatic
operations; ZFS through pyinfra's own zfs.dataset, with its dataset fact minus the
/proc/modules precondition (the sandbox's kernel has no zfs module: its zfs is a stand-in).
"""

import json
import os

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.zfs import ZfsDatasets, ZfsPools
from pyinfra.operations import apt, files, server, systemd

AUDIT = json.load(open(os.environ["PHOENIX_AUDIT"]))


class Datasets(ZfsDatasets):
    def check_preconditions(self, state, host):  # noqa: ARG002 - pyinfra's signature
        return None


@operation()
def zfs_properties(name, properties):
    """The dataset's declared properties, set where they differ (zfs.dataset's logic)."""
    have = host.get_fact(Datasets).get(name)
    if have is None:
        yield f"zfs create {name}"
        return
    for prop, value in properties.items():
        if have.get(prop) != value:
            yield f"zfs set {prop}={value} {name}"


@operation()
def zpool_present(name):
    if name not in host.get_fact(ZfsPools):
        yield f"false # zpool {name} is missing"


apt.packages(name="packages", packages=AUDIT["packages"], present=True)
for path, local in AUDIT["files"].items():
    files.put(name=f"file {path}", src=local, dest=path)
server.user(name="admin user", user=AUDIT["user"]["name"], shell=AUDIT["user"]["shell"],
            groups=[AUDIT["user"]["group"]], append=True)
for service in AUDIT["services"]:
    systemd.service(name=f"service {service}", service=service, running=True, enabled=True)
for pool in AUDIT["pools"]:
    zpool_present(pool, name=f"pool {pool}")
for dataset, props in AUDIT["datasets"].items():
    zfs_properties(dataset, props, name=f"dataset {dataset}")
