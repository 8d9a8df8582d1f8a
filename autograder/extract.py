"""The submission's definitions, taken from its source: all that the probe process runs.

Only top-level imports, simple constants and function and class definitions are kept, in notebook
order. Training, data loading, plots, shell and magic lines are left out, so nothing an earlier cell
did to keras, numpy or json at run time reaches the probe.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import nbformat
from IPython.core.inputtransformer2 import TransformerManager


@dataclass(frozen=True)
class Definitions:
    """The statements for the probe process: (cell index, source), in notebook order. Cells with a syntax error
    give none (the run reports them)."""

    statements: list[tuple[int, str]]


def _is_constant(node: ast.AST) -> bool:
    """Whether evaluating `node` only reads names and literals (no calls, no comprehensions)."""
    if isinstance(node, ast.Constant | ast.Name | ast.Lambda):
        return True
    if isinstance(node, ast.Attribute):
        return _is_constant(node.value)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(_is_constant(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _is_constant(k) for k in node.keys) and all(_is_constant(v) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return _is_constant(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_constant(node.left) and _is_constant(node.right)
    if isinstance(node, ast.BoolOp):
        return all(_is_constant(v) for v in node.values)
    if isinstance(node, ast.Compare):
        return _is_constant(node.left) and all(_is_constant(c) for c in node.comparators)
    if isinstance(node, ast.Subscript):
        return _is_constant(node.value) and _is_constant(node.slice)
    if isinstance(node, ast.JoinedStr):
        return all(_is_constant(v.value if isinstance(v, ast.FormattedValue) else v) for v in node.values)
    return False


def _names_only(target: ast.AST) -> bool:
    if isinstance(target, ast.Name):
        return True
    return isinstance(target, ast.Tuple | ast.List) and all(_names_only(e) for e in target.elts)


def _kept(node: ast.stmt) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.module != "__future__"
    if isinstance(node, ast.Import | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return True
    if isinstance(node, ast.Assign):
        return all(_names_only(t) for t in node.targets) and _is_constant(node.value)
    if isinstance(node, ast.AnnAssign | ast.AugAssign):
        return node.value is not None and isinstance(node.target, ast.Name) and _is_constant(node.value)
    return False


def extract(nb: nbformat.NotebookNode) -> Definitions:
    """The definitions of every code cell of `nb`, in order."""
    transform = TransformerManager().transform_cell
    statements = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(transform(cell.source))
        except (SyntaxError, ValueError, RecursionError, MemoryError):  # the run reports such a cell
            continue
        statements += [(index, ast.unparse(node)) for node in tree.body if _kept(node)]
    return Definitions(statements)
