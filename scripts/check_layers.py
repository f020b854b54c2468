#!/usr/bin/env python3
"""The module walls as a build fact (run by the build: lifeline-check-layers).

1. Every `#include "module/..."` in a module's files is allowed by the module
   map in docs/DATABASE_ARCHITECTURE.md (the table between the
   `module-map` markers: a module may include itself and what its
   "may include" cell names).
2. Nothing outside backends/ includes the vector store's internals
   (backends/hnsw/...).
3. No CAF in the plain C++ layers: no `<caf/...>` include in their files, and
   none in what the compiler says each of their objects actually read (the
   dependency files of the OBJECT libraries lifeline_base, lifeline_postgres,
   lifeline_hnsw), so a CAF header pulled in through another header fails too.
Exits non-zero with one line per violation.
"""
import argparse
import pathlib
import re
import sys

NO_CAF = ("core", "io", "health", "backends", "replication", "metrics")
NO_CAF_OBJECTS = ("lifeline_base_objects", "lifeline_postgres_objects", "lifeline_hnsw_objects")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)
CAF_INCLUDE = re.compile(r'^\s*#\s*include\s+<caf/', re.M)


def module_map(doc: pathlib.Path) -> dict:
    text = doc.read_text()
    m = re.search(r"<!-- module-map -->(.*?)<!-- /module-map -->", text, re.S)
    if not m:
        sys.exit(f"check_layers: no module map between <!-- module-map --> markers in {doc}")
    rows = [r for r in m.group(1).splitlines() if r.startswith("|")]
    header = [c.strip().lower() for c in rows[0].strip("|").split("|")]
    col = header.index("may include")
    allowed = {}
    for row in rows[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        name = re.match(r"`([a-z_]+)/`", cells[0])
        if name:
            allowed[name.group(1)] = set(re.findall(r"`([a-z_]+)/`", cells[col])) | {name.group(1)}
    return allowed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--build")
    args = ap.parse_args()
    src = pathlib.Path(args.source)
    allowed = module_map(src / "docs" / "DATABASE_ARCHITECTURE.md")
    problems = []
    for module, may in sorted(allowed.items()):
        for f in sorted((src / module).rglob("*")):
            if f.suffix not in (".hpp", ".cpp", ".h"):
                continue
            text = f.read_text(errors="replace")
            rel = f.relative_to(src)
            for used in INCLUDE.findall(text):
                if used in allowed and used not in may:
                    problems.append(f"{rel}: includes {used}/, which {module}/ may not use")
            if module != "backends" and '"backends/hnsw/' in text:
                problems.append(f"{rel}: includes the vector store's internals (backends/hnsw/)")
            if module in NO_CAF and CAF_INCLUDE.search(text):
                problems.append(f"{rel}: includes CAF, which {module}/ may not use")
    if args.build:
        for obj in NO_CAF_OBJECTS:
            base = pathlib.Path(args.build) / "CMakeFiles" / f"{obj}.dir"
            for dep in sorted(base.rglob("*.d")):
                if "/caf/" in dep.read_text(errors="replace"):
                    problems.append(f"{dep.relative_to(args.build)}: the object read a CAF header")
    for p in problems:
        print("check_layers:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
