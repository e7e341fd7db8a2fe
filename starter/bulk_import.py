"""``onboarding import FILE``: start the journeys of a file of signups, such as last week's.

The file is NDJSON (one signup object per line) or CSV with a header row named like the signup's
fields. It is streamed, and at most ``concurrency`` journeys are being started at once. Each user
gets at most one journey, so importing the same file again starts only what is still missing.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, TextIO

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from common.command_line import describe_settings_error, describe_validation_error, fail, run
from common.connection import connect
from common.telemetry import (
    CLI_SERVICE,
    TelemetryConfigError,
    configure_tracing,
    quiet_runtime,
    start_span,
)
from starter.journeys import start_journey
from starter.settings import JourneySettings
from workflows.models import TASK_QUEUE, JourneyConfig, Signup

# Lines a reader thread hands over at once: few thread hops, yet a slow stdin is not held back long.
_BATCH = 64
_SHOWN_INVALID = 50
_REQUIRED_COLUMNS = ("user_id", "email")
# Undecodable bytes survive reading as lone surrogates, so one bad line does not stop the file.
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_EMAIL_LIKE = re.compile(r"[^\s'\"<>]+@[^\s'\"<>]+")
_CONNECTION_LOST = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}


class Format(StrEnum):
    NDJSON = "ndjson"
    CSV = "csv"


EXTENSIONS = {
    ".ndjson": Format.NDJSON,
    ".jsonl": Format.NDJSON,
    ".json": Format.NDJSON,
    ".csv": Format.CSV,
}


@dataclass(frozen=True)
class Row:
    """One record of the file: its fields, or why the line is not a record at all."""

    line: int
    fields: Mapping[str, Any] | None = None
    problem: str | None = None


@dataclass(frozen=True)
class InvalidLine:
    line: int
    reason: str


@dataclass
class ImportSummary:
    """What an import did: journeys started, users who already had one, lines not imported."""

    started: int = 0
    existing: int = 0
    invalid: list[InvalidLine] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.started + self.existing + len(self.invalid)


class ImportFileError(Exception):
    """The file cannot be read as signups at all: nothing in it was imported."""


class ImportInterrupted(Exception):
    """The import stopped part-way; ``summary`` says what was done, and a re-run resumes."""

    def __init__(self, message: str, summary: ImportSummary) -> None:
        super().__init__(message)
        self.summary = summary


class SignupFile:
    """A file of signups opened for import, its rows read one at a time as they are needed."""

    def __init__(self, stream: TextIO, rows: Iterator[Row], *, owned: bool) -> None:
        self._stream = stream
        self._rows = rows
        self._owned = owned

    def __iter__(self) -> Iterator[Row]:
        return self._rows

    def close(self) -> None:
        if self._owned:
            self._stream.close()
        elif isinstance(self._stream, io.TextIOWrapper):
            self._stream.detach()  # stdin stays open for whoever reads it next

    def __enter__(self) -> SignupFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def file_format(source: str | os.PathLike[str], format: Format | None = None) -> Format:
    """The format asked for, or the one the file's extension names."""
    if format is not None:
        return format
    if str(source) == "-":
        raise ImportFileError("reading signups from stdin needs --format ndjson or --format csv")
    extension = Path(source).suffix.lower()
    if extension not in EXTENSIONS:
        raise ImportFileError(
            f"cannot tell the format of {source} from its extension: name it .ndjson, .jsonl, "
            ".json or .csv, or pass --format ndjson|csv"
        )
    return EXTENSIONS[extension]


def _open_text(source: str | os.PathLike[str]) -> tuple[TextIO, bool]:
    if str(source) == "-":
        stdin = io.TextIOWrapper(
            sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        return stdin, False
    try:
        # Closed by the SignupFile that owns it, which outlives this function.
        stream = open(source, encoding="utf-8-sig", errors="surrogateescape", newline="")  # noqa: SIM115
    except OSError as exc:
        raise ImportFileError(f"cannot read {source}: {exc.strerror or exc}") from None
    return stream, True


def open_signups(source: str | os.PathLike[str], format: Format | None = None) -> SignupFile:
    """Open a file (or ``-`` for stdin) of signups, checking its shape before anything starts."""
    kind = file_format(source, format)
    stream, owned = _open_text(source)
    try:
        rows = _csv_rows(stream, source) if kind is Format.CSV else _ndjson_rows(stream, source)
    except BaseException:
        if owned:
            stream.close()
        raise
    return SignupFile(stream, rows, owned=owned)


def _ndjson_rows(stream: TextIO, source: str | os.PathLike[str]) -> Iterator[Row]:
    lines = enumerate(stream, start=1)
    # Read up to the first record now, so a JSON array is refused before anything starts.
    head: list[tuple[int, str]] = []
    for number, text in lines:
        head.append((number, text))
        if text.strip():
            if text.lstrip().startswith("[") and _ndjson_row(number, text).problem:
                raise ImportFileError(
                    f"{source} holds a JSON array: the import reads one JSON object per line "
                    "(NDJSON)"
                )
            break
    return (
        _ndjson_row(number, text) for number, text in itertools.chain(head, lines) if text.strip()
    )


def _ndjson_row(number: int, text: str) -> Row:
    if _UNDECODABLE.search(text):
        return Row(number, problem="not UTF-8 text")
    try:
        data = json.loads(text.strip())
    except json.JSONDecodeError as exc:
        return Row(number, problem=f"not valid JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(data, dict):
        return Row(number, problem="not a JSON object")
    return Row(number, data)


def _csv_rows(stream: TextIO, source: str | os.PathLike[str]) -> Iterator[Row]:
    reader = csv.reader(stream)
    try:
        header = next((cells for cells in reader if any(cell.strip() for cell in cells)), None)
    except csv.Error as exc:
        raise ImportFileError(f"cannot read the CSV header of {source}: {exc}") from None
    if header is None:
        return iter(())
    columns = [name.strip().lower() for name in header]
    missing = [name for name in _REQUIRED_COLUMNS if name not in columns]
    if missing:
        # The header is not echoed back: a file without one would show a person's email.
        raise ImportFileError(
            f"the CSV header of {source} needs the columns user_id and email; "
            f"missing: {', '.join(missing)}"
        )
    return _csv_records(reader, columns)


def _csv_records(reader: Any, columns: list[str]) -> Iterator[Row]:
    while True:
        line = reader.line_num + 1  # a quoted value may span lines: report where the row starts
        try:
            cells: list[str] = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Row(line, problem=f"not a valid CSV row: {exc}")
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if any(_UNDECODABLE.search(cell) for cell in cells):
            yield Row(line, problem="not UTF-8 text")
            continue
        fields = {
            column: cell for column, cell in zip(columns, cells, strict=False) if cell.strip()
        }
        yield Row(line, fields)


def count_records(source: str | os.PathLike[str], format: Format | None = None) -> int:
    """How many records a file holds (valid or not), for a progress bar's total."""
    with open_signups(source, format) as rows:
        return sum(1 for _ in rows)


def _reason(error: ValidationError) -> str:
    reason = describe_validation_error(error).removeprefix("invalid signup: ")
    # Messages may quote a value ("'ana@acme.io' is not a domain name"): never show an address.
    return _EMAIL_LIKE.sub("<email address>", reason)


def _read(
    rows: Iterator[Row | Mapping[str, Any]], numbered: Iterator[int], size: int
) -> list[Signup | InvalidLine]:
    """The next ``size`` records, each a valid signup or the reason its line is not one."""
    records: list[Signup | InvalidLine] = []
    for item in itertools.islice(rows, size):
        row = item if isinstance(item, Row) else Row(next(numbered), item)
        if row.fields is None:
            records.append(InvalidLine(row.line, row.problem or "not a signup"))
            continue
        try:
            records.append(Signup.model_validate(row.fields))
        except ValidationError as exc:
            records.append(InvalidLine(row.line, _reason(exc)))
    return records


def _interruption(error: Exception, client: Client, summary: ImportSummary) -> ImportInterrupted:
    if isinstance(error, RPCError) and error.status not in _CONNECTION_LOST:
        cause = f"Temporal refused to start a journey ({error.status.name}: {error.message})"
    else:
        cause = f"lost the connection to Temporal at {client.service_client.config.target_host}"
    return ImportInterrupted(
        f"{cause} after starting {summary.started} journeys; run the same import again to "
        "resume (journeys already started are not started twice)",
        summary,
    )


async def import_signups(
    client: Client,
    rows: str | os.PathLike[str] | Iterable[Row | Mapping[str, Any]],
    config: JourneyConfig,
    *,
    concurrency: int = 16,
    task_queue: str = TASK_QUEUE,
    progress: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    """Start a journey for every valid signup in ``rows``: a path, or rows already read.

    Plain mappings are numbered from line 1. At most ``concurrency`` starts are in flight. Users
    who already have a journey (from an earlier import, or earlier in this one) count as
    ``existing``. Raises ``ImportInterrupted`` when Temporal stops answering, and
    ``ImportFileError`` when a path cannot be read as signups.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if isinstance(rows, str | os.PathLike):
        opened = await asyncio.to_thread(open_signups, rows)
        try:
            return await import_signups(
                client,
                opened,
                config,
                concurrency=concurrency,
                task_queue=task_queue,
                progress=progress,
            )
        finally:
            opened.close()

    summary = ImportSummary()
    queue: asyncio.Queue[Signup | None] = asyncio.Queue(maxsize=concurrency)
    failures: list[Exception] = []

    def settled() -> None:
        if progress is not None:
            progress(summary)

    async def start_journeys() -> None:
        while (signup := await queue.get()) is not None:
            if failures:
                continue  # keep draining so the reader never waits on a stopped pool
            try:
                # Each journey's trace starts at its own import span, as it would at the webhook.
                with start_span("onboarding import"):
                    started = await start_journey(client, signup, config, task_queue=task_queue)
            except Exception as exc:  # the first failure stops the import; a re-run resumes
                failures.append(exc)
                continue
            if started.created:
                summary.started += 1
            else:
                summary.existing += 1
            settled()

    loop = asyncio.get_running_loop()
    # Reading and validating happen on their own thread, left behind on exit: a read blocked on
    # stdin never holds up Ctrl-C, and the event loop only waits on Temporal.
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signup-reader")
    workers = [asyncio.create_task(start_journeys()) for _ in range(concurrency)]
    try:
        source, numbered = iter(rows), itertools.count(1)
        while not failures and (
            batch := await loop.run_in_executor(reader, _read, source, numbered, _BATCH)
        ):
            for record in batch:
                if isinstance(record, InvalidLine):
                    summary.invalid.append(record)
                    settled()
                else:
                    await queue.put(record)
    except OSError as exc:
        failures.append(exc)
    finally:
        reader.shutdown(wait=False, cancel_futures=True)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)

    if failures:
        error = failures[0]
        if isinstance(error, OSError):
            raise ImportInterrupted(
                f"stopped reading the signups ({error.strerror or error}) after starting "
                f"{summary.started} journeys; run the same import again to resume",
                summary,
            ) from error
        # A lazy client that cannot connect raises RuntimeError("Failed client connect: ...").
        if isinstance(error, RPCError) or "Failed client connect" in str(error):
            raise _interruption(error, client, summary) from error
        raise error
    return summary


def _report(summary: ImportSummary) -> None:
    typer.echo(
        f"started {summary.started}, already running or done {summary.existing}, "
        f"invalid {len(summary.invalid)}"
    )
    for invalid in summary.invalid[:_SHOWN_INVALID]:
        typer.echo(f"line {invalid.line}: {invalid.reason}")
    if len(summary.invalid) > _SHOWN_INVALID:
        typer.echo(f"and {len(summary.invalid) - _SHOWN_INVALID} more invalid lines")


def import_command(
    file: Annotated[
        str,
        typer.Argument(
            help="Signups as NDJSON (.ndjson, .jsonl, .json) or CSV with a header row; - for stdin.",
            metavar="FILE",
            show_default=False,
        ),
    ],
    format: Annotated[
        Format | None,
        typer.Option("--format", help="The file's format, when its extension does not say."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=256, help="How many journeys are started at once.")
    ] = 16,
) -> None:
    """Start the journeys of a file of signups (a backfill); running it again is always safe."""
    try:
        config = JourneySettings().journey_config()
    except ValidationError as exc:
        raise fail(describe_settings_error(exc, JourneySettings), 2) from None
    try:
        # Counted and opened before connecting: an unreadable file starts nothing.
        total = None if file == "-" else count_records(file, format)
        with open_signups(file, format) as rows:
            tracing = configure_tracing(CLI_SERVICE)
            try:
                summary = run(_import(rows, config, concurrency, total))
            finally:
                tracing.force_flush()  # the process ends without atexit hooks
    except (ImportFileError, TelemetryConfigError) as exc:
        raise fail(str(exc), 2) from None
    _report(summary)
    if summary.invalid:
        raise typer.Exit(1)


async def _import(
    rows: SignupFile, config: JourneyConfig, concurrency: int, total: int | None
) -> ImportSummary:
    # The SDK core logs each retried call: one error line says it better when Temporal is lost.
    Runtime.set_default(quiet_runtime(), error_if_already_set=False)
    client = await connect()
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("importing signups"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with bar:
        task = bar.add_task("import", total=total)
        try:
            return await import_signups(
                client,
                rows,
                config,
                concurrency=concurrency,
                progress=lambda summary: bar.update(task, completed=summary.total),
            )
        except ImportInterrupted as exc:
            bar.stop()
            _report(exc.summary)
            raise fail(str(exc)) from None
