"""moto's server with every request handled under one lock: the DynamoDB stand-in of the tests,
`make dev` and `make bench`.

Why: moto evaluates a conditional PutItem and writes it without a lock, and its
TransactWriteItems copies the whole table without one, so concurrent writers can both win a
condition, a transaction can fail with moto's own 500 ("dictionary changed size during
iteration") and a failed one can restore a stale table. DynamoDB gives atomic conditional
writes and serializable transactions; one lock around each request gives the stand-in the same
guarantee (shared/tests/dynamodb_stand_in.rs shows it under contention). moto is fast enough
that serializing costs the tests nothing measurable.

Usage: moto_atomic.py -H 127.0.0.1 -p PORT (the options of moto_server that we use).
"""

import argparse
import threading

from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def serialized(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        # The whole response is produced inside the lock: moto may do its work lazily, while
        # the body is iterated.
        with lock:
            result = app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        return [body]

    return handle


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
