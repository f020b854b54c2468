#!/usr/bin/python3
"""Checks docs/openapi.yaml against the real server (run by openapi_test.sh).

  openapi_check.py --doc docs/openapi.yaml --source . routes --url URL --token-file F --admin-token-file F
  openapi_check.py --doc docs/openapi.yaml --source . responses --main URL ... (see main())

Every reply a check provokes is validated against the document: its status
must be documented for the operation (or, for a request that reaches no
operation, under x-unmatched-request-responses), its Content-Type must be one
of that response's media types, its body must validate against the media
type's schema (JSON Schema 2020-12, $refs resolved in the document) and the
response's required headers must be there and match. Each named check
asserts; the run ends with "N passed, N failed" and exits 1 on any failure.

Needs Debian's python3-jsonschema (4.10) and python3-yaml: run it with
/usr/bin/python3.
"""
import argparse
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

import jsonschema
import yaml
from jsonschema import Draft202012Validator

METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]
PROBE_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]


class CheckFailed(AssertionError):
    pass


def require(cond, message):
    if not cond:
        raise CheckFailed(message)


# -- HTTP -----------------------------------------------------------------------------------


class Resp:
    def __init__(self, status, headers, body, method):
        self.status = status
        self.header_list = headers  # [(name, value)]
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        self.method = method

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "%s %d %s" % (self.method, self.status, self.body[:300])


class Client:
    def __init__(self, url, token=None):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.token = token

    def request(self, method, path, body=None, token="default", headers=None, timeout=60):
        """One request on a fresh connection (closed after it)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            return self.exchange(conn, method, path, body, token, headers, close=True)
        finally:
            conn.close()

    def exchange(self, conn, method, path, body=None, token="default", headers=None, close=False):
        h = {"Host": "%s:%d" % (self.host, self.port)}
        if close:
            h["Connection"] = "close"
        tok = self.token if token == "default" else token
        if tok:
            h["Authorization"] = "Bearer " + tok
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, r.getheaders(), data, method)


def raw_exchange(port, data, method="GET", timeout=60, send=True):
    """Sends raw bytes (or nothing), reads one response (to Content-Length or EOF)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if send and data:
            s.sendall(data)
        return read_raw_response(s, method)
    finally:
        s.close()


def read_raw_response(s, method="GET"):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        require(chunk, "connection closed before a complete response head (got %r)" % buf[:200])
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    require(m, "bad status line %r" % lines[0])
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    length = int(dict((k.lower(), v) for k, v in headers).get("content-length", "0"))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Resp(int(m.group(1)), headers, rest[:length], method)


def poll(what, fn, timeout=60, interval=0.05):
    """Calls fn until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except CheckFailed:
            raise
        except Exception as e:  # connection refused while starting, ...
            last = e
        if time.monotonic() > deadline:
            raise CheckFailed("timed out after %ss waiting for %s (last error: %r)" % (timeout, what, last))
        time.sleep(interval)


def metric(text, name):
    """The value of an unlabelled (or the first matching labelled) series."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


# -- the document -----------------------------------------------------------------------------


class Spec:
    def __init__(self, path):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.resolver = jsonschema.RefResolver(base_uri="", referrer=self.doc)
        self.validated = []  # (template, method, status, title)

    def pointer(self, ref):
        require(ref.startswith("#/"), "only local $refs: %s" % ref)
        node = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            require(isinstance(node, dict) and part in node, "unresolvable $ref %s" % ref)
            node = node[part]
        return node

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj and len(obj) == 1:
            obj = self.pointer(obj["$ref"])
        return obj

    def validator(self, schema):
        return Draft202012Validator(schema, resolver=self.resolver)

    def errors(self, schema, instance):
        return sorted(self.validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))

    def schema(self, name):
        return {"$ref": "#/components/schemas/" + name}

    def operation(self, template, method):
        item = self.doc["paths"].get(template)
        require(item is not None, "path %s is not in the document" % template)
        op = item.get(method.lower())
        require(op is not None, "%s %s is not in the document" % (method, template))
        return op

    def response_object(self, template, method, status):
        if template is None:
            responses = self.doc["x-unmatched-request-responses"]
            where = "x-unmatched-request-responses"
        else:
            responses = self.operation(template, method)["responses"]
            where = "%s %s" % (method, template)
        r = responses.get(str(status))
        require(r is not None, "status %d is not documented for %s" % (status, where))
        return self.deref(r), where

    def validate(self, resp, method, template, expect=None):
        """Validates one reply against the document; returns its parsed body."""
        where = "%s %s" % (method, template or "(no operation)")
        if expect is not None:
            expected = expect if isinstance(expect, (set, tuple, list)) else (expect,)
            require(resp.status in expected,
                    "%s: status %d, expected %s; body %r" % (where, resp.status, expected, resp.body[:400]))
        robj, rwhere = self.response_object(template, method, resp.status)
        # Headers the response requires, and the value of every documented one present.
        for name, h in (robj.get("headers") or {}).items():
            h = self.deref(h)
            value = resp.header(name)
            if value is None:
                require(not h.get("required"), "%s %d: required header %s missing" % (where, resp.status, name))
                continue
            hs = h.get("schema", {})
            if self.deref(hs).get("type") == "integer":
                require(re.fullmatch(r"[0-9]+", value), "%s: header %s=%r is not an integer" % (where, name, value))
                inst = int(value)
            else:
                inst = value
            errs = self.errors(hs, inst)
            require(not errs, "%s: header %s=%r: %s" % (where, name, value, errs[0].message if errs else ""))
        content = robj.get("content") or {}
        ctype = resp.header("content-type")
        if not content:
            return None
        require(ctype is not None, "%s %d: no Content-Type" % (where, resp.status))
        media = None
        if ctype in content:
            media = ctype
        else:
            base = ctype.split(";")[0].strip().lower()
            for k in content:
                if k.split(";")[0].strip().lower() == base:
                    media = k
        require(media is not None, "%s %d: Content-Type %r is not one of %s (%s)"
                % (where, resp.status, ctype, list(content), rwhere))
        if resp.method == "HEAD":
            return None  # no body
        base = media.split(";")[0].strip().lower()
        if base.endswith("json"):
            try:
                body = json.loads(resp.body)
            except ValueError as e:
                raise CheckFailed("%s %d: body is not JSON (%s): %r" % (where, resp.status, e, resp.body[:300]))
        else:
            try:
                body = resp.body.decode("utf-8")
            except UnicodeDecodeError as e:
                raise CheckFailed("%s %d: body is not UTF-8 text: %s" % (where, resp.status, e))
        schema = content[media].get("schema", {})
        errs = self.errors(schema, body)
        if errs:
            e = errs[0]
            raise CheckFailed("%s %d (%s): body does not match the document at /%s: %s\n  body: %s"
                              % (where, resp.status, media, "/".join(map(str, e.absolute_path)),
                                 e.message[:500], resp.body[:600]))
        title = None
        if base == "application/problem+json":
            require(body.get("status") == resp.status, "%s: problem status %r is not the HTTP status %d"
                    % (where, body.get("status"), resp.status))
            title = body.get("title")
            if resp.status == 503:
                require(resp.header("retry-after"), "%s: a 503 problem without Retry-After" % where)
        self.validated.append((template or "*", method, resp.status, title))
        return body


# -- results --------------------------------------------------------------------------------


class Results:
    def __init__(self):
        self.passed = []
        self.failed = []

    @contextlib.contextmanager
    def check(self, name):
        """One named check: a failure is recorded and the run goes on."""
        try:
            yield
        except Exception as e:  # noqa: BLE001 - every failure is reported
            self.failed.append(name)
            print("FAIL %s: %s" % (name, e), flush=True)
            if not isinstance(e, CheckFailed):
                traceback.print_exc()
        else:
            self.passed.append(name)
            print("ok   %s" % name, flush=True)

    def summary(self):
        print()
        if self.failed:
            print("failed checks:")
            for n in self.failed:
                print("  - " + n)
        print("%d passed, %d failed" % (len(self.passed), len(self.failed)), flush=True)
        return 0 if not self.failed else 1


# -- the document itself --------------------------------------------------------------------


def check_document(spec, res):
    doc = spec.doc
    with res.check("document: OpenAPI 3.1, every schema is valid JSON Schema 2020-12, every $ref resolves"):
        require(str(doc.get("openapi", "")).startswith("3.1."), "openapi is %r" % doc.get("openapi"))
        for name, s in doc["components"]["schemas"].items():
            Draft202012Validator.check_schema(s)

        def walk(node, path):
            if isinstance(node, dict):
                if "$ref" in node:
                    spec.pointer(node["$ref"])
                for k, v in node.items():
                    walk(v, path + "/" + str(k))
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, path + "/" + str(i))
        walk(doc, "")
    with res.check("document: operation ids are unique, path parameters match the templates, "
                   "every operation documents its replies with content types"):
        ids = []
        for template, item in doc["paths"].items():
            names = re.findall(r"\{(\w+)\}", template)
            common = [spec.deref(p) for p in item.get("parameters", [])]
            for m in METHODS:
                op = item.get(m)
                if op is None:
                    continue
                ids.append(op["operationId"])
                params = common + [spec.deref(p) for p in op.get("parameters", [])]
                in_path = sorted(p["name"] for p in params if p["in"] == "path")
                require(in_path == sorted(names), "%s %s: path parameters %s, template has %s"
                        % (m, template, in_path, names))
                for p in params:
                    if p["in"] == "path":
                        require("example" in p, "%s: path parameter %s has no example" % (template, p["name"]))
                require(op.get("responses"), "%s %s: no responses" % (m, template))
                for status, r in op["responses"].items():
                    r = spec.deref(r)
                    require(r.get("content"), "%s %s %s: no content" % (m, template, status))
        require(len(ids) == len(set(ids)), "duplicate operationId in %s" % ids)


# Real replies (as the server wrote them) and mutations of them the document
# must refuse: proof that the schemas are tight and that $refs resolve.
GOOD_HEALTH = {"status": "ok", "backends": [
    {"name": "postgres", "kind": "postgres", "state": "up", "circuit": "closed", "replica": "in_sync",
     "pending": 0, "rebuilt": 0, "serving": True,
     "database": {"primary": "127.0.0.1:29018", "primary_reachable": True, "timeline": "00000001", "standbys": []},
     "last_error": "", "since": "2026-12-01T16:50:59Z"},
    {"name": "vectors", "kind": "hnsw", "state": "up", "circuit": "closed", "replica": "catching_up",
     "pending": 3, "rebuilt": 0, "serving": False, "since": "",
     "progress": {"phase": "catching_up", "done": 1, "total": 4, "rate_per_s": 2.5, "eta_s": None}}]}


def mutated(obj, path, value=None, delete=False):
    o = json.loads(json.dumps(obj))
    node = o
    for p in path[:-1]:
        node = node[p]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return o


def check_schemas_refuse(spec, res):
    with res.check("document: the schemas accept real replies and refuse wrong ones"):
        health = spec.schema("Health")
        require(not spec.errors(health, GOOD_HEALTH), "a real health body is refused: %s"
                % [e.message for e in spec.errors(health, GOOD_HEALTH)])
        bad = [
            ("an unknown lifecycle state", mutated(GOOD_HEALTH, ["backends", 0, "state"], "sleeping")),
            ("an unknown replica state", mutated(GOOD_HEALTH, ["backends", 0, "replica"], "lagging")),
            ("an unknown circuit state", mutated(GOOD_HEALTH, ["backends", 0, "circuit"], "ajar")),
            ("a missing since", mutated(GOOD_HEALTH, ["backends", 0, "since"], delete=True)),
            ("an extra member", mutated(GOOD_HEALTH, ["backends", 0, "extra"], 1)),
            ("a string pending", mutated(GOOD_HEALTH, ["backends", 0, "pending"], "0")),
            ("progress while in sync", mutated(GOOD_HEALTH, ["backends", 0, "progress"],
                                               GOOD_HEALTH["backends"][1]["progress"])),
            ("progress of the other phase", mutated(GOOD_HEALTH, ["backends", 1, "progress", "phase"], "rebuilding")),
            ("a bad timestamp", mutated(GOOD_HEALTH, ["backends", 0, "since"], "yesterday")),
            ("a bad status", mutated(GOOD_HEALTH, ["status"], "fine")),
        ]
        for what, body in bad:
            require(spec.errors(health, body), "Health accepts %s" % what)
        outage = {"type": "about:blank", "title": "All backends unavailable", "status": 503,
                  "detail": "no backend can serve get",
                  "backends": [{"name": "postgres", "error": "stopped: stopped by an operator"}]}
        unavailable = spec.schema("UnavailableProblem")
        require(not spec.errors(unavailable, outage), "a real outage is refused")
        require(spec.errors(unavailable, mutated(outage, ["backends"], delete=True)), "an outage without backends passes")
        require(spec.errors(unavailable, mutated(outage, ["backends", 0, "error"], delete=True)),
                "an outage backend without error passes")
        require(spec.errors(unavailable, mutated(outage, ["title"], "Overloaded")),
                "an Overloaded problem with backends passes")
        require(spec.errors(unavailable, mutated(outage, ["detail"], delete=True)), "a problem without detail passes")
        doc = {"id": "x", "vector": [1, 2], "content": "", "metadata": None, "version": 1796143860108269}
        require(not spec.errors(spec.schema("Document"), doc), "a real document is refused")
        require(spec.errors(spec.schema("Document"), mutated(doc, ["vector"], "[1,2]")), "a string vector passes")
        require(spec.errors(spec.schema("Document"), mutated(doc, ["metadata"], [])), "array metadata passes")
        w = {"id": "x", "version": 3, "backends": {"postgres": "applied", "vectors": "deferred"}}
        require(not spec.errors(spec.schema("DocumentWritten"), w), "a real receipt is refused")
        require(spec.errors(spec.schema("DocumentWritten"), mutated(w, ["backends", "vectors"], "maybe")),
                "an unknown write outcome passes")
        status = {"now": 1796143860108, "authenticated": True, "health": GOOD_HEALTH, "window_s": 2,
                  "backends": {"postgres": {"rps": [0, 12], "p99_ms": [0, 1.5], "errors": [0, 0]}},
                  "fallbacks": [0, 1], "hedges": [0, 0], "outages": [0, 0],
                  "events": [{"t": 1796143859000, "kind": "fallback", "operation": "get", "from": "vectors",
                              "to": "postgres", "reason": "catching_up", "count": 3},
                             {"t": 1796143859000, "kind": "hedge", "operation": "search", "from": "",
                              "to": "postgres", "reason": "", "count": 1},
                             {"t": 1796143859000, "kind": "outage", "operation": "upsert", "from": "",
                              "to": "", "reason": "", "count": 2}]}
        st = spec.schema("Status")
        require(not spec.errors(st, status), "a status body is refused: %s" % [e.message for e in spec.errors(st, status)])
        for what, body in [
                ("an unknown event kind", mutated(status, ["events", 0, "kind"], "retry")),
                ("a fallback without a reason", mutated(status, ["events", 0, "reason"], "")),
                ("an unknown reason", mutated(status, ["events", 0, "reason"], "bored")),
                ("an outage naming a backend", mutated(status, ["events", 2, "from"], "postgres")),
                ("a count of 0", mutated(status, ["events", 1, "count"], 0)),
                ("a time within a second", mutated(status, ["events", 1, "t"], 1796143859001)),
                ("seconds, not ms, as a string", mutated(status, ["now"], "1796143860")),
                ("a negative rate", mutated(status, ["backends", "postgres", "rps", 0], -1)),
                ("a missing series", mutated(status, ["backends", "postgres", "errors"], delete=True)),
                ("a bad health", mutated(status, ["health", "status"], "fine")),
                ("a missing events", mutated(status, ["events"], delete=True))]:
            require(spec.errors(st, body), "Status accepts %s" % what)
        stats = {"name": "a", "dimension": 2, "metric": "l2", "count": 0}
        require(not spec.errors(spec.schema("CollectionStats"), stats), "real stats are refused")
        require(spec.errors(spec.schema("CollectionStats"), mutated(stats, ["junk"], 1)), "extra stats member passes")
        require(spec.errors(spec.schema("CollectionStats"), mutated(stats, ["metric"], "l1")), "metric l1 passes")


# -- the routes: the source and the running server ----------------------------------------------


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def source_routes(source_dir):
    """(template -> set of methods, public templates, admin templates) from api/request_parser.*."""
    hpp = strip_comments(open(os.path.join(source_dir, "api/request_parser.hpp")).read())
    cpp = strip_comments(open(os.path.join(source_dir, "api/request_parser.cpp")).read())
    m = re.search(r"enum class route_kind\b[^{]*\{(.*?)\};", hpp, re.S)
    require(m, "api/request_parser.hpp: no `enum class route_kind` (update openapi_check.py's parser)")
    kinds = [k.split("=")[0].strip() for k in m.group(1).split(",") if k.strip()]
    m = re.search(r"\btemplates\s*\{\{(.*?)\}\};", cpp, re.S)
    require(m, "api/request_parser.cpp: no `templates{{...}};` table (update openapi_check.py's parser)")
    templates = re.findall(r'"([^"]*)"', m.group(1))
    require(len(templates) == len(kinds), "route_kind has %d members, templates %d entries" % (len(kinds), len(templates)))
    by_kind = dict(zip(kinds, templates))
    rows = re.findall(r"\{\s*route_kind::(\w+)\s*,\s*\"([A-Z]+)\"\s*,\s*endpoint::\w+\s*\}", cpp)
    require(rows, "api/request_parser.cpp: no {route_kind::..., \"METHOD\", endpoint::...} rows")
    routes = {}
    for kind, method in rows:
        require(kind in by_kind, "method row names unknown route_kind::%s" % kind)
        routes.setdefault(by_kind[kind], set()).add(method)

    def kinds_in(function):
        m = re.search(r"bool\s+%s\s*\(\s*route_kind\s+\w+\s*\)\s*\{" % function, cpp)
        require(m, "api/request_parser.cpp: no `bool %s(route_kind ...) {`" % function)
        depth, i = 1, m.end()
        while depth and i < len(cpp):
            depth += {"{": 1, "}": -1}.get(cpp[i], 0)
            i += 1
        return {by_kind[k] for k in re.findall(r"route_kind::(\w+)", cpp[m.end():i])}
    return routes, kinds_in("is_public"), kinds_in("is_admin")


def document_routes(spec):
    routes, public, admin = {}, set(), set()
    for template, item in spec.doc["paths"].items():
        for m in METHODS:
            op = item.get(m)
            if op is None:
                continue
            routes.setdefault(template, set()).add(m.upper())
            security = op.get("security", spec.doc.get("security", []))
            if security == [] or {} in security:
                public.add(template)
            if security == [{"adminToken": []}, {"bearerToken": []}]:
                admin.add(template)
    return routes, public, admin


def example_path(spec, template):
    item = spec.doc["paths"][template]
    params = [spec.deref(p) for p in item.get("parameters", [])]
    for m in METHODS:
        if m in item:
            params += [spec.deref(p) for p in item[m].get("parameters", [])]
    path = template
    for p in params:
        if p["in"] == "path":
            path = path.replace("{%s}" % p["name"], urllib.parse.quote(str(p["example"]), safe=""))
    return path


def check_routes(spec, res, source_dir, url):
    doc_routes, doc_public, doc_admin = document_routes(spec)
    with res.check("routes: the source's route table (api/request_parser.cpp) equals the document's paths and methods"):
        src_routes, src_public, src_admin = source_routes(source_dir)
        missing = {t: sorted(m - doc_routes.get(t, set())) for t, m in src_routes.items() if m - doc_routes.get(t, set())}
        extra = {t: sorted(m - src_routes.get(t, set())) for t, m in doc_routes.items() if m - src_routes.get(t, set())}
        require(not missing and not extra, "in the server but not the document: %s; in the document but not "
                "the server: %s" % (missing, extra))
    with res.check("routes: the source's public and admin routes are the document's"):
        require(src_public == doc_public, "public: source %s, document %s" % (sorted(src_public), sorted(doc_public)))
        require(src_admin == doc_admin, "admin: source %s, document %s" % (sorted(src_admin), sorted(doc_admin)))
    client = Client(url)
    for template in sorted(doc_routes):
        path = example_path(spec, template)
        documented = doc_routes[template]
        with res.check("routes: %s answers its documented methods %s and 405 with that Allow to the others"
                       % (template, ",".join(sorted(documented)))):
            for method in PROBE_METHODS:
                # No token: a documented method answers (public) or 401s; either
                # way the route and method exist, and nothing is changed.
                r = client.request(method, path, token=None)
                if method in documented:
                    require(r.status not in (404, 405), "%s %s: %d (route or method missing)" % (method, path, r.status))
                    if template in doc_public:
                        spec.validate(r, method, template, expect=200)
                    else:
                        spec.validate(r, method, template, expect=401)
                else:
                    spec.validate(r, method, None, expect=405)
                    allow = {m.strip() for m in (r.header("allow") or "").split(",") if m.strip()}
                    require(allow == documented, "%s %s: Allow %r, the document has %s"
                            % (method, path, r.header("allow"), sorted(documented)))
    with res.check("routes: paths the document does not have are 404 for every method"):
        for path in ["/v1", "/v2/health", "/v1/nothing", "/v1/collections/a/b/c/d", "/metrics/x",
                     "/v1/admin", "/v1/admin/backends/x/explode", "/v1/admin/check/1/2", "/v1/health/x"]:
            for method in ["GET", "POST"]:
                r = client.request(method, path, token=None)
                spec.validate(r, method, None, expect=404)


# -- the replies of the main server: PostgreSQL and a vector store, with tokens -------------------


def health_ready(body):
    return all(b["state"] == "up" and b["replica"] == "in_sync" and b["serving"] for b in body["backends"])


def await_ready(spec, client, what, timeout=180):
    """Polls health (each reply validated) until every backend is up, in sync and serving."""
    def ready():
        r = client.request("GET", "/v1/health")
        body = spec.validate(r, "GET", "/v1/health", expect=(200, 503))
        return r.status == 200 and health_ready(body)
    poll("%s: every backend up and in sync" % what, ready, timeout=timeout, interval=0.1)


def check_main(spec, res, url, token, admin):
    user = Client(url, token)
    root = Client(url, admin)
    anon = Client(url, None)
    with res.check("main: the server comes up, every backend in sync"):
        await_ready(spec, user, "main")

    # -- public routes
    with res.check("main: GET / is the status page (text/html, public)"):
        spec.validate(anon.request("GET", "/"), "GET", "/", expect=200)
        spec.validate(user.request("GET", "/"), "GET", "/", expect=200)
    with res.check("main: GET /v1/status without a token: the document's Status, no last_error"):
        body = spec.validate(anon.request("GET", "/v1/status"), "GET", "/v1/status", expect=200)
        check_status_body(body, with_errors=False)
    with res.check("main: GET /v1/status with the token: last_error in health"):
        body = spec.validate(user.request("GET", "/v1/status"), "GET", "/v1/status", expect=200)
        check_status_body(body, with_errors=True)
    with res.check("main: GET /v1/health: states only without a token, last_error with either token"):
        body = spec.validate(anon.request("GET", "/v1/health"), "GET", "/v1/health", expect=200)
        require(body["status"] == "ok", "health %s" % body)
        require(all("last_error" not in b for b in body["backends"]), "last_error without a token")
        require(all("primary" not in b.get("database", {}) for b in body["backends"]), "primary host without a token")
        require({b["name"] for b in body["backends"]} == {"postgres", "vectors"}, "backends %s" % body)
        for c in (user, root):
            body = spec.validate(c.request("GET", "/v1/health"), "GET", "/v1/health", expect=200)
            require(all("last_error" in b for b in body["backends"]), "no last_error with a token")
        pg = [b for b in body["backends"] if b["name"] == "postgres"][0]
        require("database" in pg and "primary" in pg["database"], "postgres health without its database")
    with res.check("main: GET /metrics is Prometheus text, public"):
        spec.validate(anon.request("GET", "/metrics"), "GET", "/metrics", expect=200)

    # -- collections
    C = "/v1/collections/{name}"
    with res.check("main: PUT a collection: 201, then 200 identically, 409 differently"):
        r = user.request("PUT", "/v1/collections/oa", {"dimension": 3, "metric": "l2"})
        body = spec.validate(r, "PUT", C, expect=201)
        require(body["backends"] == {"postgres": "applied", "vectors": "applied"}, "receipt %s" % body)
        require(r.header("x-served-by") == "postgres, vectors", "X-Served-By %r" % r.header("x-served-by"))
        spec.validate(user.request("PUT", "/v1/collections/oa", {"dimension": 3}), "PUT", C, expect=200)
        spec.validate(user.request("PUT", "/v1/collections/oa", {"dimension": 4}), "PUT", C, expect=409)
        spec.validate(user.request("PUT", "/v1/collections/oa", {"dimension": 3, "metric": "ip"}), "PUT", C, expect=409)
        for metric in ("ip", "cosine"):
            spec.validate(user.request("PUT", "/v1/collections/oa-" + metric, {"dimension": 2, "metric": metric}),
                          "PUT", C, expect=201)
    with res.check("main: PUT a collection with a bad body or name: 400"):
        for body in ["", "{", "[]", {"dimension": 0}, {"dimension": 65537}, {"dimension": "3"}, {"metric": "l2"},
                     {"dimension": 3, "metric": "l1"}, {"dimension": 3, "extra": 1}]:
            spec.validate(user.request("PUT", "/v1/collections/oa-bad", body), "PUT", C, expect=400)
        for name in ["a%00b", "a%2Fb", "a%zz", "a" * 129, "sp%20ace"]:
            spec.validate(user.request("PUT", "/v1/collections/" + name, {"dimension": 3}), "PUT", C, expect=400)
    with res.check("main: GET /v1/collections and a collection: 200; an unknown one: 404"):
        r = user.request("GET", "/v1/collections")
        body = spec.validate(r, "GET", "/v1/collections", expect=200)
        names = {c["name"] for c in body["collections"]}
        require({"oa", "oa-ip", "oa-cosine"} <= names, "collections %s" % names)
        body = spec.validate(user.request("GET", "/v1/collections/oa"), "GET", C, expect=200)
        require(body == {"name": "oa", "dimension": 3, "metric": "l2", "count": 0}, "stats %s" % body)
        spec.validate(user.request("GET", "/v1/collections/nope"), "GET", C, expect=404)
        spec.validate(user.request("DELETE", "/v1/collections/nope"), "DELETE", C, expect=404)
    with res.check("main: DELETE a collection: 200"):
        body = spec.validate(user.request("DELETE", "/v1/collections/oa-ip"), "DELETE", C, expect=200)
        require(body["name"] == "oa-ip", "%s" % body)

    # -- documents
    D = "/v1/collections/{name}/documents/{id}"
    B = "/v1/collections/{name}/documents"
    S = "/v1/collections/{name}/search"
    with res.check("main: PUT, GET, batch, search and DELETE documents: 200"):
        r = user.request("PUT", "/v1/collections/oa/documents/a", {"vector": [1, 2, 3], "content": "alpha",
                                                                   "metadata": {"k": "v", "n": [1, 2]}})
        body = spec.validate(r, "PUT", D, expect=200)
        require(body["backends"] == {"postgres": "applied", "vectors": "applied"}, "receipt %s" % body)
        r = user.request("GET", "/v1/collections/oa/documents/a")
        body = spec.validate(r, "GET", D, expect=200)
        require(body["vector"] == [1, 2, 3] and body["content"] == "alpha" and body["metadata"] == {"k": "v", "n": [1, 2]},
                "document %s" % body)
        spec.validate(user.request("PUT", "/v1/collections/oa/documents/b%20%C3%A9", {"vector": [1e15, -1e15, 0.5]}),
                      "PUT", D, expect=200)
        body = spec.validate(user.request("GET", "/v1/collections/oa/documents/b%20%C3%A9"), "GET", D, expect=200)
        require(body["metadata"] is None and body["content"] == "" and body["id"] == "b é", "document %s" % body)
        batch = {"documents": [{"id": "c%d" % i, "vector": [i, i, i], "content": "c", "metadata": {"i": i}}
                               for i in range(3)] + [{"id": "d", "vector": [0, 0, 1], "metadata": None}]}
        body = spec.validate(user.request("POST", "/v1/collections/oa/documents", batch), "POST", B, expect=200)
        require(body["count"] == 4, "%s" % body)
        body = spec.validate(user.request("POST", "/v1/collections/oa/documents", {"documents": []}),
                             "POST", B, expect=200)
        require(body["count"] == 0, "%s" % body)
        for q in ({"vector": [1, 2, 3]}, {"vector": [0, 0, 0], "k": 2, "ef": 16}, {"vector": [1, 1, 1], "k": 10000}):
            r = user.request("POST", "/v1/collections/oa/search", q)
            body = spec.validate(r, "POST", S, expect=200)
            d = [h["distance"] for h in body["results"]]
            require(d == sorted(d) and len(d) <= q.get("k", 10) and d, "results %s" % body)
        body = spec.validate(user.request("POST", "/v1/collections/oa-cosine/search", {"vector": [1, 0]}),
                             "POST", S, expect=200)
        require(body["results"] == [], "%s" % body)
        body = spec.validate(user.request("DELETE", "/v1/collections/oa/documents/d"), "DELETE", D, expect=200)
        require(body["id"] == "d", "%s" % body)
    with res.check("main: unknown documents and collections: 404"):
        spec.validate(user.request("DELETE", "/v1/collections/oa/documents/d"), "DELETE", D, expect=404)
        spec.validate(user.request("GET", "/v1/collections/oa/documents/d"), "GET", D, expect=404)
        spec.validate(user.request("GET", "/v1/collections/nope/documents/a"), "GET", D, expect=404)
        spec.validate(user.request("PUT", "/v1/collections/nope/documents/a", {"vector": [1]}), "PUT", D, expect=404)
        spec.validate(user.request("POST", "/v1/collections/nope/documents", {"documents": [{"id": "a", "vector": [1]}]}),
                      "POST", B, expect=404)
        spec.validate(user.request("POST", "/v1/collections/nope/search", {"vector": [1]}), "POST", S, expect=404)
    with res.check("main: bad documents, batches, searches, ids: 400 (Bad request or Invalid argument)"):
        titles = set()
        for body in ["", "{", {"vector": "1,2,3"}, {"vector": [1, "2", 3]}, {"vector": [1e39, 0, 0]}, {"content": "x"},
                     {"vector": [1, 2, 3], "content": 5}, {"vector": [1, 2, 3], "metadata": [1]},
                     {"vector": [1, 2, 3], "version": 7}, {"vector": [1, 2]}]:
            titles.add(spec.validate(user.request("PUT", "/v1/collections/oa/documents/x", body), "PUT", D, expect=400)["title"])
        require(titles == {"Bad request", "Invalid argument"}, "titles %s" % titles)
        for ident in ["%01", "a%00", "%FF", "x" * 1025]:
            spec.validate(user.request("GET", "/v1/collections/oa/documents/" + ident), "GET", D, expect=400)
        for body in [{"documents": {}}, {"documents": [{"vector": [1, 2, 3]}]}, {"documents": [{"id": 5, "vector": [1, 2, 3]}]},
                     {"documents": [1]}, {"documents": [{"id": "%s" % "\u0001", "vector": [1, 2, 3]}]}]:
            spec.validate(user.request("POST", "/v1/collections/oa/documents", body), "POST", B, expect=400)
        for body in [{"k": 3}, {"vector": [1, 2, 3], "k": 0}, {"vector": [1, 2, 3], "k": 10001},
                     {"vector": [1, 2, 3], "ef": 100001}, {"vector": [1, 2, 3], "x": 1}, {"vector": [1, 2]}]:
            spec.validate(user.request("POST", "/v1/collections/oa/search", body), "POST", S, expect=400)

    # -- tokens
    with res.check("main: without the token, or a wrong one, or the user token on admin routes: 401"):
        for method, path, template, body in [
                ("GET", "/v1/collections", "/v1/collections", None),
                ("PUT", "/v1/collections/oa", C, {"dimension": 3}),
                ("GET", "/v1/collections/oa/documents/a", D, None),
                ("POST", "/v1/collections/oa/search", S, {"vector": [1, 2, 3]}),
                ("POST", "/v1/admin/check", "/v1/admin/check", None)]:
            for tok in (None, "wrong", token + "x"):
                r = user.request(method, path, body, token=tok)
                spec.validate(r, method, template, expect=401)
        r = user.request("POST", "/v1/admin/backends/vectors/stop")
        body = spec.validate(r, "POST", "/v1/admin/backends/{name}/stop", expect=401)
        require(body["detail"] == "the admin token is required", "%s" % body)
        r = user.request("GET", "/v1/collections", token=None)
        require(spec.validate(r, "GET", "/v1/collections", expect=401)["detail"] == "a valid bearer token is required",
                "%s" % r)
    with res.check("main: the admin token opens the other routes too"):
        spec.validate(root.request("GET", "/v1/collections"), "GET", "/v1/collections", expect=200)
    with res.check("main: a method a route does not allow: 405 with Allow, before the token is looked at"):
        for method, path, allow in [("POST", "/v1/health", "GET"), ("DELETE", "/v1/collections", "GET"),
                                    ("PATCH", "/v1/collections/oa", "GET, PUT, DELETE"),
                                    ("GET", "/v1/admin/backends/vectors/stop", "POST")]:
            r = anon.request(method, path)
            spec.validate(r, method, None, expect=405)
            require(r.header("allow") == allow, "%s %s: Allow %r" % (method, path, r.header("allow")))
    with res.check("main: unknown routes: 404"):
        for path in ["/v1/nothing", "/v1/collections/oa/documents/a/b", "/v1/admin/check/abc",
                     "/v1/admin/check/99999999999999999999"]:
            spec.validate(anon.request("GET", path), "GET", None, expect=404)

    # -- check jobs
    with res.check("main: POST /v1/admin/check: 202 with Location; the job's status until done; 404 for no job"):
        for query, body in [("", None), ("?repair=true", None), ("?repair", None), ("", {"repair": True}), ("", {})]:
            r = root.request("POST", "/v1/admin/check" + query, body)
            started = spec.validate(r, "POST", "/v1/admin/check", expect=202)
            require(r.header("location") == started["status"] == "/v1/admin/check/%d" % started["id"],
                    "Location %r, body %s" % (r.header("location"), started))

            def done():
                s = spec.validate(root.request("GET", started["status"]), "GET", "/v1/admin/check/{id}", expect=200)
                return s if s["state"] == "done" else None
            s = poll("check job %d done" % started["id"], done, timeout=120, interval=0.1)
            require(s["id"] == started["id"] and s["report"]["consistent"], "job %s" % s)
            require(s["repair"] == (query.startswith("?repair") or bool(body)), "repair %s for %s %s" % (s["repair"], query, body))
        spec.validate(root.request("GET", "/v1/admin/check/999999999"), "GET", "/v1/admin/check/{id}", expect=404)
    with res.check("main: GET /v1/admin/check: the report (200), or the job's URL (202)"):
        for query in ("", "?repair=1", "?repair=false"):
            r = root.request("GET", "/v1/admin/check" + query)
            body = spec.validate(r, "GET", "/v1/admin/check", expect=(200, 202))
            if r.status == 200:
                require(body["consistent"] and body["backends"] == ["postgres", "vectors"], "report %s" % body)
                oa = [c for c in body["collections"] if c["name"] == "oa"][0]
                require(oa["counts"] == {"postgres": 5, "vectors": 5}, "counts %s" % oa)
    with res.check("main: check jobs with a bad query or body: 400"):
        for method in ("GET", "POST"):
            for query, body in [("?repair=maybe", None), ("?x=1", None), ("", {"repair": 1}), ("", {"fix": True}),
                                ("", "{"), ("", [])]:
                spec.validate(root.request(method, "/v1/admin/check" + query, body), method, "/v1/admin/check", expect=400)

    # -- admin backends and outages
    A = "/v1/admin/backends/{name}/"
    with res.check("main: admin routes for an unknown or badly named backend: 404, 400"):
        for action in ("stop", "start", "restart"):
            spec.validate(root.request("POST", "/v1/admin/backends/nope/" + action), "POST", A + action, expect=404)
            spec.validate(root.request("POST", "/v1/admin/backends/a%00b/" + action), "POST", A + action, expect=400)
    try:
        with res.check("main: one backend stopped: 202 (idempotent); writes deferred for it, reads served by the other"):
            for _ in range(2):
                body = spec.validate(root.request("POST", "/v1/admin/backends/vectors/stop"), "POST", A + "stop", expect=202)
                require(body == {"stopping": "vectors"}, "%s" % body)
            body = spec.validate(user.request("GET", "/v1/health"), "GET", "/v1/health", expect=200)
            v = [b for b in body["backends"] if b["name"] == "vectors"][0]
            require(body["status"] == "degraded" and v["state"] == "stopped" and not v["serving"], "health %s" % body)
            r = user.request("PUT", "/v1/collections/oa/documents/e", {"vector": [3, 2, 1]})
            body = spec.validate(r, "PUT", D, expect=200)
            require(body["backends"] == {"postgres": "applied", "vectors": "deferred"}, "receipt %s" % body)
            require(r.header("x-served-by") == "postgres", "X-Served-By %r" % r.header("x-served-by"))
            r = user.request("GET", "/v1/collections/oa/documents/e")
            spec.validate(r, "GET", D, expect=200)
            require(r.header("x-served-by") == "postgres", "X-Served-By %r" % r.header("x-served-by"))
            spec.validate(user.request("POST", "/v1/collections/oa/search", {"vector": [3, 2, 1]}), "POST", S, expect=200)
        with res.check("main: every backend stopped: health 503 unavailable; reads and writes 503 naming every backend"):
            spec.validate(root.request("POST", "/v1/admin/backends/postgres/stop"), "POST", A + "stop", expect=202)
            body = spec.validate(user.request("GET", "/v1/health"), "GET", "/v1/health", expect=503)
            require(body["status"] == "unavailable", "health %s" % body)
            body = spec.validate(anon.request("GET", "/v1/health"), "GET", "/v1/health", expect=503)
            for method, path, template, req in [
                    ("GET", "/v1/collections/oa/documents/a", D, None),
                    ("PUT", "/v1/collections/oa/documents/f", D, {"vector": [1, 1, 1]}),
                    ("DELETE", "/v1/collections/oa/documents/a", D, None),
                    ("POST", "/v1/collections/oa/documents", B, {"documents": [{"id": "g", "vector": [1, 1, 1]}]}),
                    ("POST", "/v1/collections/oa/search", S, {"vector": [1, 1, 1]}),
                    ("GET", "/v1/collections", "/v1/collections", None),
                    ("GET", "/v1/collections/oa", C, None),
                    ("PUT", "/v1/collections/oa-new", C, {"dimension": 2}),
                    ("DELETE", "/v1/collections/oa-cosine", C, None)]:
                r = user.request(method, path, req)
                body = spec.validate(r, method, template, expect=503)
                require(body["title"] == "All backends unavailable", "%s %s: %s" % (method, path, body))
                require({b["name"] for b in body["backends"]} == {"postgres", "vectors"}, "backends %s" % body)
        with res.check("main: GET /v1/status during the outage: 200, its health unavailable"):
            body = spec.validate(user.request("GET", "/v1/status"), "GET", "/v1/status", expect=200)
            check_status_body(body, with_errors=True)
            require(body["health"]["status"] == "unavailable", "status %s" % body["health"])
        with res.check("main: GET /v1/admin/check with no backend in sync: 503 with the report's error"):
            r = root.request("GET", "/v1/admin/check")
            body = spec.validate(r, "GET", "/v1/admin/check", expect=503)
            require(r.header("content-type") == "application/json" and body["error"], "%s" % body)
        with res.check("main: restarting a backend that is not up: 503 Backend unavailable"):
            body = spec.validate(root.request("POST", "/v1/admin/backends/postgres/restart"), "POST", A + "restart", expect=503)
            require(body["title"] == "Backend unavailable", "%s" % body)
    finally:
        with res.check("main: backends started again: 202 (idempotent), in sync again (health validated throughout)"):
            for name in ("postgres", "vectors"):
                for _ in range(2):
                    body = spec.validate(root.request("POST", "/v1/admin/backends/%s/start" % name),
                                         "POST", A + "start", expect=202)
                    require(body == {"starting": name}, "%s" % body)
            await_ready(spec, user, "main after the outage")
    with res.check("main: the write deferred while a backend was stopped reached it"):
        def vectors_hold_it():
            r = root.request("GET", "/v1/admin/check")
            body = spec.validate(r, "GET", "/v1/admin/check", expect=(200, 202))
            return r.status == 200 and body["consistent"]
        poll("a consistent check", vectors_hold_it, timeout=60, interval=0.2)
    with res.check("main: restarting a backend that is up: 202, then in sync again"):
        body = spec.validate(root.request("POST", "/v1/admin/backends/vectors/restart"), "POST", A + "restart", expect=202)
        require(body == {"restarting": "vectors"}, "%s" % body)
        await_ready(spec, user, "main after a restart")


def check_status_body(body, with_errors):
    """What the Status schema cannot say: the series' lengths, the token's effect."""
    n = body["window_s"]
    for name, series in [("fallbacks", body["fallbacks"]), ("hedges", body["hedges"]), ("outages", body["outages"])] + \
            [("backends.%s.%s" % (b, k), v) for b, s in body["backends"].items() for k, v in s.items()]:
        require(len(series) == n, "%s has %d entries, window_s is %d" % (name, len(series), n))
    names = {b["name"] for b in body["health"]["backends"]}
    require(set(body["backends"]) <= names, "series for %s, health has %s" % (sorted(body["backends"]), sorted(names)))
    has = ["last_error" in b for b in body["health"]["backends"]]
    require(all(has) if with_errors else not any(has), "last_error %s with_errors=%s" % (has, with_errors))
    require(abs(body["now"] - time.time() * 1000) < 24 * 3600 * 1000, "now %s is not unix ms" % body["now"])


# -- limits: a memory backend, max_in_flight 1, short deadlines ----------------------------------


def check_limits(spec, res, url, max_connections):
    client = Client(url)
    port = client.port
    with res.check("limits: the server comes up"):
        await_ready(spec, client, "limits")
        spec.validate(client.request("PUT", "/v1/collections/lim", {"dimension": 1}), "PUT", "/v1/collections/{name}",
                      expect=201)
    with res.check("limits: an unreadable request: 400"):
        r = raw_exchange(port, b"GARBAGE\r\n\r\n")
        body = spec.validate(r, "GET", None, expect=400)
        require(body["detail"] == "unreadable HTTP request", "%s" % body)
        r = raw_exchange(port, b"GET nopath HTTP/1.1\r\nHost: x\r\n\r\n")
        spec.validate(r, "GET", None, expect=400)
    with res.check("limits: a head over 64 KiB: 431"):
        r = raw_exchange(port, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        spec.validate(r, "GET", "/v1/health", expect=431)
        spec.validate(r, "GET", None, expect=431)
    with res.check("limits: a Content-Length over body_limit_bytes: 413 before the body is read"):
        r = raw_exchange(port, b"POST /v1/collections/lim/search HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: 20000000\r\n\r\n")
        spec.validate(r, "POST", "/v1/collections/{name}/search", expect=413)
        spec.validate(r, "POST", None, expect=413)
    with res.check("limits: a batch over max_batch: 413"):
        docs = {"documents": [{"id": str(i), "vector": [i]} for i in range(4)]}
        body = spec.validate(client.request("POST", "/v1/collections/lim/documents", docs),
                             "POST", "/v1/collections/{name}/documents", expect=413)
        require("at most 3" in body["detail"], "%s" % body)
    with res.check("limits: a head that does not arrive in time: 408"):
        r = raw_exchange(port, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        body = spec.validate(r, "GET", None, expect=408)
        require("head" in body["detail"], "%s" % body)
    with res.check("limits: a body that does not arrive in time: 408"):
        r = raw_exchange(port, b"POST /v1/collections/lim/search HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"")
        body = spec.validate(r, "POST", "/v1/collections/{name}/search", expect=408)
        require("body" in body["detail"], "%s" % body)

    # A keep-alive connection that watches the server's gauges (/metrics is
    # neither counted in flight nor shed).
    watch = http.client.HTTPConnection(client.host, port, timeout=60)

    def gauge(name):
        r = client.exchange(watch, "GET", "/metrics")
        spec.validate(r, "GET", "/metrics", expect=200)
        return metric(r.body.decode(), name)

    with res.check("limits: at max_in_flight (1): 503 Overloaded with Retry-After 1; /metrics still served"):
        poll("no request in flight", lambda: gauge("lifeline_http_in_flight") == 0, timeout=30)
        # A request whose head was screened holds its place while its body
        # is awaited (8 MB at min_body_rate: half a minute).
        held = socket.create_connection(("127.0.0.1", port), timeout=60)
        try:
            held.sendall(b"POST /v1/collections/lim/search HTTP/1.1\r\nHost: x\r\nContent-Length: 8000000\r\n\r\n{")
            poll("the held request in flight", lambda: gauge("lifeline_http_in_flight") == 1, timeout=30)
            r = client.request("GET", "/v1/collections")
            body = spec.validate(r, "GET", "/v1/collections", expect=503)
            require(body["title"] == "Overloaded" and r.header("retry-after") == "1", "%s %s" % (body, r.headers))
            r = client.request("POST", "/v1/collections/lim/search", {"vector": [1]})
            body = spec.validate(r, "POST", "/v1/collections/{name}/search", expect=503)
            require(body["title"] == "Overloaded", "%s" % body)
            require(gauge("lifeline_http_shed_total") == 2, "lifeline_http_shed_total")
        finally:
            held.close()
        poll("the held request gone", lambda: gauge("lifeline_http_in_flight") == 0, timeout=30)
        spec.validate(client.request("GET", "/v1/collections"), "GET", "/v1/collections", expect=200)

    with res.check("limits: at max_connections (%d): the next connection gets 503 Overloaded, unread" % max_connections):
        poll("only the watching connection open", lambda: gauge("lifeline_http_connections") == 1, timeout=30)
        open_ = []
        try:
            for _ in range(max_connections - 1):
                c = http.client.HTTPConnection(client.host, port, timeout=60)
                open_.append(c)
                spec.validate(client.exchange(c, "GET", "/v1/health"), "GET", "/v1/health", expect=200)
            require(gauge("lifeline_http_connections") == max_connections, "connections gauge")
            # The connection past the cap is answered at once, before it sends anything.
            r = raw_exchange(port, b"", send=False)
            body = spec.validate(r, "GET", None, expect=503)
            require(body["title"] == "Overloaded" and r.header("retry-after") == "1", "%s" % body)
            require(gauge('lifeline_http_connections_refused_total{reason="connection_cap"}') == 1, "refused counter")
        finally:
            for c in open_:
                c.close()
    watch.close()


# -- a request past its deadline, and a stop under way ---------------------------------------


def process_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def check_slow(spec, res, url, pid, pg_ctl):
    client = Client(url)
    C = "/v1/collections/{name}"
    with res.check("slow: the server comes up, PostgreSQL serves collection reads"):
        await_ready(spec, client, "slow")
        spec.validate(client.request("PUT", "/v1/collections/slow", {"dimension": 2}), "PUT", C, expect=201)
        r = client.request("GET", "/v1/collections/slow")
        spec.validate(r, "GET", C, expect=200)
        require(r.header("x-served-by") == "postgres", "X-Served-By %r" % r.header("x-served-by"))
    keep = http.client.HTTPConnection(client.host, client.port, timeout=60)
    spec.validate(client.exchange(keep, "GET", "/v1/health"), "GET", "/v1/health", expect=200)
    held = {}
    paused = False
    try:
        subprocess.run(["bash", pg_ctl, "pause"], check=True)
        paused = True

        def read():
            try:
                held["resp"] = client.request("GET", "/v1/collections/slow", timeout=120)
            except Exception as e:  # noqa: BLE001
                held["error"] = e
        t = threading.Thread(target=read)
        t.start()

        def in_flight():
            r = client.request("GET", "/metrics")
            return metric(r.body.decode(), "lifeline_http_in_flight") == 1
        with res.check("slow: a stop under way: a request on an open connection gets 503 Shutting down"):
            poll("the read on the frozen database in flight", in_flight, timeout=30)
            os.kill(pid, signal.SIGTERM)

            # The stop has begun once new connections are refused (the server
            # sets its stopping flag, then closes its acceptor).
            def connect_refused():
                try:
                    socket.create_connection(("127.0.0.1", client.port), timeout=10).close()
                    return False
                except ConnectionRefusedError:
                    return True
            poll("new connections refused", connect_refused, timeout=30, interval=0.02)
            r = client.exchange(keep, "GET", "/v1/health")
            body = spec.validate(r, "GET", "/v1/health", expect=503)
            require(body["title"] == "Shutting down" and r.header("retry-after") == "1", "%s" % body)
        with res.check("slow: past request_timeout_ms, a read the database does not answer: 504"):
            t.join(120)
            require(not t.is_alive(), "the held read did not end")
            require("resp" in held, "the held read failed: %r" % held.get("error"))
            body = spec.validate(held["resp"], "GET", C, expect=504)
            require(body["title"] == "Timeout", "%s" % body)
    finally:
        keep.close()
        if paused:
            subprocess.run(["bash", pg_ctl, "resume"], check=True)
    with res.check("slow: the server exits after the drain"):
        poll("the server's exit", lambda: process_gone(pid), timeout=90, interval=0.1)


# -- coverage of the error classes ---------------------------------------------------------------


def check_coverage(spec, res, expected):
    with res.check("coverage: every error class was produced and validated: %s" % ",".join(map(str, sorted(expected)))):
        seen = {s for (_, _, s, _) in spec.validated}
        require(expected <= seen, "not produced: %s" % sorted(expected - seen))
        titles = {t for (_, _, s, t) in spec.validated if s == 503}
        for t in ("All backends unavailable", "Overloaded", "Backend unavailable", "Shutting down"):
            require(t in titles, "no 503 %r" % t)
    print("validated %d replies: %s" % (len(spec.validated), ", ".join(
        "%d×%d" % (s, sum(1 for v in spec.validated if v[2] == s)) for s in sorted({v[2] for v in spec.validated}))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--doc", required=True)
    ap.add_argument("--source", required=True, help="the repository (for api/request_parser.*)")
    sub = ap.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("routes")
    r.add_argument("--url", required=True)
    p = sub.add_parser("responses")
    p.add_argument("--main", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--admin-token-file", required=True)
    p.add_argument("--limits", required=True)
    p.add_argument("--limits-max-connections", type=int, required=True)
    p.add_argument("--slow", required=True)
    p.add_argument("--slow-pid", type=int, required=True)
    p.add_argument("--pg-ctl", required=True)
    args = ap.parse_args()

    spec = Spec(args.doc)
    res = Results()
    check_document(spec, res)
    check_schemas_refuse(spec, res)
    if args.mode == "routes":
        check_routes(spec, res, args.source, args.url)
    else:
        token = open(args.token_file).read().strip()
        admin = open(args.admin_token_file).read().strip()
        check_main(spec, res, args.main, token, admin)
        check_limits(spec, res, args.limits, args.limits_max_connections)
        check_slow(spec, res, args.slow, args.slow_pid, args.pg_ctl)
        check_coverage(spec, res, {400, 401, 404, 405, 408, 409, 413, 431, 503, 504})
    return res.summary()


if __name__ == "__main__":
    sys.exit(main())
