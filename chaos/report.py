"""The chaos run's report: what the vendors received, counted against what each journey should
have caused (``checks``), what was done to the processes, and the problems that fail the run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from chaos import checks
from chaos.checks import EventTally, Journey, Tally
from chaos.email_events import BOUNCE, COMPLAINT, UNSUBSCRIBE
from chaos.scenario import EMAILS_PER_JOURNEY, Phase, Scenario

# What is counted for each kind of email event; a bounce's replay too.
EVENT_FIELDS = (
    "planned",
    "sent",
    "honoured",
    "stopped_journey",
    "after_last_email",
    "emails_spared",
    "not_answered",
)
REPLAY_FIELDS = ("replays", "replays_duplicate")
EVENT_KINDS = (UNSUBSCRIBE, BOUNCE, COMPLAINT)


@dataclass
class Report:
    data: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def build_report(run: Scenario, main: Phase, trials: Phase | None, seconds: float) -> Report:
    options = run.options
    state = run.stack.sandbox.state
    workers = run.stack.workers
    journeys = main.journeys
    tally = Tally()
    calls = state.recorded_calls()
    accepted_emails = checks.sent_emails(state)
    checks.count_emails(journeys, accepted_emails, calls, EMAILS_PER_JOURNEY, tally)
    events = checks.count_email_events(
        journeys, accepted_emails, run.stack.warehouse, EMAILS_PER_JOURNEY
    )
    checks.count_alerts(journeys, state.slack_messages(), tally)
    checks.count_warehouse_rows(journeys, run.stack.warehouse, tally)
    not_accepted = [j for j in journeys if not j.accepted]
    tally.lost["signups"] += len(not_accepted)
    stuck = [j for j in journeys if j.accepted and j.status == "running"]
    completed = [j for j in journeys if j.status == "completed"]
    wrong_events = {j.workflow_id for j in events.wrong}
    wrong = [
        j
        for j in journeys
        if j.accepted
        and j.status != "running"
        and (j.workflow_id in wrong_events if j.email_event else j.outcome != j.expected)
    ]
    by_outcome = Counter(j.outcome or j.status for j in journeys if j.accepted)
    vendor_calls, faults = checks.vendor_traffic(calls)
    retries: Counter[str] = Counter()
    for journey in journeys:
        retries.update(journey.retries)

    trial_data: dict[str, Any] = {"trials": 0}
    if trials is not None:
        trial_tally = Tally()
        checks.count_alerts(trials.journeys, state.slack_messages(), trial_tally)
        crashed = sum(1 for j in trials.journeys if j.alert_attempts > 1)
        trial_wrong = [j for j in trials.journeys if j.outcome != j.expected]
        trial_data = {
            "trials": len(trials.journeys),
            "crashed_after_post": crashed,
            "doubled_alerts": trial_tally.doubled_alerts,
            "lost_alerts": trial_tally.lost["alerts"],
            "caught_by_lookup": trial_tally.alerts_caught_by_lookup,
            "wrong_outcome": len(trial_wrong),
            # Without the lookup every retry after a stored post posts again, unconditionally.
            "doubled_without_lookup": crashed,
        }
        tally.examples += trial_tally.examples[:4]

    report = Report()
    lost = sum(tally.lost.values())
    duplicated = sum(tally.duplicated.values()) + trial_data.get("doubled_alerts", 0)
    unexpected = sum(tally.unexpected.values())
    restart = run.done.reconnect
    report.data = {
        "seed": options.seed,
        "journeys": len(journeys),
        "accepted": len(journeys) - len(not_accepted),
        "completed": len(completed),
        "by_outcome": dict(sorted(by_outcome.items())),
        "wrong_outcome": len(wrong),
        "stuck": len(stuck),
        "vendor_calls": vendor_calls,
        "injected_failures": faults,
        "retries": {**dict(sorted(retries.items())), "total": sum(retries.values())},
        "duplicates_caught": {
            "emails_by_idempotency_key": tally.emails_caught_by_key,
            "email_retries_searched_first": tally.emails_searched_first,
            "alerts_by_history_lookup": tally.alerts_caught_by_lookup,
        },
        "lost": lost,
        "lost_detail": dict(tally.lost),
        "duplicated": duplicated,
        "duplicated_detail": {
            **dict(tally.duplicated),
            "trial_alerts": trial_data.get("doubled_alerts", 0),
        },
        "unexpected": unexpected,
        "unexpected_detail": dict(tally.unexpected),
        "doubled_alerts": tally.doubled_alerts + trial_data.get("doubled_alerts", 0),
        "kills": workers.kills,
        "kills_detail": {
            "main_phase": run.done.main_kills,
            "alert_crash_trials": workers.kills - run.done.main_kills,
        },
        "worker_restarts": workers.restarts,
        "worker_start_failures": workers.start_failures,
        "worker_unexpected_exits": [
            {"worker": e.worker, "returncode": e.returncode, "server_down": e.server_down}
            for e in workers.unexpected_exits
        ],
        "server_restarts": run.done.server_restarts,
        "server_signal": options.server_signal,
        "reconnect": {
            "workers_seconds": restart.workers_seconds,
            "workers_exited_on_restart": restart.workers_exited,
            "webhook_seconds": restart.webhook_seconds,
            "webhook_same_process": restart.webhook_same_process,
            "webhook_503s": run.sender.answered_503,
            "webhook_connection_errors": run.sender.connection_errors,
        },
        "email_events": _event_data(run, journeys, events),
        "alert_crash_trials": trial_data,
        "duration_seconds": round(seconds, 1),
        "examples": tally.examples + events.examples,
    }
    if lost:
        report.problems.append(f"{lost} lost ({_detail(tally.lost)})")
    if duplicated:
        report.problems.append(f"{duplicated} delivered twice ({_detail(tally.duplicated)})")
    if unexpected:
        report.problems.append(f"{unexpected} unexpected deliveries ({_detail(tally.unexpected)})")
    if wrong:
        examples = ", ".join(
            f"{j.workflow_id}: {j.outcome or j.status} not {_expected(j)}"
            + (f" ({j.failure})" if j.failure else "")
            for j in wrong[:3]
        )
        report.problems.append(f"{len(wrong)} journeys reached the wrong outcome: {examples}")
    if stuck:
        report.problems.append(
            f"{len(stuck)} journeys still running at the deadline: "
            + ", ".join(j.workflow_id for j in stuck[:5])
        )
    not_answered = sum(events.kind(kind)["not_answered"] for kind in EVENT_KINDS)
    if not_answered:
        report.problems.append(f"{not_answered} email events never answered 200 by the webhook")
    if events.sent_after_suppression:
        report.problems.append(
            f"{events.sent_after_suppression} emails accepted after the webhook answered 200 for "
            "their journey's unsubscribe, bounce or complaint, by sends that passed the "
            "suppression check after the address was suppressed"
        )
    if events.replays_acted_on:
        report.problems.append(
            f"{events.replays_acted_on} replayed bounces acted on again instead of recognised"
        )
    if trial_data.get("wrong_outcome"):
        report.problems.append(f"{trial_data['wrong_outcome']} crash trials ended wrongly")
    if run.done.main_kills < options.kills:
        report.problems.append(
            f"only {run.done.main_kills} of {options.kills} worker kills happened"
        )
    if run.done.server_restarts < 1:
        report.problems.append("the Temporal server was not restarted")
    if restart.webhook_seconds is None:
        report.problems.append("the webhook did not reach Temporal again after the restart")
    if restart.workers_seconds is None:
        report.problems.append("the workers did not poll again after the restart")
    report.data["ok"] = report.ok
    report.data["problems"] = report.problems
    return report


def _expected(journey: Journey) -> str:
    event = journey.email_event
    if event is None:
        return journey.expected
    return f"{event.reason} (or emails_completed after its last email)"


def _event_data(run: Scenario, journeys: list[Journey], events: EventTally) -> dict[str, Any]:
    """The email events' counts, per kind, and the emails their journeys were accepted."""
    data: dict[str, Any] = {
        "providers": dict(
            Counter(j.email_event.provider or "none" for j in journeys if j.email_event)
        ),
        "rates": {
            UNSUBSCRIBE: run.options.unsubscribe_rate,
            BOUNCE: run.options.bounce_rate,
            COMPLAINT: run.options.complaint_rate,
        },
    }
    for kind in EVENT_KINDS:
        counts = events.kind(kind)
        fields = EVENT_FIELDS + (REPLAY_FIELDS if kind == BOUNCE else ())
        data[kind] = {name: counts[name] for name in fields}
    sender = run.email_events
    data.update(
        emails_before_the_200=events.emails_before,
        emails_after_the_200=events.late_by_race + events.sent_after_suppression,
        late_by_race=events.late_by_race,
        late_by_race_examples=events.race_examples[:12],
        sent_after_suppression=events.sent_after_suppression,
        replays_acted_on=events.replays_acted_on,
        webhook_503s=sender.answered_503,
        webhook_connection_errors=sender.connection_errors,
    )
    return data


def _detail(counts: Counter[str]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counts.items() if n) or "none"


def _join(values: dict[str, Any]) -> str:
    return " · ".join(f"{k} {v}" for k, v in values.items())


def render(report: Report) -> Table:
    data = report.data
    table = Table(title="Chaos run", show_header=True, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    lost_detail = data["lost_detail"]
    dup = data["duplicated_detail"]
    restart = data["reconnect"]
    trials = data["alert_crash_trials"]
    faults = data["injected_failures"]
    retries = dict(data["retries"])
    total_retries = retries.pop("total")
    table.add_row("journeys", f"{data['journeys']} ({data['accepted']} accepted by the webhook)")
    table.add_row("completed", str(data["completed"]))
    table.add_row("by outcome", _join(data["by_outcome"]))
    table.add_row("wrong outcome", str(data["wrong_outcome"]))
    table.add_row("vendor calls", _join(data["vendor_calls"]))
    table.add_row(
        "injected failures",
        " · ".join(
            f"{vendor} {f['error']} 5xx, {f['rate_limit']} 429, "
            f"{f['lost_answer']} lost answers, {f['slow']} slow"
            for vendor, f in faults.items()
        ),
    )
    table.add_row("retries", f"{total_retries} attempts beyond the first: {_join(retries)}")
    caught = data["duplicates_caught"]
    table.add_row(
        "duplicates caught",
        f"emails by idempotency key {caught['emails_by_idempotency_key']} · email retries "
        f"that searched first {caught['email_retries_searched_first']} · "
        f"alerts by history lookup {caught['alerts_by_history_lookup']}",
    )
    table.add_row(
        "lost",
        f"{data['lost']} (emails {lost_detail.get('emails', 0)} · alerts "
        f"{lost_detail.get('alerts', 0)} · warehouse rows {lost_detail.get('warehouse_rows', 0)}"
        f" · signups {lost_detail.get('signups', 0)})",
    )
    table.add_row(
        "duplicated",
        f"{data['duplicated']} (emails {dup.get('emails', 0)} · alerts {dup.get('alerts', 0)} · "
        f"warehouse rows {dup.get('warehouse_rows', 0)} · crash-trial alerts "
        f"{dup.get('trial_alerts', 0)})",
    )
    table.add_row("doubled alerts", str(data["doubled_alerts"]))
    _event_rows(table, data["email_events"])
    table.add_row("stuck", str(data["stuck"]))
    table.add_row(
        "worker kills",
        f"{data['kills']} SIGKILLs · {data['worker_restarts']} restarts · "
        f"{len(data['worker_unexpected_exits'])} exits on their own",
    )
    workers_back = restart["workers_seconds"]
    webhook_back = restart["webhook_seconds"]
    table.add_row(
        "server restarts",
        f"{data['server_restarts']} (SIG{data['server_signal'].upper()}) · workers polling again "
        + (f"after {workers_back:.1f}s" if workers_back is not None else "NEVER")
        + (
            " by themselves"
            if not restart["workers_exited_on_restart"]
            else f" after {restart['workers_exited_on_restart']} exit(s), restarted by the script"
        )
        + " · webhook reaching Temporal "
        + (f"after {webhook_back:.1f}s" if webhook_back is not None else "NEVER")
        + f" · {restart['webhook_503s']} signups answered 503 and sent again",
    )
    if trials.get("trials"):
        table.add_row(
            "crash-after-post trials",
            f"{trials['trials']} trials ({trials['crashed_after_post']} crashed after the post), "
            f"doubled alerts {trials['doubled_alerts']} · found by lookup "
            f"{trials['caught_by_lookup']} · without the lookup: "
            f"{trials['doubled_without_lookup']} doubled (every retry would post again)",
        )
    table.add_row("duration", f"{data['duration_seconds']:.0f}s")
    return table


def _event_rows(table: Table, events: dict[str, Any]) -> None:
    def honoured(counts: dict[str, int]) -> str:
        return (
            f"{counts['sent']} sent (answered 200) · {counts['honoured']} honoured: "
            f"{counts['stopped_journey']} stopped their journey, sparing "
            f"{counts['emails_spared']} emails · {counts['after_last_email']} came after "
            "the last email"
            + (f" · {counts['not_answered']} NEVER ANSWERED" if counts["not_answered"] else "")
        )

    for kind, title in (
        (UNSUBSCRIBE, "unsubscribes"),
        (BOUNCE, "bounces"),
        (COMPLAINT, "complaints"),
    ):
        counts = events[kind]
        if not counts["planned"]:
            continue
        row = honoured(counts)
        if kind == BOUNCE:
            row += (
                f" · {counts['replays']} replays, {counts['replays_duplicate']} recognised "
                "as duplicates"
            )
        table.add_row(title, row)
    if any(events[kind]["planned"] for kind in EVENT_KINDS):
        table.add_row(
            "emails after the 200",
            f"{events['emails_after_the_200']} (late by race {events['late_by_race']} · sent "
            f"after the suppression {events['sent_after_suppression']}) · "
            f"{events['emails_before_the_200']} accepted before it · "
            f"{events['webhook_503s']} answers 503, each event sent again",
        )


def show(report: Report, out: Console) -> None:
    """The table, then the verdict in a line, and the examples of what went wrong."""
    out.print(render(report))
    trials = report.data["alert_crash_trials"]
    if trials.get("trials"):
        out.print(
            f"crash-after-post trials: {trials['trials']}, doubled alerts: "
            f"{trials['doubled_alerts']} (without the history lookup: "
            f"{trials['doubled_without_lookup']})"
        )
    late = report.data["email_events"]["late_by_race"]
    if late:
        out.print(
            f"[yellow]Late by race:[/] {late} emails accepted after the webhook answered 200 "
            "for their journey's event, each by a send that had passed the suppression check "
            "before the address was suppressed (allowed):"
        )
        for example in report.data["email_events"]["late_by_race_examples"]:
            out.print(f"  {example}")
    if report.ok:
        after_events = (
            ", no email after an unsubscribe, bounce or complaint"
            if any(report.data["email_events"][kind]["planned"] for kind in EVENT_KINDS)
            else ""
        )
        out.print(
            "[green]OK:[/] nothing lost, nothing delivered twice, every outcome as expected, "
            f"no journey stuck{after_events}."
        )
        return
    out.print("[red]FAILED:[/] " + "; ".join(report.problems))
    for example in report.data.get("examples", []):
        out.print(f"  {example}")
