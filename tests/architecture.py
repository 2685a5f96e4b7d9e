"""The generated parts of docs/architecture.md, made from the code: the package dependency graph
(Mermaid, from the same import graph import-linter checks) and the table of ports with the classes
that implement them. tests/test_architecture.py fails when the document is stale; rewrite it with

    .venv/bin/python -m tests.architecture
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
GRAPH_START, GRAPH_END = "<!-- graph:start -->", "<!-- graph:end -->"
PORTS_START, PORTS_END = "<!-- ports:start -->", "<!-- ports:end -->"

# The packages in the picture, top (faces) to bottom (shared errors), with what each is.
PACKAGES = {
    "docsvc.cli": "cli<br/>face: the docsvc command",
    "docsvc.web": "web<br/>face: pages and REST API",
    "docsvc.app": "app<br/>wiring: Docsvc, open_docsvc",
    "docsvc.services": "services<br/>use cases, Guard",
    "docsvc.adapters": "adapters<br/>engines: SQL, Whoosh, S3, LibreOffice, OCR",
    "docsvc.core": "core<br/>domain values, rules, ports",
    "docsvc.settings": "settings",
    "docsvc.logs": "logs",
    "docsvc.errors": "errors<br/>domain errors, no HTTP",
    "docsvc": "docsvc/__init__<br/>version",
}


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and ".".join(parts[:2]) in PACKAGES else parts[0]


def package_edges() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(edges, debt edges): package A imports package B somewhere; a debt edge is one whose every
    import is a named exception of the layers contract."""
    graph = grimp.build_graph("docsvc", cache_dir=None)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    layers = next(c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers")
    ignored = {tuple(p.strip() for p in i.split("->")) for i in layers.get("ignore_imports", [])}
    edges: set[tuple[str, str]] = set()
    plain: set[tuple[str, str]] = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = package_of(module), package_of(imported)
            if a != b:
                edges.add((a, b))
                if (module, imported) not in ignored:
                    plain.add((a, b))
    return edges, edges - plain


def mermaid() -> str:
    edges, debts = package_edges()
    ids = {name: name.removeprefix("docsvc.").replace("docsvc", "init") for name in PACKAGES}
    lines = ["```mermaid", "flowchart TD"]
    used = {p for edge in edges for p in edge}
    lines += [f'    {ids[p]}["{label}"]' for p, label in PACKAGES.items() if p in used]
    order = list(PACKAGES)
    for a, b in sorted(edges, key=lambda e: (order.index(e[0]), order.index(e[1]))):
        arrow = ' -. "known debt" .-> ' if (a, b) in debts else " --> "
        lines.append(f"    {ids[a]}{arrow}{ids[b]}")
    lines.append("```")
    return "\n".join(lines)


def _public_members(cls: ast.ClassDef) -> set[str]:
    """Methods, class-level attributes and the attributes ``__init__`` sets on ``self``."""
    names = set()
    for node in cls.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
            if node.name == "__init__":
                names |= {
                    t.attr
                    for n in ast.walk(node)
                    if isinstance(n, ast.Assign | ast.AnnAssign)
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
                }
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return {n for n in names if not n.startswith("_")}


def _classes() -> list[tuple[str, ast.ClassDef]]:
    out = []
    for path in sorted((ROOT / "docsvc").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        out += [(module, node) for node in tree.body if isinstance(node, ast.ClassDef)]
    return out


def ports() -> list[tuple[str, list[str]]]:
    """Each Protocol class (``module.Name``) with the classes whose own methods cover it."""
    classes = _classes()
    # services.container's protocols are what the use cases need of the wiring (docsvc.app.Docsvc),
    # not ports to an engine; docs/architecture.md says so beside the layers.
    protocols = [
        (m, c)
        for m, c in classes
        if m != "docsvc.services.container" and any(isinstance(b, ast.Name) and b.id == "Protocol" for b in c.bases)
    ]
    out = []
    for module, proto in protocols:
        needed = _public_members(proto)
        makers = [
            f"{m}.{c.name}"
            for m, c in classes
            if c is not proto and needed and (m, c) not in protocols and needed <= _public_members(c)
        ]
        out.append((f"{module}.{proto.name}", makers))
    return out


def ports_table() -> str:
    rows = ["| Port (protocol) | Implemented by |", "|---|---|"]
    for port, makers in ports():
        rows.append(f"| `{port}` | {', '.join(f'`{m}`' for m in makers) or '—'} |")
    return "\n".join(rows)


def _between(text: str, start: str, end: str, body: str) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def render(text: str) -> str:
    """``text`` (docs/architecture.md) with its generated parts made anew."""
    return _between(_between(text, GRAPH_START, GRAPH_END, mermaid()), PORTS_START, PORTS_END, ports_table())


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
