"""Field discovery: every variable a template reads, as a path, by a walk over the Jinja AST with
scopes (loop and ``set`` variables resolved), and the ☐ tick boxes it offers.

Paths use dots for attributes and ``[]`` for list rows: ``party_a.name``,
``payment_schedule[].amount``.
"""

from __future__ import annotations

from collections.abc import Iterable

from jinja2 import nodes

from docsvc.core.content import check_docx_package
from docsvc.core.templating.parts import Part, checkbox_tags, template_parts
from docsvc.core.templating.results import Checkbox, Field, FieldReport, Location
from docsvc.core.templating.sandbox import LOCAL_NAMES, DocxSandbox
from docsvc.core.templating.syntax import parse_parts
from docsvc.errors import TemplateError

_LOCATIONS_PER_FIELD = 20
# Filters that keep the elements of a list, so `for row in rows|sort(...)` still has rows.
_ELEMENT_PRESERVING_FILTERS = frozenset(
    {"sort", "reverse", "list", "unique", "selectattr", "rejectattr", "select", "reject"}
)


class _FieldWalker:
    """Collects (path, lineno) for every field read, resolving loop and ``set`` variables.

    A scope maps a local name to the field path it stands for, or to None for a value that is
    not a field (a macro argument, a namespace, a computed value).
    """

    def __init__(self, global_names: Iterable[str]) -> None:
        self.uses: list[tuple[str, int]] = []
        self._globals = frozenset(global_names)

    def walk(self, body: Iterable[nodes.Node], scope: dict[str, str | None]) -> None:
        for node in body:
            self.visit(node, scope)

    def visit(self, node: nodes.Node, scope: dict[str, str | None]) -> None:
        if isinstance(node, (nodes.Name, nodes.Getattr, nodes.Getitem)):
            pending: list[nodes.Node] = []
            path = self._chain(node, scope, pending)
            if path is not None:
                self.uses.append((path, node.lineno))
            elif not isinstance(node, nodes.Name):
                self.visit(node.node, scope)  # e.g. a method result: (x.y()).z
            for extra in pending:
                self.visit(extra, scope)
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            # A method call such as name.upper() or d.items(): the object is the field.
            self.visit(node.node.node, scope)
            self._visit_all(_call_arguments(node), scope)
        elif isinstance(node, nodes.For):
            self._visit_for(node, scope)
        elif isinstance(node, nodes.Assign):
            self._bind(node.target, self._alias(node.node, scope), scope)
        elif isinstance(node, nodes.AssignBlock):
            self.walk(node.body, scope)
            self._bind(node.target, None, scope)
        elif isinstance(node, nodes.With):
            inner = dict(scope)
            for target, value in zip(node.targets, node.values):
                self._bind(target, self._alias(value, scope), inner)
            self.walk(node.body, inner)
        elif isinstance(node, (nodes.Macro, nodes.CallBlock)):
            if isinstance(node, nodes.CallBlock):
                self.visit(node.call, scope)
            else:
                scope[node.name] = None
            self._visit_all(node.defaults, scope)
            inner = dict(scope)
            for arg in node.args:
                inner[arg.name] = None
            self.walk(node.body, inner)
        else:
            self._visit_all(node.iter_child_nodes(), scope)

    def _visit_all(self, children: Iterable[nodes.Node], scope: dict[str, str | None]) -> None:
        for child in children:
            self.visit(child, scope)

    def _visit_for(self, node: nodes.For, scope: dict[str, str | None]) -> None:
        iterable = node.iter
        while (
            isinstance(iterable, nodes.Filter)
            and iterable.name in _ELEMENT_PRESERVING_FILTERS
            and iterable.node is not None
        ):
            self._visit_all(_call_arguments(iterable), scope)
            iterable = iterable.node
        pending: list[nodes.Node] = []
        path = self._chain(iterable, scope, pending)
        if path is None:
            self.visit(iterable, scope)
            row = None
        else:
            row = path + "[]"
            self.uses.append((row, node.lineno))
            self._visit_all(pending, scope)
        inner = dict(scope)
        inner["loop"] = None
        if isinstance(node.target, nodes.Name):
            inner[node.target.name] = row
        else:
            self._bind(node.target, None, inner)
        if node.test is not None:
            self.visit(node.test, inner)
        self.walk(node.body, inner)
        self.walk(node.else_, scope)

    def _alias(self, value: nodes.Node, scope: dict[str, str | None]) -> str | None:
        """The path a ``set``/``with`` value stands for; an alias alone is not a use."""
        pending: list[nodes.Node] = []
        path = self._chain(value, scope, pending)
        if path is None:
            self.visit(value, scope)
        self._visit_all(pending, scope)
        return path

    def _bind(self, target: nodes.Node, path: str | None, scope: dict[str, str | None]) -> None:
        if isinstance(target, nodes.Name):
            scope[target.name] = path
        elif isinstance(target, nodes.Tuple):
            for item in target.items:
                self._bind(item, None, scope)
        # NSRef (ns.total = …) writes into a namespace object: nothing to bind.

    def _chain(self, node: nodes.Node, scope: dict[str, str | None], pending: list[nodes.Node]) -> str | None:
        """The field path of a Name/Getattr/Getitem chain, or None if it is not a field."""
        if isinstance(node, nodes.Name):
            if node.name in scope:
                return scope[node.name]
            if node.name in self._globals or node.name in LOCAL_NAMES:
                return None
            return node.name
        if isinstance(node, nodes.Getattr):
            base = self._chain(node.node, scope, pending)
            return None if base is None else f"{base}.{node.attr}"
        if isinstance(node, nodes.Getitem):
            base = self._chain(node.node, scope, pending)
            if base is None:
                return None
            arg = node.arg
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                return f"{base}.{arg.value}"
            if isinstance(arg, nodes.Slice):
                pending.extend(arg.iter_child_nodes())
                return base
            if not isinstance(arg, nodes.Const):
                pending.append(arg)
            return f"{base}[]"
        return None


def _call_arguments(node: nodes.Call | nodes.Filter) -> list[nodes.Node]:
    args: list[nodes.Node] = [*node.args, *(kw.value for kw in node.kwargs)]
    args += [n for n in (node.dyn_args, node.dyn_kwargs) if n is not None]
    return args


def collect_fields(parsed: list[tuple[Part, nodes.Template]], global_names: Iterable[str]) -> FieldReport:
    found: dict[str, list[Location]] = {}
    for part, tree in parsed:
        walker = _FieldWalker(global_names)
        walker.walk(tree.body, {})
        for path, lineno in walker.uses:
            locations = found.setdefault(path, [])
            loc = part.location(lineno)
            if loc not in locations and len(locations) < _LOCATIONS_PER_FIELD:
                locations.append(loc)
    boxes: dict[str, list[str]] = {}
    for part, _tree in parsed:
        if part.is_xml:
            for name, choices in checkbox_tags(part.raw_patched)[1].items():
                known = boxes.setdefault(name, [])
                known += [c for c in choices if c not in known]
    return FieldReport(
        tuple(Field(p, tuple(locs)) for p, locs in found.items()),
        tuple(Checkbox(name, tuple(choices)) for name, choices in boxes.items()),
    )


def discover(env: DocxSandbox, data: bytes) -> FieldReport:
    """The fields of a template whose tags all parse; TemplateError naming the first broken one."""
    check_docx_package(data)
    parsed, issues = parse_parts(env, template_parts(data))
    if issues:
        first = issues[0]
        raise TemplateError(
            first.zh + f"（{first.location}）",
            first.en + f" ({first.location})",
            details={"reason": "syntax", "location": str(first.location)},
        )
    return collect_fields(parsed, env.globals)
