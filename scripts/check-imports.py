#!/usr/bin/env python3
"""The house stays acyclic: prints which source file imports which (src/, production code only)
and fails when files import each other in a circle.

A file's imports are the `crate::`, `super::` and `self::` paths it names outside its
`#[cfg(test)]` module (tests may reach anywhere), resolved to the deepest module file they name.
A child naming its own ancestor's items (`super::Config` from a module's own file) is how Rust
modules are built, not an arrow between rooms, and is left out.

    python3 scripts/check-imports.py [--graph]
"""
import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"


def module_of(path):
    """src/probe/fetch/engine.rs -> ('probe', 'fetch', 'engine'); mod.rs and lib.rs name their dir."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return tuple(parts)


def paths_named(text):
    """Every `crate::`/`super::`/`self::` path, with `use x::{a, b::c}` groups spelled out."""
    found = []
    for m in re.finditer(r"\b((?:crate|super|self)(?:::\w+)*)::\{([^{}]*)\}", text):
        for item in m.group(2).split(","):
            item = item.strip().split(" as ")[0]
            if item and item != "self" and item != "*":
                found.append(m.group(1) + "::" + item)
            elif item == "self":
                found.append(m.group(1))
    found += re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", text)
    return found


def resolve(path, here, modules):
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    else:
        base, rest = here, parts
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    target = base + tuple(rest)
    while target and target not in modules:
        target = target[:-1]
    return target if target in modules else None


def main():
    files = sorted(p for p in SRC.rglob("*.rs") if "node_modules" not in p.parts)
    modules = {module_of(p): p for p in files}
    edges = {}
    for p in files:
        here = module_of(p)
        text = p.read_text()
        cut = text.find("#[cfg(test)]")
        text = text if cut < 0 else text[:cut]
        text = re.sub(r"//.*", "", text)
        for named in paths_named(text):
            t = resolve(named, here, modules)
            if t is None or t == here or here[: len(t)] == t:
                continue
            edges.setdefault(here, set()).add(t)
    name = lambda m: str(modules[m].relative_to(SRC.parent))
    if "--graph" in sys.argv:
        for m in sorted(edges):
            print(f"{name(m)} -> {', '.join(sorted(name(t) for t in edges[m]))}")
    # Tarjan's strongly connected components: any with more than one file is a circle.
    index, low, stack, on, circles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(modules):
        if v not in index:
            visit(v)
    n_edges = sum(len(t) for t in edges.values())
    if circles:
        for c in circles:
            print("import circle: " + ", ".join(sorted(name(m) for m in c)), file=sys.stderr)
        sys.exit(1)
    print(f"{len(modules)} files, {n_edges} imports between them, no circle")


main()
