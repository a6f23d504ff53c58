"""Hostile input, part 2: the container section, the per-release values and the inventory's
overrides, generated class by class. Every dangerous case exits 3 naming its JSON path and
never echoes a credential; the valid forms next to them pass. Run through the real entry
point (`phoenix validate`), like tests/config/test_hostile_input.py."""

from __future__ import annotations

import copy
import json

import pytest

from phoenix_remote.cli.main import main
from tests.config.test_hostile_input import BASE, INVENTORY, SENTINEL, dotted, run_validate

LXC = BASE["lxc"]
CT = "$.lxc.containers"


def lxc_leaves(node, path=("lxc",)):
    """Every scalar and list of the shipped lxc section, with its path."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from lxc_leaves(v, path + (k,))
    else:
        yield path, node


def put(doc, path, value):
    node = doc
    for p in path[:-1]:
        node = node.setdefault(p, {}) if isinstance(p, str) else node[p]
    node[path[-1]] = value


def wrong_values(value):
    """Values of the wrong type or range for a leaf of this kind."""
    if isinstance(value, bool):
        return [("string", "yes"), ("int", 1)]
    if isinstance(value, int):
        return [("negative", -1), ("huge", 10**12), ("float", 1.5), ("string", str(value))]
    if isinstance(value, list):
        return [("not-a-list", "x"), ("nested", [[value]])]
    if isinstance(value, str):
        return [("leading-dash", "-" + value), ("empty", ""), ("blank", " "),
                ("list", [value])]
    return []


# which leaves accept which of those forms (PVE's own, or ours documented in the schema)
# (setup_env values reach the scripts as environment data: any text is fine)
ACCEPTS = {"leading-dash": ("description", "PORTAINER_ROLE"),
           "blank": ("description", "PORTAINER_ROLE"), "empty": ("description", "PORTAINER_ROLE")}


def generic_cases():
    out = []
    for path, value in lxc_leaves(LXC):
        for kind, bad in wrong_values(value):
            if path[-1] in ACCEPTS.get(kind, ()):
                continue
            if kind == "string" and path[-1] in ("vmid",):
                continue
            out.append((f"{kind}:{dotted(path)}", path, bad, dotted(path[:-1])))
    return out


GENERIC = generic_cases()


@pytest.mark.parametrize("case,path,value,where", GENERIC, ids=[c[0] for c in GENERIC])
def test_wrong_shapes_in_the_lxc_section(case, path, value, where, tmp_path, capsys):
    doc = copy.deepcopy(BASE)
    put(doc, path, value)
    code, text = validate_doc(doc, tmp_path, capsys)
    assert code == 3 and where in text and "Traceback" not in text, text


def validate_doc(doc, tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(doc))
    code, text = run_validate(capsys, ["-c", str(cfg)])
    assert str(cfg) in text or code == 0, text
    return code, text


def container(vmid="910", **changes):
    """A mutation of one shipped container."""
    def mutate(doc):
        doc["lxc"]["containers"][vmid].update(changes)
    return mutate


HOOKS = ["pre-start", "pre-mount", "mount", "start", "stop", "post-stop", "clone", "destroy",
         "autodev", "version"]
HOST_PATHS = ["/", "/etc", "/etc/pve", "/root", "/var/lib/pve-cluster", "/boot", "/usr",
              "/dev", "/dev/nvidia0", "/proc", "/sys", "/var", "/var/lib", "/etc/../etc",
              r"/etc\040x/../..", "/run", "/var/log", "/lib/modules"]
HOST_ACCESS = (
    [(f"hook-{h}", [f"lxc.hook.{h}: /tmp/x.sh"]) for h in HOOKS]
    + [(f"net-script-{d}", [f"lxc.net.0.script.{d}: /tmp/x"]) for d in ("up", "down")]
    + [(f"mount-{p}", [f"lxc.mount.entry: {p} mnt/x none bind,create=dir 0 0"])
       for p in HOST_PATHS]
    + [("mount-fstab", ["lxc.mount.fstab: /etc/fstab"]),
       ("mount-auto-rw", ["lxc.mount.auto: proc:rw sys:rw"]),
       ("mount-auto-cgroup-rw", ["lxc.mount.auto: cgroup:rw"]),
       ("apparmor-unconfined", ["lxc.apparmor.profile: unconfined"]),
       ("cap-drop-empty", ["lxc.cap.drop:"]),
       ("all-devices", ["lxc.cgroup2.devices.allow: a"])])
NEVER = [("include", ["lxc.include: /etc/shadow"]), ("log-file", ["lxc.log.file: /etc/shadow"]),
         ("console-logfile", ["lxc.console.logfile: /etc/passwd"]),
         ("rootfs-path", ["lxc.rootfs.path: /"]), ("idmap-raw", ["lxc.idmap: u 0 0 65536"]),
         ("cgroup-v1", ["lxc.cgroup.devices.allow: a"]), ("unknown-key", ["lxc.foo: 1"])]
IDMAP_HOST_ROOT = [("root-to-root", ["u 0 0 65536", "g 0 100000 65536"]),
                   ("range-over-root", ["u 0 100000 65536", "g 0 0 1"])]
IDMAP_BROKEN = [
    ("only-u", ["u 0 100000 65536"]),
    ("only-g", ["g 0 100000 65536"]),
    ("no-container-root", ["u 1 100000 65535", "g 1 100000 65535"]),
    ("overlap-container", ["u 0 100000 1000", "u 500 200000 10", "g 0 100000 65536"]),
    ("overlap-host", ["u 0 100000 1000", "u 1000 100500 10", "g 0 100000 65536"]),
    ("count-zero", ["u 0 100000 0", "g 0 100000 65536"]),
    ("out-of-range", ["u 0 4294967290 100", "g 0 100000 65536"]),
]

SEMANTIC = (
    [(f"host-access:{n}", container(raw_lxc=lines), f"{CT}.910.raw_lxc[0]")
     for n, lines in HOST_ACCESS]
    + [(f"never:{n}", container(raw_lxc=lines, allow_host_access=True), f"{CT}.910.raw_lxc[0]")
       for n, lines in NEVER]
    + [(f"idmap-host-root:{n}", container(idmap=m), f"{CT}.910.idmap")
       for n, m in IDMAP_HOST_ROOT]
    + [(f"idmap-broken:{n}", container(idmap=m, allow_host_access=True), f"{CT}.910.idmap")
       for n, m in IDMAP_BROKEN]
    + [(f"address:{n}", container(net={"net0": {"ip": ip}}), f"{CT}.910.net.net0")
       for n, ip in (("network", "10.0.0.0/24"), ("broadcast", "10.0.0.255/24"),
                     ("gateway", "10.0.0.1/24"), ("everything", "0.0.0.0/0"),
                     ("prefix-0", "10.0.0.99/0"), ("unspecified", "0.0.0.0/24"),
                     ("hypervisor", "10.0.0.13/24"))]
    + [(f"mac:{n}", container(net={"net0": {"ip": "10.0.0.99/24", "hwaddr": m}}),
        f"{CT}.910.net.net0") for n, m in (("multicast", "01:00:5E:00:00:01"),
                                           ("broadcast", "FF:FF:FF:FF:FF:FF"),
                                           ("zero", "00:00:00:00:00:00"))]
    + [(f"snapshot:{n}", container("900", snapshot=n), f"{CT}.900.snapshot")
       for n in ("current", "vzdump", "a", "1abc", "x" * 41, "with space", "dot.ted")]
    + [(f"mount-path:{n}", container(mounts={"mp0": {"dataset": "fastData/shared-bulk-data",
                                                     "path": p}}), f"{CT}.910.mounts.mp0")
       for n, p in (("comma", "/data,ro=0"), ("equals", "/data=x"), ("dotdot", "/data/../x"),
                    ("dot", "/data/./x"), ("root", "/"), ("relative", "data"),
                    ("trailing-dotdot", "/data/.."))]
    + [(f"slot:{s}", container(**{k: {s: v}}), f"{CT}.910.{k}")
       for k, s, v in (("net", "net32", {"ip": "dhcp"}), ("net", "net99", {"ip": "dhcp"}),
                       ("mounts", "mp256", {"volume_gb": 1, "path": "/x"}),
                       ("mounts", "mp259", {"volume_gb": 1, "path": "/x"}))]
    + [(f"hostname:{n}", container(hostname=h), f"{CT}.910.hostname")
       for n, h in (("underscore", "a_b"), ("dash-end", "ab-"), ("dot-end", "a.b."),
                    ("empty-label", "a..b"), ("long-label", "a" * 64 + ".x"),
                    ("too-long", ".".join(["a" * 60] * 5)), ("dash-start", "-x"))]
    + [(f"check:{n}", lambda doc, c=c: doc["lxc"]["setup"]["docker"].update(check=c),
        "$.lxc.setup.docker.check") for n, c in (("dash", "-c true"), ("blank", " true"),
                                                  ("long-dash", "--version"))]
    + [("health:dash", container(health_check={"command": "-x"}), f"{CT}.910.health_check")]
    + [(f"script:{n}", lambda doc, p=p: doc["lxc"]["setup"]["docker"].update(script=p),
        "$.lxc.setup.docker.script")
       for n, p in (("absolute", "/etc/lxc_setup/docker.sh"), ("dotdot", "../../x.sh"),
                    ("inner-dotdot", "lxc_setup/../../x.sh"), ("dash", "-x.sh"),
                    ("not-sh", "lxc_setup/docker.py"))]
    + [(f"clone:{n}", m, w) for n, m, w in (
        ("cycle", lambda doc: doc["lxc"]["containers"]["900"].update(
            template=None, clone={"vmid": 953, "snapshot": "x"}), "$.lxc.containers"),
        ("self", container("902", clone={"vmid": 902, "snapshot": "docker_snapshot"}),
         f"{CT}.902.clone"),
        ("missing-source", container("902", clone={"vmid": 999, "snapshot": "s1"}),
         f"{CT}.902.clone.vmid"))]
)


def _template_url(url):
    def mutate(doc):
        t = doc["lxc"]["templates"]["ubuntu-24.04"]
        t.update(url=url, checksum="a" * 64, checksum_algorithm="sha256")
    return mutate


CREDENTIAL_URLS = [f"https://user:{SENTINEL}@example.org/t.tar.zst",
                   f"https://{SENTINEL}@example.org/t.tar.zst",
                   f"http://a:{SENTINEL}@h/x", f"https://x:{SENTINEL}@h:443/p?q=1"]
SEMANTIC += [(f"template-url-credential:{i}", _template_url(u), "$.lxc.templates")
             for i, u in enumerate(CREDENTIAL_URLS)]


def _drop_none(doc):
    """`template: None` in a case means: no template (a clone)."""
    for ct in doc["lxc"]["containers"].values():
        if ct.get("template", "") is None:
            del ct["template"]


@pytest.mark.parametrize("case,mutate,where", SEMANTIC, ids=[c[0] for c in SEMANTIC])
def test_dangerous_container_values(case, mutate, where, tmp_path, capsys):
    doc = copy.deepcopy(BASE)
    mutate(doc)
    _drop_none(doc)
    code, text = validate_doc(doc, tmp_path, capsys)
    assert code == 3 and where in text and "Traceback" not in text, text
    assert SENTINEL not in text, text


# ------------------------------------------------------------------ per-release values
def _nvidia9(**values):
    def mutate(doc):
        doc["nvidia"]["by_pve_major"]["9"].update(values)
    return mutate


MODPROBE_BAD = ["install nouveau /bin/sh -c 'id > /tmp/x'", "remove nouveau /bin/true",
                "softdep nvidia pre: evil", "options nouveau modeset=0; id",
                "blacklist nouveau extra", "alias x y", "options", "blacklist ../x"]
RELEASE = (
    [(f"blacklist:{i}", lambda doc, ln=ln: doc["nvidia"].update(blacklist_lines=[ln]),
      "$.nvidia.blacklist_lines[0]") for i, ln in enumerate(MODPROBE_BAD)]
    + [(f"blacklist-9:{i}", _nvidia9(blacklist_lines=[ln]),
        "$.nvidia.by_pve_major.9.blacklist_lines[0]") for i, ln in enumerate(MODPROBE_BAD)]
    + [(f"repo-9:{n}", _nvidia9(repository=r), "$.nvidia.by_pve_major.9.repository")
       for n, r in (("trusted", "deb [trusted=yes] https://x.example/ /"),
                    ("allow-insecure", "deb [allow-insecure=yes] https://x.example/ /"),
                    ("newline", "deb https://x/ /\ndeb [trusted=yes] http://y/ /"))]
    + [("key-url-http-9", _nvidia9(repository_key_url="http://x.example/k.pub"),
        "$.nvidia.by_pve_major.9.repository_key_url"),
       ("key-url-http", lambda doc: doc["nvidia"].update(
           repository_key_url="http://x.example/k.pub"), "$.nvidia.repository_key_url")]
    + [(f"apt-repo:{n}", lambda doc, r=r: doc["apt"].update(repositories=[r]),
        "$.apt.repositories[0]")
       for n, r in (("trusted", "deb [trusted=yes] https://x.example/ s main"),
                    ("weak", "deb [allow-weak=yes] https://x.example/ s main"),
                    ("http-unsigned", "deb http://mirror.example.org/debian bookworm main"))]
    + [(f"release-file-9:{n}", _nvidia9(**{k: v}), f"$.nvidia.by_pve_major.9.{k}")
       for n, k, v in (("repo-file", "repository_file", "/etc/passwd"),
                       ("keyring", "repository_keyring", "/etc/shadow"),
                       ("blacklist-file", "blacklist_file", "/etc/modprobe.d/../x.conf"))]
)

SAMBA_BAD = ["root preexec", "preexec", "postexec", "root postexec", "exec", "include",
             "add user script", "print command", "message command", "panic action",
             "passwd program", "dfree command", "magic script", "username map script",
             "config file", "smb passwd file", "username map", "log file", "private dir",
             "check password script"]
HOST_SURFACE = (
    [(f"samba-global:{k}", lambda doc, k=k: doc["samba"]["global"].update({k: "/bin/id"}),
      f"$.samba.global['{k}']") for k in SAMBA_BAD]
    + [(f"samba-share:{k}", lambda doc, k=k: doc["samba"]["shares"][0]["options"].update(
        {k: "/bin/id"}), "$.samba.shares[0].options") for k in SAMBA_BAD[:8] + ["path"]]
    + [("samba-wide-links", lambda doc: doc["samba"]["global"].update(
        {"allow insecure wide links": "yes"}), "$.samba.global")]
    + [(f"nfs:{o}", lambda doc, o=o: doc["nfs"].update(exports=[
        {"dataset": "fastData/shared-bulk-data", "options": f"rw,{o}"}]),
        "$.nfs.exports[0].options") for o in ("no_root_squash", "insecure", "no_all_squash")]
    + [("nfs-default-no-root-squash", lambda doc: doc["nfs"].update(
        default_options="rw,sync,no_root_squash"), "$.nfs.default_options")]
    + [(f"network:{n}", lambda doc, a=a: doc["network"].update(address=a), "$.network.address")
       for n, a in (("network", "10.0.0.0/24"), ("broadcast", "10.0.0.255/24"),
                    ("everything", "0.0.0.0/0"), ("prefix-0", "10.0.0.13/0"))]
)


@pytest.mark.parametrize("case,mutate,where", RELEASE + HOST_SURFACE,
                         ids=[c[0] for c in RELEASE + HOST_SURFACE])
def test_dangerous_host_values(case, mutate, where, tmp_path, capsys):
    doc = copy.deepcopy(BASE)
    mutate(doc)
    code, text = validate_doc(doc, tmp_path, capsys)
    assert code == 3 and where in text and "Traceback" not in text, text


# ------------------------------------------------------------------ inventory overrides
def _inv_lines(config: dict, containers=(910, 900, 902, 901, 953), extra: str = "") -> str:
    return (INVENTORY + f"    containers: {list(containers)}\n"
            + f"    config: {json.dumps(config)}\n" + extra)


OVERRIDES = (
    [(f"override-raw:{n}", {"lxc": {"containers": {"910": {"raw_lxc": lines}}}},
      "config.lxc.containers.910.raw_lxc[0]") for n, lines in HOST_ACCESS + NEVER]
    + [(f"override-idmap:{n}", {"lxc": {"containers": {"910": {"idmap": m}}}},
        "config.lxc.containers.910.idmap") for n, m in IDMAP_HOST_ROOT + IDMAP_BROKEN]
    + [(f"override-blacklist:{i}", {"nvidia": {"blacklist_lines": [ln]}},
        "config.nvidia.blacklist_lines[0]") for i, ln in enumerate(MODPROBE_BAD)]
    + [(f"override-blacklist-9:{i}", {"nvidia": {"by_pve_major": {"9": {
        "blacklist_lines": [ln]}}}}, "config.nvidia.by_pve_major.9.blacklist_lines[0]")
       for i, ln in enumerate(MODPROBE_BAD[:4])]
    + [(f"override-samba:{k}", {"samba": {"global": {k: "/bin/id"}}}, "config.samba.global")
       for k in SAMBA_BAD[:10]]
    + [(f"override-address:{n}", {"lxc": {"containers": {"910": {"net": {"net0": {
        "ip": ip}}}}}}, "config.lxc.containers.910.net.net0")
       for n, ip in (("network", "10.0.0.0/24"), ("gateway", "10.0.0.1/24"),
                     ("everything", "0.0.0.0/0"))]
    + [("override-firewall-no-ssh", {"firewall": {"allow": ["8006/tcp"]}}, "firewall.allow"),
       ("override-url-credential", {"lxc": {"templates": {"ubuntu-24.04": {
           "url": CREDENTIAL_URLS[0], "checksum": "a" * 64,
           "checksum_algorithm": "sha256"}}}}, "config.lxc.templates"),
       ("override-network-broadcast", {"network": {"address": "10.0.0.255/24"}},
        "config.network.address")]
)


@pytest.mark.parametrize("case,config,where", OVERRIDES, ids=[c[0] for c in OVERRIDES])
def test_dangerous_inventory_overrides(case, config, where, tmp_path, capsys):
    (tmp_path / "inv.yaml").write_text(_inv_lines(config))
    code, text = run_validate(capsys, ["-i", str(tmp_path / "inv.yaml")])
    assert code == 3 and where in text and "Traceback" not in text, text
    assert SENTINEL not in text, text


def test_a_custom_ssh_port_needs_its_own_firewall_rule(tmp_path, capsys):
    (tmp_path / "inv.yaml").write_text(INVENTORY + "    ssh: {port: 2222}\n")
    code, text = run_validate(capsys, ["-i", str(tmp_path / "inv.yaml")])
    assert code == 3 and "port 2222" in text and "'2222/tcp'" in text, text


FLEET = """
defaults:
  secrets: {admin_password: {env: PH_HOSTILE_UNSET_A}, smb_password: {env: PH_HOSTILE_UNSET_B}}
  drives:
    quickOS: [/dev/disk/by-id/nvme-A, /dev/disk/by-id/nvme-B]
    fastData: [/dev/disk/by-id/nvme-C]
hosts:
  h1: {address: 10.0.0.21, containers: [900, 910, 902]}
  h2: {address: 10.0.0.22, containers: [900, 910, 902]}
  h3: {address: 10.0.0.99}
"""


@pytest.mark.parametrize("host", [None, "h1", "h3"])
def test_container_addresses_are_checked_across_the_whole_inventory(host, tmp_path, capsys):
    """910 on h1 and h2 share an address; h3's own address is 910's: reported by validate
    and by `config show` of one host (which resolves that host alone, as --limit does)."""
    (tmp_path / "inv.yaml").write_text(FLEET)
    inv = ["-i", str(tmp_path / "inv.yaml")]
    if host:
        code = main(["config", "show", host, *inv])
        out = capsys.readouterr()
        text = out.out + out.err
    else:
        code, text = run_validate(capsys, inv)
    assert code == 3, text
    assert "has the address 10.0.0.99 of the hypervisor h3" in text, text
    if host != "h3":
        assert "container 910 on h2 (net0) has the address 10.0.0.99 of container 910 on h1" \
            in text, text


# ------------------------------------------------------------------ the valid side
VALID = [
    ("fqdn-hostname", container(hostname="portainer.lab.example.org")),
    ("long-fqdn", container(hostname=".".join(["a" * 63] * 3))),
    ("escaped-mount", container(raw_lxc=[r"lxc.mount.entry: /fastData/my\040share srv/x "
                                         "none bind,create=dir 0 0"])),
    ("data-mount", container(raw_lxc=["lxc.mount.entry: /mnt/media mnt/media none bind 0 0"])),
    ("hook-allowed", container(raw_lxc=["lxc.hook.pre-start: /usr/local/bin/x"],
                               allow_host_access=True)),
    ("idmap-root-allowed", container(idmap=["u 0 0 65536", "g 0 0 65536"],
                                     allow_host_access=True)),
    ("idmap-passthrough", container(idmap=["u 0 100000 1000", "u 1000 1000 1",
                                           "u 1001 101001 64535", "g 0 100000 65536"])),
    ("snapshot-with-dash", lambda doc: (doc["lxc"]["containers"]["900"].update(
        snapshot="base-snapshot"), doc["lxc"]["containers"]["901"].update(
        clone={"vmid": 900, "snapshot": "base-snapshot"}),
        doc["lxc"]["containers"]["902"].update(clone={"vmid": 900,
                                                      "snapshot": "base-snapshot"}))),
    ("net31-mp255", container(net={"net0": {"ip": "10.0.0.99/24"}, "net31": {"ip": "dhcp"}},
                              mounts={"mp255": {"volume_gb": 1, "path": "/x"}})),
    ("point-to-point", container(net={"net0": {"ip": "10.9.0.0/31", "gw": "10.9.0.1"}})),
    ("nfs-root-allowed", lambda doc: doc["nfs"].update(exports=[
        {"dataset": "fastData/shared-bulk-data", "options": "rw,no_root_squash",
         "allow_root_access": True}])),
    ("samba-debian-defaults", lambda doc: None),
    ("https-template", _template_url("https://images.example.org/t.tar.zst")),
]


@pytest.mark.parametrize("case,mutate", VALID, ids=[c[0] for c in VALID])
def test_valid_neighbours_pass(case, mutate, tmp_path, capsys):
    doc = copy.deepcopy(BASE)
    mutate(doc)
    code, text = validate_doc(doc, tmp_path, capsys)
    assert code == 0, text


def test_case_count():
    """The issue's floor: at least 250 generated lxc and override cases."""
    assert len(GENERIC) + len(SEMANTIC) + len(RELEASE) + len(OVERRIDES) >= 250


# ------------------------------------------------------------------ size and time
def _chain(n: int) -> dict:
    doc = copy.deepcopy(BASE)
    cts = {"100": {"hostname": "t0", "template": "ubuntu-24.04", "cores": 1, "memory_mb": 64,
                   "disk_gb": 1, "snapshot": "s1", "state": "stopped"}}
    for i in range(1, n):
        cts[str(100 + i)] = {"hostname": f"t{i}", "clone": {"vmid": 99 + i, "snapshot": "s1"},
                             "cores": 1, "memory_mb": 64, "disk_gb": 1, "snapshot": "s1",
                             "state": "stopped"}
    doc["lxc"]["containers"] = cts
    return doc


def test_a_thousand_deep_clone_chain_is_refused_at_once(tmp_path):
    """The cycle and depth checks are linear: a 1,000-deep chain is refused by a fresh
    process well within its timeout (it took minutes when the check was cubic)."""
    import subprocess
    import sys

    from tests.conftest import ROOT
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(_chain(1000)))
    p = subprocess.run([sys.executable, "-m", "phoenix_remote", "validate", "-c", str(cfg)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 3 and "at most 32 are allowed" in p.stderr, p.stderr[-2000:]
    assert p.stderr.count("clone of a clone") == 1  # reported once, where it goes too deep


def test_ordering_a_deep_chain_needs_no_recursion():
    from phoenix_remote.config.lxc import LxcConfig
    lxc = LxcConfig.model_validate(_chain(5000)["lxc"])
    order = lxc.in_order(tuple(range(5099, 99, -1)))
    assert order[:3] == [100, 101, 102] and len(order) == 5000


def test_a_minimum_is_named_as_it_is(tmp_path, capsys):
    """jsonschema says "0 is less than the minimum of 20"; dropping every "0" from that
    text once turned it into "minimum of 2"."""
    doc = copy.deepcopy(BASE)
    doc["network"]["confirm_seconds"] = 0
    code, text = validate_doc(doc, tmp_path, capsys)
    assert code == 3 and "less than the minimum of 20" in text, text
    doc = copy.deepcopy(BASE)
    doc["lxc"]["containers"]["910"]["clone"]["vmid"] = 10
    code, text = validate_doc(doc, tmp_path, capsys)
    assert code == 3 and "less than the minimum of 100" in text, text
    doc["lxc"]["containers"]["910"]["cores"] = 10000
    doc["lxc"]["containers"]["910"]["memory_mb"] = 1024
    code, text = validate_doc(doc, tmp_path, capsys)
    assert "is greater than the maximum of 8192" in text and "found 10000" in text, text


def test_zz_report_slowest_lxc_case(capsys):
    """Not an assertion on time: prints the slowest validate of this module's cases."""
    from tests.config.test_hostile_input import SLOWEST
    mine = [s for s in SLOWEST if "c.json" in s[1] or "inv.yaml" in s[1]]
    if mine:
        with capsys.disabled():
            took, what = max(mine)
            print(f"\nhostile lxc input: slowest validate {took:.2f} s ({what})")
