"""A real S3 endpoint on loopback (moto's server) and a fault-injecting proxy before it."""

from __future__ import annotations

import http.client
import logging
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from moto.server import ThreadedMotoServer


class MotoS3:
    """moto's S3 server on 127.0.0.1 at a free port."""

    def __init__(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def __enter__(self) -> MotoS3:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()


class FlakyProxy:
    """Forwards HTTP to `upstream`, failing every `every`-th request with a 503 SlowDown
    (or dropping the connection), as a busy object store does."""

    def __init__(self, upstream: str, every: int = 7, drop_every: int = 0) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.every, self.drop_every = every, drop_every
        self.count = 0
        self.failed = 0
        self.lock = threading.Lock()

    def __enter__(self) -> FlakyProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy.lock:
                    proxy.count += 1
                    n = proxy.count
                if proxy.drop_every and n % proxy.drop_every == 0:
                    proxy.failed += 1
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if proxy.every and n % proxy.every == 0:
                    proxy.failed += 1
                    payload = (b"<?xml version='1.0'?><Error><Code>SlowDown</Code>"
                               b"<Message>Please reduce your request rate.</Message></Error>")
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = proxy.upstream
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                # A HEAD answer carries the object's length, not the (empty) body's.
                length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        socketserver.TCPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
