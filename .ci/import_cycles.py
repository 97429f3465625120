#!/usr/bin/env python3
"""Import circles in a Rust crate's source folder: between files, and between top-level folders.

Usage: .ci/import_cycles.py SRC_DIR [SRC_DIR ...]   (for example `src` or `filters/src`)

Each file is a module (`a/b.rs` and `a/b/mod.rs` are `a::b`; `main.rs` and `lib.rs` are the
crate root). Every path a file names, in `use` lines and in code alike, that starts with
`crate::`, `super::`, `self::` or the name of a child module the file declares (`mod x;`) is
an edge from that file to the deepest module the path reaches; comments and strings are not
read, and test modules inline in a file count as that file. `mod x;` alone is no edge: a parent
owns its children. A re-export is a use: a folder's `mod.rs` that names a child, and a child
that names something through its parent (`super::X`), make a circle; children name their
siblings (`super::sibling::X`) instead.

Two graphs are checked: files, and top-level folders (a module's first path segment; the crate
root's own file stands alone). Each strongly connected part of more than one member is a circle
and is printed with the edges inside it. Exit status: 1 when there is a circle, 0 otherwise.
"""

import os
import re
import sys

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+|::\{)")
INLINE_MOD = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{")


def strip_comments_and_strings(text):
    """The text with comments and string/char literals blanked, lines kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) or (c == "'" and text.startswith("'\\", i)):
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\x..|\\.|[^\\'])'", text[i:])
            if m:
                out.append("' '")
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_of(root, path):
    rel = os.path.relpath(path, root)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel in (["main"], ["lib"]):
        rel = []
    return tuple(rel)


def group_paths(text, start):
    """The paths inside a `{...}` use group opening at `start` (just after the `{`)."""
    depth, i, token, prefix_stack, paths = 1, start, "", [""], []
    while i < len(text) and depth:
        c = text[i]
        if c == "{":
            prefix_stack.append(prefix_stack[-1] + token.strip())
            token, depth = "", depth + 1
        elif c in ",}":
            if token.strip():
                paths.append(prefix_stack[-1] + token.strip())
            token = ""
            if c == "}":
                prefix_stack.pop()
                depth -= 1
        else:
            token += c
        i += 1
    return [re.sub(r"\s+", "", p).split(" as ")[0] for p in paths]


def references(text):
    """(anchor, [segments]) for every crate/super/self path in the (stripped) text, with the
    byte offset where it appears."""
    refs = []
    for m in PATH.finditer(text):
        if m.group(2) == "::{":
            for inner in group_paths(text, m.end()):
                segs = [s for s in re.split(r"::", inner) if s and s not in ("*", "self")]
                refs.append((m.start(), m.group(1), segs))
        else:
            segs = [s for s in m.group(2).split("::") if s]
            # `crate::a::{b, c}`: the group's members too
            after = text[m.end():m.end() + 3]
            if after.startswith("::{"):
                for inner in group_paths(text, m.end() + 3):
                    more = [s for s in inner.split("::") if s and s not in ("*", "self")]
                    refs.append((m.start(), m.group(1), segs + more))
            refs.append((m.start(), m.group(1), segs))
    return refs


def inline_module_at(text):
    """For each offset, the inline `mod x { ... }` path it sits in: a list of (start, end, name)."""
    spans = []
    for m in re.finditer(INLINE_MOD.pattern, text, re.M):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        spans.append((m.start(), i, m.group(1)))
    return spans


def resolve(modules, here, anchor, segs):
    """The deepest module of `modules` that the path reaches from module `here`."""
    if anchor == "crate":
        base = []
    elif anchor == "self":
        base = list(here)
    else:
        base = list(here[:-1])
    while segs and segs[0] == "super":
        segs, base = segs[1:], base[:-1]
    full = base + [s for s in segs if s != "self"]
    for k in range(len(full), -1, -1):
        if tuple(full[:k]) in modules:
            return tuple(full[:k])
    return ()


def graph(root):
    files = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(dirpath, name)
                files[module_of(root, path)] = path
    modules = set(files)
    edges = {m: set() for m in modules}
    for mod, path in files.items():
        with open(path, encoding="utf-8") as f:
            text = strip_comments_and_strings(f.read())
        spans = inline_module_at(text)
        children = re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;", text, re.M)
        for child in children:
            # `use child::X` and `child::f()` in the file that declares `mod child;`
            for m in re.finditer(r"(?<![\w:])" + child + r"::", text):
                if mod + (child,) in modules:
                    edges[mod].add(mod + (child,))
        for offset, anchor, segs in references(text):
            # inside an inline module, `super` first climbs out of it (to this file)
            inline = [name for s, e, name in spans if s < offset < e]
            here = mod + tuple(inline)
            inside = {here[:k] for k in range(len(mod), len(here) + 1)}
            target = resolve(modules | inside, here, anchor, list(segs))
            if target[: len(mod)] == mod and target not in modules:
                target = mod
            if target != mod:
                edges[mod].add(target)
    return modules, edges


def circles(nodes, edges):
    """Tarjan's strongly connected parts with more than one member."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

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
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def name(module):
    return "::".join(module) or "crate"


def folder(module):
    return module[:1]


def report(root):
    modules, edges = graph(root)
    found = 0
    for part in circles(modules, edges):
        found += 1
        inner = [f"{name(a)} -> {name(b)}" for a in part for b in sorted(edges[a]) if b in part]
        print(f"{root}: circle between files: {', '.join(map(name, part))}\n    " + "\n    ".join(inner))
    folders = {folder(m) for m in modules}
    folder_edges = {f: set() for f in folders}
    for a, targets in edges.items():
        for b in targets:
            if folder(a) != folder(b):
                folder_edges[folder(a)].add(folder(b))
    for part in circles(folders, folder_edges):
        found += 1
        inner = [
            f"{name(a)} -> {name(b)}: " + ", ".join(
                f"{name(x)} -> {name(y)}" for x in sorted(modules) if folder(x) == a for y in sorted(edges[x]) if folder(y) == b)
            for a in part for b in sorted(folder_edges[a]) if b in part
        ]
        print(f"{root}: circle between folders: {', '.join(map(name, part))}\n    " + "\n    ".join(inner))
    return found


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    found = sum(report(root) for root in argv[1:])
    if found:
        print(f"{found} import circle(s)")
        return 1
    print("no import circle in " + ", ".join(argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
