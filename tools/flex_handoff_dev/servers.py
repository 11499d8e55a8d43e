"""The HTTP plumbing of every local server here: one handler base, servers in the background
(harnesses) or the foreground (`make dev`), free loopback ports."""

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def log(message):
    print(message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, bodies read whole (chunked too), answers written in one go.

    `log_prefix`: None keeps a harness quiet; a name logs each request to stderr under it.
    """

    protocol_version = "HTTP/1.1"
    log_prefix = None

    def log_message(self, fmt, *args):
        if self.log_prefix:
            sys.stderr.write(f"{self.log_prefix} {fmt % args}\n")

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def body(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, payload=b"", headers=None):
        # One write for status, headers and body: split writes meet delayed ACKs and add tens
        # of milliseconds that belong to the harness, not to the function measured.
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(payload)))
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(payload)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A function process killed between runs resets its long poll: expected, not news.
        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)


class Server:
    """A server on a loopback port (a free one unless given), in a daemon thread."""

    def __init__(self, handler, port=0):
        self.httpd = _QuietServer(("127.0.0.1", port), handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(handler, port):
    """Serves `handler` on a loopback port in the foreground until interrupted (`make dev`)."""
    server = _QuietServer(("127.0.0.1", port), handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
