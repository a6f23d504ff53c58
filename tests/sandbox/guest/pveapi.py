#!/usr/bin/python3
"""The sandbox host's Proxmox VE API on :8006 (HTTPS, the host's own CA), like pveproxy.

Every request is matched against the official schema of the PVE release the host plays
(8.4 or 9.1, pveschema.py): unknown
parameters, wrong types, booleans other than 1/0 and missing required ones are refused
with PVE's 400 answer before a handler (pvestate.py) runs. Auth by ticket (cookie
PVEAuthCookie + CSRFPreventionToken for writes) or API token (Authorization header).

Faults on demand for tests: /var/lib/sandbox/pve-faults.json, e.g.
{"slow_seconds": 3, "error_500": 2, "drop": 1, "expire_tickets": true, "task_error": "boom"}
(counters count down per request).
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import socket
import ssl
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import pveapt  # noqa: E402
import pvelxc  # noqa: E402
import pveschema  # noqa: E402
import pvestate as ps  # noqa: E402
import sbstate  # noqa: E402

# the schema of the release this host plays (PVE 8.4 or 9.1)
OPERATIONS = pveschema.load_operations(
    "9.1" if sbstate.platform()["release"].startswith("9") else "8.4")
TICKET_LIFETIME = 7200
SECRET_FILE = os.path.join(sbstate.STATE, "pve-auth-key")

ROUTES = {
    "GET /version": ps.version, "GET /nodes": ps.nodes,
    "GET /nodes/{node}/version": ps.version, "GET /nodes/{node}/status": ps.node_status,
    "GET /nodes/{node}/disks/list": ps.disks_list, "GET /nodes/{node}/disks/zfs": ps.disks_zfs,
    "POST /nodes/{node}/disks/zfs": ps.disks_zfs_create,
    "GET /nodes/{node}/storage": ps.node_storage,
    "GET /nodes/{node}/storage/{storage}/status": ps.node_storage_status,
    "GET /storage": ps.storage_list, "POST /storage": ps.storage_create,
    "GET /storage/{storage}": ps.storage_get, "PUT /storage/{storage}": ps.storage_update,
    "DELETE /storage/{storage}": ps.storage_delete,
    "GET /access/users": ps.users_list, "POST /access/users": ps.user_create,
    "GET /access/users/{userid}": ps.user_get, "PUT /access/users/{userid}": ps.user_update,
    "DELETE /access/users/{userid}": ps.user_delete,
    "PUT /access/password": ps.change_password,
    "GET /access/acl": ps.acl_list, "PUT /access/acl": ps.acl_modify,
    "GET /access/roles": ps.roles_list,
    "GET /access/users/{userid}/token": ps.token_list,
    "GET /access/users/{userid}/token/{tokenid}": ps.token_get,
    "POST /access/users/{userid}/token/{tokenid}": ps.token_create,
    "DELETE /access/users/{userid}/token/{tokenid}": ps.token_delete,
    "GET /cluster/status": ps.cluster_status, "GET /cluster/resources": ps.cluster_resources,
    "GET /nodes/{node}/tasks": ps.task_list,
    "GET /nodes/{node}/tasks/{upid}/status": ps.task_status,
    "GET /nodes/{node}/tasks/{upid}/log": ps.task_log,
}
ROUTES.update(pvelxc.ROUTES)
ROUTES.update(pveapt.ROUTES)
ROUTES.update(pvelxc.TASK_ROUTES)
TASK_ROUTES = {"POST /nodes/{node}/disks/zfs", *pvelxc.TASK_ROUTES}


def auth_key():
    if not os.path.exists(SECRET_FILE):
        os.makedirs(sbstate.STATE, exist_ok=True)
        with open(SECRET_FILE, "w") as f:
            f.write(os.urandom(32).hex())
        os.chmod(SECRET_FILE, 0o600)
    return open(SECRET_FILE).read().encode()


def sign(text):
    return base64.b64encode(hmac.new(auth_key(), text.encode(), hashlib.sha256).digest()
                            ).decode().rstrip("=")


def make_ticket(user):
    stamp = f"{int(time.time()):08X}"
    plain = f"PVE:{user}:{stamp}"
    return f"{plain}::{sign(plain)}", f"{stamp}:{sign('csrf:' + user + stamp)}"


def check_ticket(ticket):
    """The user of a valid, unexpired ticket, else None."""
    try:
        plain, sig = ticket.split("::", 1)
        _, user, stamp = plain.split(":", 2)
        age = time.time() - int(stamp, 16)
    except ValueError:
        return None, None
    if not hmac.compare_digest(sign(plain), sig) or age > TICKET_LIFETIME or age < -300:
        return None, None
    if take_fault("expire_tickets", consume=False):
        return None, None
    return user, stamp


def take_fault(name, consume=True):
    path = os.path.join(sbstate.STATE, "pve-faults.json")
    if not os.path.exists(path):
        return None
    with sbstate.locked("pve-faults.json") as faults:
        value = faults.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0 and consume:
            faults[name] = value - 1
            return value
        if isinstance(value, bool | float | str) or (isinstance(value, int) and value > 0):
            return value
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pve-api-daemon/3.0"

    def log_message(self, fmt, *args):
        sys.stderr.write(f"{self.client_address[0]} {fmt % args}\n")

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def reply(self, status, data=None, message=None, errors=None, extra_headers=()):
        body = {"data": data}
        if errors:
            body["errors"] = errors
        if message and status >= 400:
            body["message"] = message + "\n"
        raw = json.dumps(body).encode()
        reason = (message or "OK").replace("\n", " ")
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Cache-Control", "max-age=0")
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def params(self, method):
        url = urllib.parse.urlsplit(self.path)
        pairs = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        if method in ("POST", "PUT"):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            if "json" in (self.headers.get("Content-Type") or ""):
                pairs += [(k, _plain(v)) for k, v in (json.loads(body or "{}")).items()]
            else:
                pairs += urllib.parse.parse_qsl(body, keep_blank_values=True)
        return url.path, dict(pairs)

    def principal(self, method):
        """(user, error message) from the token header or the ticket cookie."""
        header = self.headers.get("Authorization", "")
        if header.startswith("PVEAPIToken="):
            full, _, value = header[len("PVEAPIToken="):].partition("=")
            if ps.check_token(full, value):
                return full, None
            return None, "invalid token value!"
        cookie = self.headers.get("Cookie", "")
        ticket = next((c.split("=", 1)[1] for c in cookie.split("; ")
                       if c.startswith("PVEAuthCookie=")), None)
        if not ticket:
            return None, "No ticket"
        user, stamp = check_ticket(urllib.parse.unquote(ticket))
        if not user:
            return None, "authentication failure"
        if method != "GET":
            token = self.headers.get("CSRFPreventionToken", "")
            if token != f"{stamp}:{sign('csrf:' + user + stamp)}":
                return None, "Permission check failed - invalid csrf token"
        return user, None

    def dispatch(self, method):
        path, params = self.params(method)
        if not path.startswith("/api2/json/"):
            return self.reply(501, message=f"Method '{method} {path}' not implemented")
        api_path = path[len("/api2/json"):]
        if take_fault("drop"):
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        slow = take_fault("slow_seconds", consume=False)
        if slow:
            time.sleep(float(slow))
        key, placeholders = pveschema.match(OPERATIONS, method, api_path)
        if key is None:
            return self.reply(501, message=f"Method '{method} {api_path}' not implemented")
        if take_fault("error_500"):
            return self.reply(500, message="sandbox fault: internal error")
        if key == "POST /access/ticket":
            return self.login(params)
        if key == "GET /access/ticket":
            return self.reply(200, None)
        user, err = self.principal(method)
        if err:
            return self.reply(401, message=err)
        info = OPERATIONS[key]
        if not info.get("allowtoken", 1) and "!" in user:
            return self.reply(403, message="Permission check failed (user != root@pam)")
        params.update(placeholders)
        errors = pveschema.validate(info, params)
        if errors:
            return self.reply(400, errors=errors, message="Parameter verification failed.")
        if not ps.privileged(user) and not (key.startswith("GET /version")):
            return self.reply(403, message="Permission check failed (/, Sys.Audit)")
        handler = ROUTES.get(key)
        if handler is None:
            return self.reply(501, message=f"sandbox: '{key}' is in the PVE schema but not "
                                           "simulated")
        pvelxc.caller.user = user  # root@pam may set what others may not
        try:
            if key in TASK_ROUTES:
                fail = take_fault("task_error")

                def task(kind, ident, work):
                    return ps.start_task(kind, ident, user, work, fail_with=fail)
                data = handler(params, task)
            else:
                data = handler(params)
        except ps.Fail as e:
            return self.reply(e.status, message=e.message, errors=e.errors)
        self.reply(200, data)

    def login(self, params):
        errors = pveschema.validate(OPERATIONS["POST /access/ticket"], params)
        if errors:
            return self.reply(400, errors=errors, message="Parameter verification failed.")
        user = params["username"]
        if "@" not in user and params.get("realm"):
            user = f"{user}@{params['realm']}"
        if "@" not in user or not ps.check_password(user, params["password"]):
            time.sleep(0.3)  # PVE delays failed logins too
            return self.reply(401, message="authentication failure")
        ticket, csrf = make_ticket(user)
        self.reply(200, {"username": user, "ticket": ticket, "CSRFPreventionToken": csrf,
                         "cap": {}, "clustername": None})


def _plain(v):
    if isinstance(v, bool):
        return "True" if v else "False"  # what a JSON boolean would look like to Perl
    return str(v)


def main():
    addr = ("::", 8006)
    cert, key = "/etc/pve/local/pve-ssl.pem", "/etc/pve/local/pve-ssl.key"
    server = http.server.ThreadingHTTPServer
    server.address_family = socket.AF_INET6
    httpd = server(addr, Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
