"""Every fact module tells "not there" (an answer) from "could not read" (unknown): the
absent cases run the real commands through the batch on this machine; a missing command
(exit 127, nothing printed) is unknown in every module."""

from functools import partial

import pytest

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.facts import firewall, nvidia, packages, services, system, users, zfs
from phoenix_remote.host import files
from phoenix_remote.host.batch import Out, collect
from phoenix_remote.host.host import Host
from tests.fake_transport import FakeTransport
from tests.steps.test_step_cases import host_config

NOBODY = "phoenix-no-such-user"


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    """Real outputs of the fact commands on this machine, through one batch."""
    d = tmp_path_factory.mktemp("facts")
    (d / "file").write_text("text\n")
    (d / "empty").write_text("")
    host = Host(host_config({}), readonly=True, transport=FakeTransport())
    return collect(host, {
        "file": files.read(str(d / "file")), "missing": files.read(str(d / "nope")),
        "a_directory": files.read(str(d)),
        "exists": files.exists(str(d / "file")), "not_exists": files.exists(str(d / "nope")),
        "empty_nonempty": files.exists(str(d / "empty"), nonempty=True),
        "root": users.account_query("root"), "nobody": users.account_query(NOBODY),
        "root_groups": users.groups_query("root"), "nobody_groups": users.groups_query(NOBODY),
        "nobody_keys": users.keys_query(NOBODY), "nobody_modes": users.ssh_modes_query(NOBODY),
        "dpkg_unknown_name": packages.installed_query(["phoenix-no-such-package"]),
    })


def test_absent_is_an_answer(answers):
    assert files.content(answers["file"], "f") == "text\n"
    assert files.content(answers["missing"], "f") is None
    assert files.present(answers["exists"], "f") is True
    assert files.present(answers["not_exists"], "f") is False
    assert files.present(answers["empty_nonempty"], "f") is False
    assert users.account(answers["root"])["home"] == "/root"
    assert users.account(answers["nobody"]) is None
    assert "root" in users.groups(answers["root_groups"])
    assert users.groups(answers["nobody_groups"]) == []
    assert users.home_lines(answers["nobody_keys"], "keys") == []
    assert users.home_lines(answers["nobody_modes"], "modes") == []
    assert packages.installed(answers["dpkg_unknown_name"]) == set()


def test_a_file_that_cannot_be_read_is_unknown(answers):
    with pytest.raises(ProbeUnknown, match="cannot read"):
        files.content(answers["a_directory"], "a directory")


MISSING_COMMAND = Out(127, "")
READERS = {
    "files.content": partial(files.content, path="/etc/x"),
    "files.present": partial(files.present, path="/etc/x"),
    "users.account": users.account, "users.groups": users.groups,
    "users.password": users.password,
    "users.home_lines": partial(users.home_lines, what="keys"),
    "users.samba_hash(installed, failing)": lambda out: users.samba_hash(Out(1, ""), "u"),
    "services.active": partial(services.active, unit="smbd"),
    "services.enabled": partial(services.enabled, unit="chrony"),
    "system.pve_major": system.pve_major, "system.debian": system.debian,
    "system.kernel": system.kernel, "system.hostname": system.hostname,
    "system.timezone": system.timezone,
    "nvidia.gpu": nvidia.gpu, "nvidia.loaded": nvidia.loaded,
    "nvidia.mtime": partial(nvidia.mtime, what="initramfs"),
    "packages.installed": packages.installed, "packages.manual": packages.manual,
    "packages.upgrades": packages.upgrades,
    "zfs.names": zfs.names, "zfs.props": zfs.props, "zfs.status": zfs.status,
    "firewall.status_text(installed)": partial(firewall.status_text, installed=True),
}


@pytest.mark.parametrize("read", READERS.values(), ids=READERS.keys())
def test_a_missing_command_is_unknown(read):
    with pytest.raises(ProbeUnknown):
        read(MISSING_COMMAND)


def test_answers_that_are_not_failures():
    assert users.password(Out(3, "")) == "no user"
    assert users.samba_hash(MISSING_COMMAND, "u") is None  # Samba not installed (yet)
    assert services.active(Out(3, "inactive\n"), "smbd") == "inactive"
    assert services.enabled(Out(1, ""), "chrony") == "not-found"
    assert nvidia.mtime(Out(files.ABSENT, ""), "initramfs") == 0
    assert system.pve_major(Out(0, "pve-manager/8.4.1/2a5fa54a (running kernel: 6.8)")) == 8
    with pytest.raises(ProbeUnknown, match="no pve-manager"):
        system.pve_major(Out(0, "bash: something else"))
    assert packages.upgrades(Out(0, "Inst a [1] (2 x)\nConf a (2 x)\nInst b (1 x)\n")) == 2


def test_an_apt_lists_folder_that_cannot_be_listed_is_unknown():
    """initial_setup read `ls /var/lib/apt/lists/` without its exit code: a failing ls
    looked like "never updated"."""
    from phoenix_remote.steps.initial_setup import listing
    assert listing(Out(0, "a_InRelease\n"), "/var/lib/apt/lists/") == "a_InRelease\n"
    with pytest.raises(ProbeUnknown, match="cannot list /var/lib/apt/lists/"):
        listing(Out(2, ""), "/var/lib/apt/lists/")
