"""No sandbox: only with --unsandboxed, and every report says so."""

from __future__ import annotations

from typing import TYPE_CHECKING

from autograder.backends.base import Backend

if TYPE_CHECKING:
    from autograder.sandbox import Sandbox


class Unsandboxed(Backend):
    """Student code runs as the grader's own user, with an allow-listed environment only."""

    name = "none"
    offered = False
    own_uid = False

    @classmethod
    def problem(cls) -> str | None:
        return None

    def wrap(self, box: Sandbox, argv: list[str]) -> list[str]:
        return [*box.environment_command(), *argv]

    def describe(self, box: Sandbox) -> str:
        return "none (UNSANDBOXED: student code ran as the grader's user)"
