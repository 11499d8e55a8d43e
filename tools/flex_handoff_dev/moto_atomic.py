"""moto's server with every request handled under one lock: the DynamoDB stand-in of the tests,
`make dev` and `make bench`.

Why: moto evaluates a conditional PutItem and writes it without a lock, and its
TransactWriteItems copies the whole table without one, so concurrent writers can both win a
condition, a transaction can fail with moto's own 500 ("dictionary changed size during
iteration") and a failed one can restore a stale table. DynamoDB gives atomic conditional
writes and serializable transactions; one lock around each request gives the stand-in the same
guarantee (shared/tests/dynamodb_stand_in.rs shows it under contention).

Serialized, moto's TransactWriteItems became the bottleneck: it deep-copies every table a
transaction names, once per item, to roll back on failure, so its cost grows with the table
(6 ms at 0 items, 41 ms at 2,000, 109 ms at 4,000; the load suite's 1,000 customers then timed
out). Under the lock only the items a transaction touches can change, so they are what is saved
and restored instead (the cancelled-transaction test in dynamodb_stand_in.rs checks the rollback).

moto also ignores TransactWriteItems' ClientRequestToken, which the AWS SDK sets once per call
and keeps across its retries: DynamoDB answers a repeat of a committed transaction with success
and changes nothing, while moto evaluates it again, so a retry after a lost answer (an attempt
timeout while moto was busy) failed its own condition and our activation read as refused. The
launcher remembers the committed tokens and answers their repeats as DynamoDB does.

These patches reach into moto's internals; `PATCHED` names each, and
tools/tests/test_moto_atomic.py fails when a moto upgrade changes one of them.

Usage: python3 -m flex_handoff_dev.moto_atomic -H 127.0.0.1 -p PORT (the options of moto_server
that we use).
"""

import argparse
import copy
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class _TablesNotCopied:
    """moto's `copy` module for dynamodb.models, except that a Table is not deep-copied."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _transact_write_items(original):
    def transact_write_items(self, transact_items):
        saved = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or {
                attr: op["Item"][attr] for attr in (table.hash_key_attr, table.range_key_attr) if attr and attr in op.get("Item", {})
            }
            try:
                before = self.get_item(table.name, key)
            except Exception:
                continue  # moto refuses the key itself; nothing of it can change
            saved.append((table.name, key, before.to_json()["Attributes"] if before else None))
        try:
            return original(self, transact_items)
        except Exception:
            for name, key, attributes in reversed(saved):
                if attributes is None:
                    self.delete_item(name, key)
                else:
                    self.put_item(name, attributes)
            raise

    return transact_write_items


def _idempotent(original):
    committed = {}  # ClientRequestToken -> the answer (DynamoDB keeps them for 10 minutes)

    def transact_write_items(self):
        token = self.body.get("ClientRequestToken")
        if token in committed:
            return committed[token]
        answer = original(self)
        if token:
            committed[token] = answer
        return answer

    return transact_write_items


# What the patches replace or rely on, for the test that moto still has them as they were.
PATCHED = {
    "moto.dynamodb.responses.DynamoHandler.transact_write_items": "replaced: answers repeated tokens",
    "moto.dynamodb.models.copy": "replaced: tables are not deep-copied",
    "moto.dynamodb.models.DynamoDBBackend.transact_write_items": "replaced: saves and restores touched items",
    "moto.dynamodb.models.DynamoDBBackend.get_item": "called (table name, key)",
    "moto.dynamodb.models.DynamoDBBackend.put_item": "called (table name, item attributes)",
    "moto.dynamodb.models.DynamoDBBackend.delete_item": "called (table name, key)",
    "moto.dynamodb.models.table.Table.hash_key_attr": "read",
}


def patch():
    """Applies the patches, once."""
    if getattr(DynamoHandler.transact_write_items, "flex_handoff_patched", False):
        return
    DynamoHandler.transact_write_items = _idempotent(DynamoHandler.transact_write_items)
    dynamodb_models.copy = _TablesNotCopied()
    dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items(
        dynamodb_models.DynamoDBBackend.transact_write_items
    )
    DynamoHandler.transact_write_items.flex_handoff_patched = True


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
    patch()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
