"""The progress bar of a long local run (chaos, the benchmark), on stderr."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

stderr = Console(stderr=True, highlight=False, log_path=False)


def progress_bar(*, only_on_a_terminal: bool = False) -> Progress:
    """Spinner, what is under way, its bar and count, the time it has taken."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        disable=only_on_a_terminal and not stderr.is_terminal,
    )
