"""Handlers never open a synchronous session on the event loop: an `async def` that waits on
the database in `with db.session()` / `with db.reading()` stops every user's answers until
the database answers (a blackholed PostgreSQL: for seconds). Database work goes through the
seam instead (`await db.run_session(...)`, `run_reading`, `read_or`)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SESSION_METHODS = {"session", "reading"}
# Handler modules not yet moved behind the seam (issue 20). Shrinks to nothing; never grows.
NOT_YET_ON_THE_SEAM: frozenset[str] = frozenset()


def _own_nodes(function: ast.AsyncFunctionDef | ast.FunctionDef) -> Iterator[ast.AST]:
    """The nodes of a function's body, without those of the functions and lambdas defined
    inside it (a plain one runs wherever it is sent: the seam's threads; an inner async def
    is checked on its own)."""
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.Lambda | ast.AsyncFunctionDef):
            continue
        yield node
        pending.extend(ast.iter_child_nodes(node))


def _opened_sessions(function: ast.AsyncFunctionDef | ast.FunctionDef) -> list[int]:
    return [
        node.lineno
        for node in _own_nodes(function)
        if isinstance(node, ast.With | ast.AsyncWith)
        and any(
            isinstance(item.context_expr, ast.Call)
            and isinstance(item.context_expr.func, ast.Attribute)
            and item.context_expr.func.attr in SESSION_METHODS
            for item in node.items
        )
    ]


def _called_names(function: ast.AsyncFunctionDef | ast.FunctionDef) -> list[tuple[str, int]]:
    """Plain functions called (not handed on) by name: `f(...)` and `module.f(...)`."""
    found: list[tuple[str, int]] = []
    for node in _own_nodes(function):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                found.append((node.func.id, node.lineno))
            elif isinstance(node.func, ast.Attribute):
                found.append((node.func.attr, node.lineno))
    return found


def opening_functions(source: str, known: frozenset[str] = frozenset()) -> set[str]:
    """The plain functions of a module that open a session, also through another such
    function (of this module or `known`)."""
    plain = [f for f in ast.walk(ast.parse(source)) if isinstance(f, ast.FunctionDef)]
    opening = set(known)
    grew = True
    while grew:
        grew = False
        for function in plain:
            if function.name in opening:
                continue
            if _opened_sessions(function) or any(
                name in opening for name, _ in _called_names(function)
            ):
                opening.add(function.name)
                grew = True
    return opening - known


def core_opening_functions() -> frozenset[str]:
    """Synchronous helpers of core/ that open a session (core.roles.is_organiser)."""
    return frozenset(
        name
        for path in sorted((ROOT / "core").glob("*.py"))
        for name in opening_functions(path.read_text(encoding="utf-8"))
    )


def sessions_on_the_loop(source: str, known: frozenset[str] = frozenset()) -> list[int]:
    """Lines where an async def opens `with <...>.session()` or `with <...>.reading()`, or
    calls (not hands on) a plain function that opens one: of this module, or `known`."""
    tree = ast.parse(source)
    opening = known | opening_functions(source, known)
    lines: list[int] = []
    for function in ast.walk(tree):
        if isinstance(function, ast.AsyncFunctionDef):
            lines += _opened_sessions(function)
            lines += [line for name, line in _called_names(function) if name in opening]
    return sorted(lines)


def test_no_handler_opens_a_session_on_the_event_loop() -> None:
    known = core_opening_functions()
    found = {
        path.name: lines
        for path in sorted((ROOT / "handlers").glob("*.py"))
        if path.name not in NOT_YET_ON_THE_SEAM
        and (lines := sessions_on_the_loop(path.read_text(encoding="utf-8"), known))
    }
    assert found == {}, "use `await services.db.run_session(...)` / `run_reading` / `read_or`"


def test_the_guard_sees_a_session_in_an_async_def_but_not_in_a_plain_one() -> None:
    source = (
        "async def show(context):\n"
        "    with context.services.db.session() as session:\n"
        "        pass\n"
        "    if True:\n"
        "        with services.db.reading() as session, open('x'):\n"
        "            pass\n"
        "    def work(session):\n"
        "        with db.session() as inner:\n"
        "            pass\n"
        "    await db.run(work)\n"
        "def plain(db):\n"
        "    with db.session() as session:\n"
        "        pass\n"
    )
    assert sessions_on_the_loop(source) == [2, 5]


def test_the_guard_sees_a_plain_helper_called_on_the_loop_but_not_one_sent_to_the_seam() -> None:
    source = (
        "def _activity(context):\n"
        "    with context.services.db.session() as session:\n"
        "        return 1\n"
        "async def step(context):\n"
        "    activity = _activity(context)\n"
        "    await context.services.db.run(_activity, context)\n"
        "def _is_organiser(update, context):\n"
        "    return roles.is_organiser(context.services, update.effective_user.id)\n"
        "async def organisers_only(update, context):\n"
        "    if not _is_organiser(update, context):\n"
        "        return\n"
    )
    assert sessions_on_the_loop(source, frozenset({"is_organiser"})) == [5, 10]
    assert "is_organiser" in core_opening_functions()
