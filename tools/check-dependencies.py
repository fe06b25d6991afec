#!/usr/bin/env python3
"""Fails on a forbidden arrow between hako's modules.

Reads the rules in docs/dependencies.rules and every `crate::NAME` path in src/ (in
`use` lines and in code): the module a file belongs to is its first path component
under src/. Prints each forbidden arrow with the file and line, each module without a
rule, and any cycle the rules themselves would allow; exits 1 if there is any.
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
allowed = {}      # module -> set of modules it may use ("*" = any)
forbidden_everywhere = set()
for raw in (root / "docs/dependencies.rules").read_text().splitlines():
    line = raw.split("#", 1)[0].strip()
    if not line:
        continue
    module, _, rest = line.partition(":")
    names = rest.split()
    if module.strip() == "*":
        forbidden_everywhere |= {n[1:] for n in names if n.startswith("!")}
    else:
        allowed[module.strip()] = set(names)

problems = []
modules = {p.name.removesuffix(".rs") for p in (root / "src").iterdir()
           if p.suffix == ".rs" or p.is_dir()}
for m in sorted(modules - allowed.keys()):
    problems.append(f"src/{m}: no rule for this module; give it a line in "
                    f"docs/dependencies.rules (what it may use)")

use = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
for path in sorted((root / "src").rglob("*.rs")):
    rel = path.relative_to(root / "src")
    module = rel.parts[0].removesuffix(".rs")
    rules = allowed.get(module)
    for number, text in enumerate(path.read_text().splitlines(), 1):
        code = text.split("//", 1)[0]
        for target in use.findall(code):
            if target == module:
                continue
            if rules is not None and "*" in rules:
                continue
            if target in forbidden_everywhere or (rules is not None and target not in rules):
                problems.append(f"src/{rel}:{number}: {module} -> {target} is not allowed "
                                f"(docs/dependencies.rules)")

# The rules must point one way: a cycle among explicit arrows is a broken layering.
graph = {m: {t for t in ts if t in allowed and t != "*"} for m, ts in allowed.items()
         if "*" not in ts}
state = {}


def visit(m, path):
    state[m] = "open"
    for t in sorted(graph.get(m, ())):
        if state.get(t) == "open":
            cycle = path[path.index(t):] + [t]
            problems.append("docs/dependencies.rules: the rules allow a cycle: "
                            + " -> ".join(cycle))
        elif t not in state:
            visit(t, path + [t])
    state[m] = "done"


for m in sorted(graph):
    if m not in state:
        visit(m, [m])

for p in problems:
    print(p)
if problems:
    sys.exit(1)
print(f"dependency rules hold ({len(allowed)} modules under rules, no cycle)")
