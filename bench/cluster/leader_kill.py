#!/usr/bin/env python3
"""Writes through a follower, one at a time, while the caller kills the leader
(kill -9) after WARMUP seconds; prints when writes were acknowledged again and
how many failed in between. Usage: leader_kill.py FOLLOWER_URL LEADER_PID WARMUP SECONDS"""
import json, os, signal, sys, time, urllib.request

url, pid, warmup, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
start = time.monotonic()
killed_at = None
first_ack_after = None
errors = acked = acked_after = 0
i = 0
while time.monotonic() - start < seconds:
    if killed_at is None and time.monotonic() - start >= warmup:
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
    i += 1
    body = json.dumps({"vector": [i % 97, 1, 2, 3, 4, 5, 6, 7], "content": "k"}).encode()
    req = urllib.request.Request(f"{url}/v1/collections/b/documents/k{i}", data=body, method="PUT",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            ok = 200 <= r.status < 300
    except Exception:
        ok = False
    if ok:
        acked += 1
        if killed_at is not None:
            acked_after += 1
            if first_ack_after is None:
                first_ack_after = time.monotonic() - killed_at
    else:
        errors += 1
        if killed_at is None:
            pass
print(f"RESULT acked={acked} acked_after_kill={acked_after} errors={errors} "
      f"first_ack_after_kill_s={first_ack_after if first_ack_after is not None else -1:.2f}")
