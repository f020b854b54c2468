#!/usr/bin/env python3
"""The workload of prometheus_scrape_test.sh: writes, gets and searches on a
running `lifeline serve` for a fixed time, with PostgreSQL stopped in the
middle of it and started again.

    scrape_load.py URL SECONDS OUTAGE_AT OUTAGE_SECONDS PG_CTL OUT.json

PG_CTL is scripts/pg.sh (run with `stop` and `start`; it reads
$LIFELINE_PG_DIR). Threads keep one keep-alive connection each. Every reply
is counted by phase (before, outage, after), route and status, and the
backend that served it (X-Served-By). Errors are counted, never raised: the
test decides what they mean. OUT.json gets the counts and the times.
"""
import http.client
import json
import random
import subprocess
import sys
import threading
import time
import urllib.parse

DIM = 8
COLLECTION = "scrape"
IDS = 500  # writes overwrite these; gets ask for ones written already
THREADS = 4


class Client:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def request(self, method, path, body=None):
        """(status, X-Served-By) or (0, error text) when the connection failed."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):  # a keep-alive connection closed by the server: once more
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                r.read()
                served = r.getheader("X-Served-By", "")
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, served
            except (OSError, http.client.HTTPException) as e:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    return 0, type(e).__name__


def vector(rng):
    return [rng.uniform(-1, 1) for _ in range(DIM)]


def main():
    url, seconds, outage_at, outage_len, pg_ctl, out = sys.argv[1:7]
    seconds, outage_at, outage_len = float(seconds), float(outage_at), float(outage_len)

    setup = Client(url)
    status, _ = setup.request("PUT", f"/v1/collections/{COLLECTION}", {"dimension": DIM})
    if status not in (200, 201):
        sys.exit(f"scrape_load: creating the collection answered {status}")
    rng = random.Random(1)
    for i in range(50):  # some documents every get can find
        status, _ = setup.request("PUT", f"/v1/collections/{COLLECTION}/documents/d{i}",
                                  {"vector": vector(rng), "content": f"doc {i}"})
        if status != 200:
            sys.exit(f"scrape_load: a first write answered {status}")

    lock = threading.Lock()
    changed = threading.Condition(lock)  # notified with every reply counted
    written = set(range(50))
    phase = ["before"]
    counts = {}  # phase -> "route status served" -> n
    start = time.monotonic()
    deadline = start + seconds

    def count(key):
        with lock:
            d = counts.setdefault(phase[0], {})
            d[key] = d.get(key, 0) + 1
            changed.notify_all()

    def served(p, prefix):
        return sum(n for k, n in counts.get(p, {}).items() if k.startswith(prefix))

    def wait_for(what, predicate, bound):
        """Waits until predicate() holds (under the lock), `bound` seconds at most."""
        with lock:
            if not changed.wait_for(predicate, timeout=bound):
                sys.exit(f"scrape_load: no {what} within {bound:.0f} s: {counts}")

    def worker(n):
        c = Client(url)
        r = random.Random(100 + n)
        while time.monotonic() < deadline:
            i = r.randrange(IDS)
            status, served = c.request("PUT", f"/v1/collections/{COLLECTION}/documents/d{i}",
                                       {"vector": vector(r), "content": f"doc {i}",
                                        "metadata": {"n": i}})
            count(f"put {status} {served}")
            if status == 200:
                with lock:
                    written.add(i)
            with lock:
                j = r.choice(tuple(written))
            status, served = c.request("GET", f"/v1/collections/{COLLECTION}/documents/d{j}")
            count(f"get {status} {served}")
            status, served = c.request("POST", f"/v1/collections/{COLLECTION}/search",
                                       {"vector": vector(r), "k": 5})
            count(f"search {status} {served}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()

    times = {}
    # The outage begins once gets were served before it (and not before
    # OUTAGE_AT, so that Prometheus has scrapes of the healthy state).
    wait_for("gets before the outage",
             lambda: served("before", "get 200") >= 100 and time.monotonic() >= start + outage_at,
             outage_at + 60)
    with lock:  # from the stop on: its fast shutdown ends sessions at once
        phase[0] = "outage"
    times["pg_stopping"] = time.time()
    subprocess.run(["bash", pg_ctl, "stop"], check=True)
    times["pg_stopped"] = time.time()
    print(f"scrape_load: PostgreSQL stopped at +{time.monotonic() - start:.1f} s", flush=True)
    # It ends once the vector store served gets in it, and it lasted
    # OUTAGE_SECONDS (the scenario: enough 1 s scrapes to see it).
    stopped = time.monotonic()
    wait_for("gets served by the vector store in the outage",
             lambda: served("outage", "get 200 vectors") >= 100
             and time.monotonic() >= stopped + outage_len,
             outage_len + 60)
    subprocess.run(["bash", pg_ctl, "start"], check=True)
    with lock:
        phase[0] = "after"
    times["pg_started"] = time.time()
    print(f"scrape_load: PostgreSQL started again at +{time.monotonic() - start:.1f} s",
          flush=True)

    for t in threads:
        t.join()
    times["end"] = time.time()
    with open(out, "w") as f:
        json.dump({"counts": counts, "times": times}, f, indent=1, sort_keys=True)
    for p in ("before", "outage", "after"):
        total = sum(counts.get(p, {}).values())
        print(f"scrape_load: {p}: {total} requests", flush=True)
        for key, n in sorted(counts.get(p, {}).items()):
            print(f"  {n:6d}  {key}")


if __name__ == "__main__":
    main()
