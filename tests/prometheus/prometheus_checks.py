#!/usr/bin/env python3
"""Checks prometheus_scrape_test.sh runs against a live Prometheus (its HTTP
API, standard library only). Every wait is a poll with a deadline.

    prometheus_checks.py scrapes  PROM_URL JOB SINCE UNTIL
        wait until Prometheus holds scrapes of JOB (up == 1) from SINCE to
        past UNTIL (Unix seconds), at least one for every two seconds between
    prometheus_checks.py rules    PROM_URL ALERTS_YML
        wait until every group and rule of ALERTS_YML is loaded and has been
        evaluated without error
    prometheus_checks.py standby  DASHBOARD
        exit 0 if a panel of the dashboard queries a standby series
    prometheus_checks.py dashboard PROM_URL DASHBOARD START END
        evaluate every panel query (targets[].expr) over [START, END] (a range
        query, step 1 s) and fail unless each returns at least one series
    prometheus_checks.py alerts   PROM_URL START END [ALERTNAME...]
        print the alerts (pending or firing) seen over [START, END]; fail
        unless each ALERTNAME was among them
    prometheus_checks.py nonzero  PROM_URL START END EXPR...
        fail unless each EXPR is above 0 at some point of [START, END] (a
        range query, step 1 s); prints each series' peak
"""
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# Grafana's variables, with values that fit a 1 s scrape interval and a
# run of under a minute.
GRAFANA_VARS = {
    "__rate_interval": "30s",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1m",
    "__range_s": "60",
    "__range_ms": "60000",
}


def api(prom, path, **params):
    url = f"{prom}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        body = json.load(e)
        raise RuntimeError(f"{path} {params}: {e.code} {body.get('error')}") from None
    if body.get("status") != "success":
        raise RuntimeError(f"{path} {params}: {body}")
    return body["data"]


def poll(what, deadline_s, check):
    """Calls check() until it returns a true value; fails after deadline_s."""
    deadline = time.monotonic() + deadline_s
    last = None
    while True:
        try:
            result = check()
            if result:
                return result
        except (RuntimeError, OSError) as e:
            last = e
        if time.monotonic() > deadline:
            sys.exit(f"prometheus_checks: timed out waiting for {what}"
                     + (f" (last error: {last})" if last else ""))
        time.sleep(0.2)  # polling interval of a bounded wait


def panel_targets(dashboard):
    """(panel title, expr) of every panel, rows' nested panels included."""
    with open(dashboard) as f:
        d = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))

    walk(d.get("panels", []))
    return out


def substitute(expr):
    """Grafana variables: the built-in intervals get fixed values, any other
    ($var, ${var}, ${var:fmt}, [[var]]) matches every value."""
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        return GRAFANA_VARS.get(name, ".*")
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", repl, expr)


def cmd_scrapes(prom, job, since, until):
    since, until = float(since), float(until)
    needed = max(1, int((until - since) / 2))

    def check():
        now = time.time()
        window = int(now - since) + 1
        data = api(prom, "/api/v1/query", query=f'count_over_time(up{{job="{job}"}}[{window}s])')
        n = int(float(data["result"][0]["value"][1])) if data["result"] else 0
        data = api(prom, "/api/v1/query", query=f'sum_over_time(up{{job="{job}"}}[{window}s])')
        ok = int(float(data["result"][0]["value"][1])) if data["result"] else 0
        data = api(prom, "/api/v1/query", query=f'timestamp(up{{job="{job}"}} == 1)')
        last = float(data["result"][0]["value"][1]) if data["result"] else 0
        return (n, ok, last) if ok >= needed and last > until else None

    n, ok, last = poll(f"{needed} scrapes of job {job} up to {until:.0f}", 60, check)
    print(f"prometheus_checks: {ok} of {n} scrapes of job {job} since the start succeeded "
          f"(needed {needed}), the last at {last:.1f}")


def cmd_rules(prom, alerts_yml):
    with open(alerts_yml) as f:
        text = f.read()
    groups = re.findall(r"^\s*- name:\s*(\S+)\s*$", text, re.M)
    alerts = re.findall(r"^\s*- alert:\s*(\S+)\s*$", text, re.M)
    if not groups or not alerts:
        sys.exit(f"prometheus_checks: no groups or alerts in {alerts_yml}")

    def check():
        data = api(prom, "/api/v1/rules")
        loaded = {g["name"]: g for g in data["groups"]}
        if set(groups) - set(loaded):
            return None
        rules = [r for g in loaded.values() for r in g["rules"]]
        if sorted(r["name"] for r in rules) != sorted(alerts):
            return None
        # Evaluated at least once, without error.
        if any(r.get("health") != "ok" for r in rules):
            bad = [(r["name"], r.get("health"), r.get("lastError")) for r in rules
                   if r.get("health") == "err"]
            if bad:
                sys.exit(f"prometheus_checks: rules failing to evaluate: {bad}")
            return None
        return loaded

    loaded = poll(f"the groups {groups} of {alerts_yml} loaded and evaluated", 30, check)
    for name in groups:
        g = loaded[name]
        print(f"prometheus_checks: rule group {name} ({g['file']}): "
              + ", ".join(f"{r['name']} {r['health']}" for r in g["rules"]))


def cmd_standby(dashboard):
    hits = [t for t in panel_targets(dashboard) if "lifeline_standby_" in t[1]]
    sys.exit(0 if hits else 1)


def cmd_dashboard(prom, dashboard, start, end):
    targets = panel_targets(dashboard)
    if not targets:
        sys.exit(f"prometheus_checks: no panel queries in {dashboard}")
    empty = []
    for title, expr in targets:
        query = substitute(expr)
        try:
            data = api(prom, "/api/v1/query_range", query=query, start=start, end=end, step="1")
            series = [s for s in data["result"] if s.get("values")]
            n = len(series)
            samples = sum(len(s["values"]) for s in series)
            note = f"{n} series, {samples} samples"
        except RuntimeError as e:
            n, note = 0, f"error: {e}"
        print(f"{'ok   ' if n else 'EMPTY'} {note:28s} [{title}] {query}")
        if not n:
            empty.append(title)
    if empty:
        sys.exit(f"prometheus_checks: {len(empty)} of {len(targets)} panel queries returned "
                 f"no data: {empty}")
    print(f"prometheus_checks: all {len(targets)} panel queries returned data")


def cmd_alerts(prom, start, end, *expected):
    data = api(prom, "/api/v1/query_range", query="ALERTS", start=start, end=end, step="1")
    if not data["result"]:
        print("prometheus_checks: no alert pending or firing during the run")
    seen = set()
    for s in data["result"]:
        m = s["metric"]
        seen.add(m["alertname"])
        labels = ",".join(f"{k}={v}" for k, v in sorted(m.items())
                          if k not in ("alertname", "alertstate", "__name__"))
        print(f"prometheus_checks: alert {m['alertname']} {m['alertstate']} for "
              f"{len(s['values'])} s ({labels})")
    missing = [a for a in expected if a not in seen]
    if missing:
        sys.exit(f"prometheus_checks: alerts never pending during the run: {missing}")


def cmd_nonzero(prom, start, end, *exprs):
    failed = []
    for expr in exprs:
        data = api(prom, "/api/v1/query_range", query=expr, start=start, end=end, step="1")
        peaks = {}
        for s in data["result"]:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s["metric"].items()))
            peaks[labels or "{}"] = max(float(v) for _, v in s["values"])
        print(f"prometheus_checks: peak of {expr}: "
              + (", ".join(f"{k} {v:g}" for k, v in sorted(peaks.items())) or "no data"))
        if not any(v > 0 for v in peaks.values()):
            failed.append(expr)
    if failed:
        sys.exit(f"prometheus_checks: never above 0 during the run: {failed}")


def main():
    cmds = {"scrapes": cmd_scrapes, "rules": cmd_rules, "standby": cmd_standby,
            "dashboard": cmd_dashboard, "alerts": cmd_alerts, "nonzero": cmd_nonzero}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
