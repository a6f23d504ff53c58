"""PveClient: the Proxmox VE REST API of one host, through proxmoxer, typed and checked.

- TLS is verified by default against the node's own CA (/etc/pve/pve-root-ca.pem), read
  over the already-verified SSH session, or a CA file from the inventory; --insecure warns.
- Every call is checked against the official schema of the node's own release (PVE 8.4 or
  9.1, from GET /version, asked once) before it is sent (names, types, enums, required,
  booleans as 1/0): a wrong call fails here, not on a node.
- Transient transport errors are retried (tenacity, the config's retry policy); an expired
  ticket is renewed once; PVE's own error text is kept in ApiError.
- Task UPIDs are waited for; a task ending in error raises with its log.
"""

from __future__ import annotations

import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from proxmoxer import ProxmoxAPI
from proxmoxer.core import AuthenticationError, ResourceException
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

from phoenix_remote.errors import ApiError, PhoenixError, TaskFailed
from phoenix_remote.pve_schema import load_operations, match, schema_version, validate

CA_PATH = "/etc/pve/pve-root-ca.pem"
_OPERATIONS = {"8.4": load_operations("8.4")}


def operations(major: int) -> dict:
    """The API methods of PVE `major` (9 and later: the 9.1 schema)."""
    version = schema_version(major)
    if version not in _OPERATIONS:
        _OPERATIONS[version] = load_operations(version)
    return _OPERATIONS[version]


class Transient(Exception):
    """A transport failure worth retrying (connection refused/reset, timeout)."""


def _plain(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"  # PVE accepts only 1/0 for booleans
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


class PveClient:
    def __init__(self, host, major: int | None = None):
        self.host = host
        self.cfg = host.cfg
        self.calls: list[str] = []  # "METHOD /template" of every call, for schema tests
        self._api: ProxmoxAPI | None = None
        self._ca_file: Any = None  # the CA, written to a temporary file for requests
        self._node: str | None = None
        self._major = major  # None: asked of the node (GET /version) on the first call
        self._address = urllib.parse.urlsplit(self.cfg.api_url).hostname or self.cfg.address
        self._port = urllib.parse.urlsplit(self.cfg.api_url).port or 8006
        retry_cfg = self.cfg.config.retry
        self._retrying = retry(stop=stop_after_attempt(retry_cfg.attempts),
                               wait=wait_fixed(retry_cfg.delay_seconds),
                               retry=retry_if_exception_type(Transient), reraise=True)

    # ------------------------------------------------------------------ connection
    def reset(self, address: str | None = None) -> None:
        self._api = None
        self._node = None
        if address and not self.cfg.api.url:
            self._address = address

    def use_ca(self, pem: str) -> None:
        """The node's CA, already read over the verified SSH session."""
        self._ca_file = tempfile.NamedTemporaryFile("w", suffix=".pem", prefix="pve-ca-")
        self._ca_file.write(pem)
        self._ca_file.flush()

    def _verify(self):
        if self.host.insecure:
            # the engine warns once per host; urllib3 would warn on every request
            import urllib3
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            return False
        if self.cfg.api.ca_file:
            return self.cfg.api.ca_file
        if self._ca_file is None:
            pem = self.host.read_file(CA_PATH)
            if not pem:
                raise PhoenixError(f"{self.host.name}: {CA_PATH} not found; give api.ca_file "
                                   "in the inventory (or --insecure)")
            self.use_ca(pem)
        assert self._ca_file is not None
        return self._ca_file.name

    def _client(self) -> ProxmoxAPI:
        if self._api is not None:
            return self._api
        api, secrets = self.cfg.api, self.cfg.secrets
        common = {"port": self._port, "verify_ssl": self._verify(), "timeout": api.timeout,
                  "service": "PVE"}
        try:
            if api.token_id:
                if "api_token" not in secrets:
                    raise PhoenixError(f"{self.host.name}: api.token_id is set but its "
                                       "token_secret could not be resolved")
                user, _, name = api.token_id.partition("!")
                self._api = ProxmoxAPI(self._address, user=user, token_name=name,
                                       token_value=secrets["api_token"].reveal(), **common)
            elif api.user:
                if "api_password" not in secrets:
                    raise PhoenixError(f"{self.host.name}: api.user is set but its password "
                                       "could not be resolved")
                # logging in is a request too: its answer within the same deadline
                self._api = self._within_deadline(ProxmoxAPI, {
                    "host": self._address, "user": api.user,
                    "password": secrets["api_password"].reveal(), **common})
            else:
                raise PhoenixError(f"{self.host.name}: no Proxmox API credentials; set "
                                   "api.token_id + api.token_secret or api.user + api.password")
        except AuthenticationError:
            raise ApiError(401, f"{self.host.name}: authentication failure") from None
        except requests.exceptions.SSLError as e:
            raise ApiError(None, f"{self.host.name}: TLS verification of "
                              f"{self._address}:{self._port} failed: the API's certificate is "
                              f"not signed by the expected CA ({_short(e)})") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
            # logging in is idempotent: a cut or refused connection is worth another try
            raise Transient(f"cannot reach the Proxmox API at {self._address}:{self._port}: "
                            f"{_short(e)}") from None
        except requests.exceptions.RequestException as e:
            raise ApiError(None, f"{self.host.name}: cannot reach the Proxmox API at "
                              f"{self._address}:{self._port}: {_short(e)}") from None
        return self._api

    @property
    def major(self) -> int:
        """The node's PVE major release (GET /version, which both schemas have)."""
        if self._major is None:
            release = str(self.call("GET", "/version", {}, check_as=8).get("release", "8"))
            self._major = int(release.split(".")[0])
        return self._major

    @property
    def is_root(self) -> bool:
        """root@pam logged in by password: PVE lets only this principal set bind mounts,
        devices and most container features (a token of root@pam is not root@pam)."""
        return not self.cfg.api.token_id and self.cfg.api.user == "root@pam"

    @property
    def node(self) -> str:
        """This host's node name (the API's view: changes with the hostname)."""
        if self._node is None:
            local = [n for n in self.get("/cluster/status") if n.get("local")]
            self._node = local[0]["name"] if local else self.get("/nodes")[0]["node"]
        return self._node

    # ------------------------------------------------------------------ calls
    def get(self, api_path: str, /, **params):
        return self.call("GET", api_path, params)

    def get_all(self, requests: list[tuple[str, dict[str, str]]]) -> list[Any]:
        """GET several (path, params) at once over the one login: a probe waits for the
        slowest answer, not for the sum of them. The first error is raised."""
        if len(requests) < 2:
            return [self.get(path, **params) for path, params in requests]
        _ = self.node  # log in (and learn the node) once, before the threads share it
        with ThreadPoolExecutor(max_workers=min(8, len(requests))) as pool:
            return list(pool.map(lambda r: self.get(r[0], **r[1]), requests))

    def call(self, method: str, path: str, params: dict, check_as: int | None = None):
        clean = {k: v for k, v in ((k, _plain(v)) for k, v in params.items()) if v is not None}
        major = check_as or self.major
        ops = operations(major)
        key, placeholders = match(ops, method, path)
        if key is None:
            raise PhoenixError(f"{method} {path} is not a PVE {major} API method")
        if not ops[key].get("allowtoken", 1) and self.cfg.api.token_id:
            raise ApiError(None, f"{method} {path} cannot be called with an API token (PVE "
                                 "allows only a user's ticket there); give this host api.user "
                                 "and api.password")
        errors = validate(ops[key], {**clean, **placeholders})
        if errors:  # refuse before sending: the same answer PVE would give
            raise ApiError(400, f"{method} {path}: Parameter verification failed.", errors)
        self.calls.append(key)
        try:
            try:
                return self._retrying(self._send)(method, path, clean)
            except ApiError as e:
                if e.status != 401:
                    raise
                self._api = None  # ticket expired: log in again, once
                return self._retrying(self._send)(method, path, clean)
        except Transient as e:
            raise ApiError(None, f"{self.host.name}: {e} (after "
                              f"{self.cfg.config.retry.attempts} attempts)") from None

    def _send(self, method: str, path: str, params: dict):
        resource = self._client()(path.strip("/"))
        try:
            return self._within_deadline(getattr(resource, method.lower()), params)
        except ResourceException as e:
            message = (e.content or e.status_message or "").strip()
            raise ApiError(e.status_code, message, getattr(e, "errors", None)) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
            self._api = None
            if method == "POST" and not isinstance(e, requests.exceptions.ConnectTimeout):
                # a POST may have been applied before the connection dropped: don't repeat
                raise ApiError(None, f"{self.host.name}: connection lost during {method} "
                                  f"{path}: {_short(e)}") from None
            raise Transient(f"{method} {path}: {_short(e)}") from None

    def _within_deadline(self, request, params: dict):  # type: ignore[no-untyped-def]
        """The request's whole answer within api.timeout. requests' own timeout bounds each
        read, not the answer: an API that drips a byte at a time would hold the run
        forever. The request runs in a thread of its own; past the deadline it is left
        (its socket ends at the next read timeout) and the session is dropped."""
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["value"] = request(**params)
            except BaseException as e:  # noqa: BLE001 - handed to the caller below
                box["error"] = e
        worker = threading.Thread(target=work, name=f"api-{self.host.name}", daemon=True)
        worker.start()
        worker.join(self.cfg.api.timeout)
        if worker.is_alive():
            self._api = None
            raise requests.exceptions.ReadTimeout(
                f"no complete answer within api.timeout ({self.cfg.api.timeout:g} s)")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def login_works(self, userid: str, password: str) -> bool:
        """Whether PVE accepts this user's password: a ticket request over the verified
        TLS connection (the secret in the POST body only). No retry: a refusal is the
        answer, not a transient fault."""
        try:
            r = requests.post(f"https://{self._address}:{self._port}/api2/json/access/ticket",
                              data={"username": userid, "password": password},
                              verify=self._verify(), timeout=self.cfg.api.timeout)
        except requests.exceptions.RequestException as e:
            raise ApiError(None, f"{self.host.name}: login check for {userid} got no "
                                 f"answer: {_short(e)}") from None
        if r.status_code in (200, 401):
            return r.status_code == 200
        raise ApiError(r.status_code, f"login check for {userid}: {r.reason}")

    def wait_task(self, upid: str, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        node = upid.split(":")[1]
        while True:
            status = self.get(f"/nodes/{node}/tasks/{upid}/status")
            if status["status"] == "stopped":
                break
            if time.monotonic() > deadline:
                raise TaskFailed(None, f"task {upid} still running after {timeout:.0f} s: it "
                                       "goes on on the node (this step is recorded as failed "
                                       "with the task's id); the next run sees its result")
            time.sleep(0.5)
        if not _succeeded(status.get("exitstatus")):
            log = self.get(f"/nodes/{node}/tasks/{upid}/log", limit=50)
            tail = "\n".join(line["t"] for line in log[-10:])
            raise TaskFailed(500, f"task {status.get('type')} failed: "
                                  f"{status.get('exitstatus')}\n{tail}")


def _succeeded(exitstatus: str | None) -> bool:
    """PVE's task end: "OK", or "WARNINGS: n" (done, with warnings in its log)."""
    return exitstatus == "OK" or str(exitstatus).startswith("WARNINGS: ")


def _short(e: Exception) -> str:
    text = str(e)
    return text if len(text) < 300 else text[:297] + "..."
