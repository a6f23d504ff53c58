"""Serve the sandbox mirror on the bridge address only: HTTP :80 and HTTPS :443.

Run as `python3 -m tests.sandbox.mirror_server` (in the background, by the sandbox).
Binding the bridge address means only sandbox hosts (and this machine) can reach it.
"""

from __future__ import annotations

import functools
import http.server
import ssl
import sys
import threading

from tests.sandbox.paths import BASE, BRIDGE_IP


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):  # one line per request into the server's log
        sys.stderr.write(f"{self.address_string()} {fmt % args}\n")


class TlsServer(http.server.ThreadingHTTPServer):
    def shutdown_request(self, request):
        # end TLS with close_notify: OpenSSL 3 clients (apt 3 on Debian 13) take a bare
        # EOF as an error ("unexpected eof while reading")
        try:
            request.unwrap()
        except (OSError, ValueError):
            pass
        super().shutdown_request(request)


def serve(root: str, cert: str, key: str) -> None:
    handler = functools.partial(Quiet, directory=root)
    plain = http.server.ThreadingHTTPServer((BRIDGE_IP, 80), handler)
    tls = TlsServer((BRIDGE_IP, 443), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    threading.Thread(target=tls.serve_forever, daemon=True).start()
    plain.serve_forever()


if __name__ == "__main__":
    serve(str(BASE / "mirror" / "www"), str(BASE / "ca" / "mirror.pem"),
          str(BASE / "ca" / "mirror.key"))
