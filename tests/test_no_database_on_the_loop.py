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
NOT_YET_ON_THE_SEAM = frozenset(
    {
        "attendees.py",
        "basics.py",
        "broadcast.py",
        "checkin.py",
        "faq.py",
        "faq_learning.py",
        "feedback.py",
        "groups.py",
        "inbox.py",
        "organiser_activities.py",
        "stats.py",
    }
)


def _own_statements(function: ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of an async function's body, without those of the plain functions and
    lambdas defined inside it (those run wherever they are sent: the seam's threads)."""
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.Lambda | ast.AsyncFunctionDef):
            continue  # an inner async def is checked on its own
        yield node
        pending.extend(ast.iter_child_nodes(node))


def sessions_on_the_loop(source: str) -> list[int]:
    """Lines where an async def opens `with <...>.session()` or `with <...>.reading()`."""
    lines: list[int] = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.AsyncFunctionDef):
            continue
        for node in _own_statements(function):
            if not isinstance(node, ast.With | ast.AsyncWith):
                continue
            for item in node.items:
                call = item.context_expr
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr in SESSION_METHODS
                ):
                    lines.append(node.lineno)
    return sorted(lines)


def test_no_handler_opens_a_session_on_the_event_loop() -> None:
    found = {
        path.name: lines
        for path in sorted((ROOT / "handlers").glob("*.py"))
        if path.name not in NOT_YET_ON_THE_SEAM
        and (lines := sessions_on_the_loop(path.read_text(encoding="utf-8")))
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
