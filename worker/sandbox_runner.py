"""The workflow sandbox, with its hand-offs compiled once.

Temporal's sandboxed runner enters a workflow's sandbox by ``exec``-ing a short snippet of
source: to create the instance, for each activation, and again for every payload the worker
encodes or decodes (to ask the workflow for the payload's serialization context). ``exec`` of a
string compiles it every time, on every activation of every journey; this runner hands the same
snippets over as code objects compiled once. What runs in the sandbox, and every restriction on
it, is unchanged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import CodeType
from typing import Any

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import _runner as sandbox_runner


@functools.lru_cache(maxsize=64)
def compiled(source: str) -> CodeType:
    """The sandbox's snippets are a handful of fixed strings, one set per workflow class."""
    return compile(source, "<workflow sandbox>", "exec")


class _CompiledInstance(sandbox_runner._Instance):
    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # ``exec`` takes a code object where the SDK passes a string.
        super()._run_code(compiled(code), **extra_globals)  # type: ignore[arg-type]


@dataclass(frozen=True)
class CompiledSandboxRunner(SandboxedWorkflowRunner):
    """``SandboxedWorkflowRunner``, with the snippets it ``exec``\\ s compiled once."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _CompiledInstance(det, self.runner_class, self.restrictions)
