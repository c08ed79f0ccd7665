"""Tenant scoping lives in one helper per repository (`_scoped`). This test walks every
repository and fails when a query method neither uses it nor says why it is unscoped."""

import ast
import inspect
from pathlib import Path

import pytest

import fiberassure.wholesale

WHOLESALE = Path(inspect.getfile(fiberassure.wholesale)).parent
REPOSITORIES = sorted(WHOLESALE.glob("*/repository.py"))
# Operators are the tenants themselves: their repository has nothing to narrow.
TENANT_TABLES_FREE = {"OperatorRepository"}
NOT_QUERIES = {"__init__", "_scoped", "_whole", "add"}


def query_methods() -> list[tuple[str, str, ast.AsyncFunctionDef | ast.FunctionDef]]:
    found = []
    for path in REPOSITORIES:
        tree = ast.parse(path.read_text())
        for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
            if cls.name in TENANT_TABLES_FREE:
                continue
            for method in cls.body:
                if (
                    isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef)
                    and method.name not in NOT_QUERIES
                    and not method.name.startswith("add")
                ):
                    found.append((path.parent.name, f"{cls.name}.{method.name}", method))
    return found


def test_every_repository_is_walked() -> None:
    assert {path.parent.name for path in REPOSITORIES} >= {
        "tickets",
        "inventory",
        "events",
        "diagnostics",
    }
    assert len(query_methods()) >= 10


@pytest.mark.parametrize(
    ("package", "name", "method"),
    query_methods(),
    ids=[name for _, name, _ in query_methods()],
)
def test_query_is_scoped_or_says_why_not(
    package: str, name: str, method: ast.AsyncFunctionDef | ast.FunctionDef
) -> None:
    uses_scope = any(
        isinstance(node, ast.Attribute) and node.attr == "_scoped" for node in ast.walk(method)
    )
    docstring = ast.get_docstring(method) or ""
    takes_operator = any(arg.arg == "operator_id" for arg in method.args.args)
    if takes_operator:
        # An insert cannot be narrowed; it must write the caller's own row and say so.
        assert uses_scope or docstring.startswith("Tenant row:"), (
            f"{package}: {name} takes operator_id but does not use _scoped()"
        )
    else:
        assert uses_scope or docstring.startswith("Unscoped"), (
            f"{package}: {name} queries without _scoped(); "
            "scope it or start its docstring with 'Unscoped:' and say why"
        )
