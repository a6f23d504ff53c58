"""The sandbox's Proxmox API answers like PVE 8.4 and is checked against its schema (issue 4)."""

import json
import ssl
import sys
import time

import pytest
import requests
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tests/sandbox/guest"))
import pveschema  # noqa: E402

pytestmark = pytest.mark.sandbox
OPS = json.loads((ROOT / "phoenix_remote/data/pve-8.4-endpoints.json").read_text())["operations"]


def api_for(host, **kw):
    password = open(host.info["root_password_file"]).read().strip()
    return ProxmoxAPI(host.address, user="root@pam", password=password,
                      verify_ssl=host.info["ca_file"], timeout=30, **kw)


@pytest.fixture
def api(sandbox):
    return api_for(sandbox[0])


@pytest.fixture
def faults(sandbox):
    host = sandbox[0]

    def set_faults(**values):
        host.ssh(f"echo '{json.dumps(values)}' > /var/lib/sandbox/pve-faults.json")
    yield set_faults
    host.ssh("rm -f /var/lib/sandbox/pve-faults.json")


def test_dir_storage_round_trip_and_pve_wording(api):
    try:
        api.storage("phx-test").delete()
    except ResourceException:
        pass
    assert api.storage.post(storage="phx-test", type="dir", path="/srv/phx-test",
                            content="iso,backup") == {"storage": "phx-test", "type": "dir"}
    got = api.storage("phx-test").get()
    assert got["path"] == "/srv/phx-test" and got["content"] == "backup,iso"
    with pytest.raises(ResourceException) as again:
        api.storage.post(storage="phx-test", type="dir", path="/srv/phx-test")
    assert again.value.status_code == 500
    assert "create storage failed: storage ID 'phx-test' already defined" in str(again.value)
    with pytest.raises(ResourceException) as zfs:
        api.storage.post(storage="phx-z", type="zfspool", pool="rpool", content="backup")
    assert "storage does not support content type 'backup'" in str(zfs.value)
    with pytest.raises(ResourceException) as boolean:
        api.storage("phx-test").put(disable=True)
    assert boolean.value.status_code == 400
    assert boolean.value.errors == {"disable": "type check ('boolean') failed - got 'True'"}
    api.storage("phx-test").put(disable=1)
    assert api.storage("phx-test").get()["disable"] == 1
    api.storage("phx-test").delete()


def test_disks_list_reflects_drives_and_pools(fresh_host):
    api = api_for(fresh_host)
    node = api.nodes.get()[0]["node"]
    disks = {d["devpath"]: d for d in api.nodes(node).disks.list.get()}
    assert sorted(disks) == ["/dev/nvme0n1", "/dev/nvme1n1", "/dev/nvme2n1", "/dev/nvme3n1"]
    assert "used" not in disks["/dev/nvme0n1"] and disks["/dev/nvme3n1"]["used"] == "partitions"
    d = fresh_host.info["drives"]
    fresh_host.ssh(f"zpool create quickOS mirror {d[0]} {d[1]}")
    disks = {x["devpath"]: x for x in api.nodes(node).disks.list.get()}
    assert disks["/dev/nvme0n1"]["used"] == "ZFS" and disks["/dev/nvme1n1"]["used"] == "ZFS"
    assert "used" not in disks["/dev/nvme2n1"]
    assert [p["name"] for p in api.nodes(node).disks.zfs.get()] == ["quickOS"]


def test_token_auth_and_permissions(api, sandbox):
    host = sandbox[0]
    for uid in ("phxtest@pve",):
        try:
            api.access.users(uid).delete()
        except ResourceException:
            pass
    api.access.users.post(userid="phxtest@pve", password="Secret-pass1!")
    tok = api.access.users("phxtest@pve").token("t1").post(privsep=0)
    assert tok["full-tokenid"] == "phxtest@pve!t1" and len(tok["value"]) == 36
    as_token = ProxmoxAPI(host.address, user="phxtest@pve", token_name="t1",
                          token_value=tok["value"], verify_ssl=host.info["ca_file"], timeout=30)
    with pytest.raises(ResourceException) as denied:
        as_token.storage.get()
    assert denied.value.status_code == 403
    api.access.acl.put(path="/", roles="Administrator", users="phxtest@pve")
    assert {"path": "/", "type": "user", "ugid": "phxtest@pve", "roleid": "Administrator",
            "propagate": 1} in api.access.acl.get()
    assert any(s["storage"] == "local" for s in as_token.storage.get())
    bad = ProxmoxAPI(host.address, user="phxtest@pve", token_name="t1", token_value="x" * 36,
                     verify_ssl=host.info["ca_file"], timeout=30)
    with pytest.raises(ResourceException) as unauth:
        bad.version.get()
    assert unauth.value.status_code == 401
    api.access.users("phxtest@pve").delete()
    assert all(a["ugid"] != "phxtest@pve" for a in api.access.acl.get())


def test_certificate_from_another_ca_is_refused(sandbox):
    other_ca = str(ROOT / ".sandbox/ca" / f"{sandbox[1].name}-pve-root-ca.pem")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://{sandbox[0].address}:8006/api2/json/version", verify=other_ca,
                     timeout=10)
    ctx = ssl.create_default_context(cafile=sandbox[0].info["ca_file"])
    assert ctx.get_ca_certs()


def test_every_simulated_route_checks_parameters_and_answers_its_schema(api, sandbox):
    """Walk the routes the fake serves: an extra parameter is refused with PVE's 400, and
    GET answers fit the `returns` schema of PVE 8.4."""
    sys.path.insert(0, str(ROOT / "tests/sandbox/guest"))
    import pveapi  # the route table only; importing does not start a server
    node = api.nodes.get()[0]["node"]
    session = api._backend.get_session()  # proxmoxer's authenticated requests session
    base = f"https://{sandbox[0].address}:8006/api2/json"
    # a container on the node's own `local` storage, for the LXC routes
    sandbox[0].ssh("mkdir -p /var/lib/vz/template/cache && tar -czf "
                   "/var/lib/vz/template/cache/t.tar.gz -C /etc hostname && "
                   "(pct status 990 >/dev/null 2>&1 || "
                   "pct create 990 local:vztmpl/t.tar.gz --rootfs local:1 --hostname t990)")
    values = {"node": node, "storage": "local", "userid": "root@pam", "tokenid": "none",
              "upid": "UPID:x", "vmid": "990"}
    checked = 0
    for key in pveapi.ROUTES:
        method, template = key.split(" ", 1)
        path = template
        for k, v in values.items():
            path = path.replace("{" + k + "}", v)
        resp = session.request(method, base + path, params={"phx_bogus": "1"}, timeout=30)
        assert resp.status_code == 400, (key, resp.status_code, resp.text)
        assert resp.json()["errors"]["phx_bogus"].startswith("property is not defined in schema")
        checked += 1
        if method == "GET" and "{tokenid}" not in template and "{upid}" not in template:
            data = session.get(base + path, timeout=30).json()["data"]
            problems = pveschema.check_returns(OPS[key].get("returns"), data)
            assert not problems, (key, problems)
    assert checked == len(pveapi.ROUTES) >= 30


def test_faults_on_demand(api, faults, sandbox):
    faults(error_500=1)
    with pytest.raises(ResourceException) as e500:
        api.version.get()
    assert e500.value.status_code == 500
    assert api.version.get()["release"] == "8.4"
    faults(drop=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        api.version.get()
    assert api.version.get()["release"] == "8.4"
    faults(slow_seconds=1.5)
    t0 = time.monotonic()
    api.version.get()
    assert time.monotonic() - t0 >= 1.5
    faults(expire_tickets=True)
    with pytest.raises(ResourceException) as expired:
        api.version.get()
    assert expired.value.status_code == 401
    faults(task_error="zpool create failed: sandbox fault")
    host = sandbox[0]
    api2 = api_for(host)
    node = api2.nodes.get()[0]["node"]
    upid = api2.nodes(node).disks.zfs.post(name="tank", raidlevel="single",
                                           devices=host.info["drives"][2])
    assert upid.startswith(f"UPID:{node}:")
    for _ in range(50):
        status = api2.nodes(node).tasks(upid).status.get()
        if status["status"] == "stopped":
            break
        time.sleep(0.1)
    assert status["exitstatus"] == "zpool create failed: sandbox fault"
    log = [x["t"] for x in api2.nodes(node).tasks(upid).log.get()]
    assert log[-1] == "TASK ERROR: zpool create failed: sandbox fault"


def test_pve_cli_idioms_of_the_original_scripts(sandbox):
    """pvesm/pveum parse options as PVE's CLI does: single dash, unique prefixes, booleans
    alone; unknown or ambiguous options are refused with PVE's words."""
    host = sandbox[0]
    host.ssh("pvesm remove phx-cli 2>/dev/null; pveum user delete cli@pve 2>/dev/null; true")
    try:
        host.ssh("pvesm add dir phx-cli -path /srv/phx-cli -content iso")
        assert not host.ssh("test -d /srv/phx-cli", check=False).returncode  # created
        host.ssh("pvesm set phx-cli --content=iso,vztmpl -dis")  # a unique prefix, a bare boolean
        section = host.ssh("sed -n '/^dir: phx-cli/,/^$/p' /etc/pve/storage.cfg").stdout
        # PVE's order: header, disable, the fixed option, then the optional ones sorted
        assert section.strip().splitlines() == ["dir: phx-cli", "\tdisable", "\tpath /srv/phx-cli",
                                        "\tcontent iso,vztmpl"], section
        for bad, words in (("-pth /x", "Unknown option: pth"),
                           ("-c iso", "Option c is ambiguous")):
            r = host.ssh(f"pvesm add dir phx-bad -path /srv/b {bad}", check=False)
            assert r.returncode == 255 and words in r.stderr, r.stderr
            assert "400 unable to parse option" in r.stderr
        host.ssh("pveum user add cli@pve -comment 'from the original'")
        host.ssh("pveum acl modify / -user cli@pve -role Administrator")
        assert "cli@pve" in host.ssh("pveum acl list").stdout
    finally:
        host.ssh("pvesm remove phx-cli; pveum user delete cli@pve; rm -rf /srv/phx-cli",
                 check=False)


def test_storage_cfg_order_does_not_depend_on_the_request(api, sandbox):
    host = sandbox[0]
    try:
        api.storage.post(storage="phx-order", type="dir", shared=1, content="backup,iso",
                         path="/srv/phx-order", **{"create-base-path": 1})
        section = host.ssh("sed -n '/^dir: phx-order/,/^$/p' /etc/pve/storage.cfg").stdout
        assert section.strip().splitlines() == ["dir: phx-order", "\tpath /srv/phx-order",
                                        "\tcontent backup,iso", "\tcreate-base-path 1",
                                        "\tshared 1"], section
    finally:
        api.storage("phx-order").delete()
        host.ssh("rm -rf /srv/phx-order", check=False)
