#!/usr/bin/env python3
"""Register an instance with roster's HTTP gateway, keep it alive, watch the list, leave.

Standard library only. Usage:

    python3 register_and_watch.py [HTTP_BASE] [SERVICE]

HTTP_BASE is the gateway's address as `roster dev` prints it (`http http://ADDR`), or the
ROSTER_HTTP environment variable; SERVICE defaults to example.python. It prints one line per
step, and exits non-zero on any failure.
"""

import json
import os
import sys
import threading
import urllib.error
import urllib.request

BASE = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ROSTER_HTTP", "")).rstrip("/")
SERVICE = sys.argv[2] if len(sys.argv) > 2 else "example.python"
TTL_MS = 3000


def call(method, path, body=None, timeout=30):
    """One request; the status and the JSON body (None when empty)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        # Errors are JSON too: {"code": ..., "message": ...}.
        return e.code, json.loads(e.read())


def ids(listing):
    return [i["id"] for i in listing["instances"]]


def instance(id):
    return f"/v1/services/{SERVICE}/instances/{id}"


def register(id, payload):
    status, body = call("PUT", instance(id), {"payload": payload, "attributes": {"lang": "python"}, "ttl_ms": TTL_MS})
    if status not in (200, 201):
        sys.exit(f"register {id}: {status} {body}")
    print(f"registered {id} ttl_ms={body['ttl_ms']}", flush=True)


def wait_until(pred):
    """Blocking queries until the list satisfies pred: the version seen goes back as index."""
    status, listing = call("GET", f"/v1/services/{SERVICE}")
    while not pred(listing):
        status, listing = call("GET", f"/v1/services/{SERVICE}?index={listing['version']}&wait=10s")
        if status != 200:
            sys.exit(f"blocking query: {status} {listing}")
    return listing


def heartbeats(id, stop):
    """Renews the TTL at a third of it until stopped."""
    while not stop.wait(TTL_MS / 3000):
        status, body = call("PUT", instance(id) + "/heartbeat")
        if status != 200:
            print(f"heartbeat {id}: {status} {body}", file=sys.stderr, flush=True)


def sse_events(path):
    """Yields (event, id, data) of a Server-Sent Events stream."""
    resp = urllib.request.urlopen(BASE + path, timeout=30)
    event, eid, data = "", "", []
    for raw in resp:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield event, eid, "\n".join(data)
            event, eid, data = "", "", []
        elif line.startswith(":"):
            continue  # a keep-alive comment
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "id":
                eid = value
            elif field == "data":
                data.append(value)


def main():
    if not BASE:
        sys.exit("usage: register_and_watch.py HTTP_BASE [SERVICE]  (or set ROSTER_HTTP)")
    register("py-1", "10.0.0.1:8080")
    stop = threading.Event()
    beating = threading.Thread(target=heartbeats, args=("py-1", stop), daemon=True)
    beating.start()

    listing = wait_until(lambda l: "py-1" in ids(l))
    print(f"list {ids(listing)}", flush=True)

    # A second instance: a blocking query on the version seen answers with the change.
    register("py-2", "10.0.0.2:8080")
    listing = wait_until(lambda l: ids(l) == ["py-1", "py-2"])
    print(f"changed {ids(listing)}", flush=True)

    # The SSE watch: the current list first, then each new one.
    events = sse_events(f"/v1/services/{SERVICE}/watch")
    for _, version, data in events:
        if ids(json.loads(data)) == ["py-1", "py-2"]:
            print(f"watch {ids(json.loads(data))}", flush=True)
            break
    status, _ = call("DELETE", instance("py-2"))
    print(f"deregistered py-2 status={status}", flush=True)
    for _, version, data in events:
        if ids(json.loads(data)) == ["py-1"]:
            print(f"watch {ids(json.loads(data))}", flush=True)
            break
    events.close()

    stop.set()
    beating.join()
    status, _ = call("DELETE", instance("py-1"))
    print(f"deregistered py-1 status={status}", flush=True)
    listing = wait_until(lambda l: ids(l) == [])
    print(f"list {ids(listing)}", flush=True)


if __name__ == "__main__":
    main()
