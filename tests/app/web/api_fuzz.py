"""Schemathesis over the real app, in-process (ASGI): every operation of /openapi.json as a logged-in
role, each response checked for a server error and against the published schema (status code
documented, content type, body). Shared by tests/app/web/test_api_fuzz.py (a bounded run) and
bench/bench_api_fuzz.py (a long one).

Cases run one after another on the app's own event loop (schemathesis's portal), the lifespan
included, so the live service, its vision worker and the enrolment pool are the real ones; `fuzz`
ends them before it returns. Write operations change the database as they go (a fresh one per
run); what would stop the fuzzing itself (the acting user logged out, demoted, deactivated or given
a new password by a fuzzed request) is put back after each case, so every operation is fuzzed with
a working token.
"""
from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import schemathesis
from fastapi import FastAPI
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python.asgi import ASGIClient, shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.web.security import issue_token
from attendance.models import User
from attendance.roster.passwords import hash_password
from tests.attendance.reports.dataset import Dataset, seed

PASSWORD = "correct horse battery"
# A user of every role; the operator is bound to one office.
ROLES = {"admin": "admin", "hr": "hr", "leader": "leader", "obs": "observer", "opbkd": "operator"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SERVER_ERROR_CHECKS = {"ServerError"}
# An event stream never ends by itself: read its first event, give up on a silent one after this.
REQUEST_TIMEOUT_S = 5
STREAM_EVENTS = 1
FIELDS = ("role", "office_id", "active", "password_hash", "token_version")


@dataclass(frozen=True)
class Finding:
    """One failed check (or an exception the app let out) for one case."""
    role: str
    operation: str
    kind: str          # the failing check's class (ServerError, JsonSchemaError, ...) or "exception"
    title: str
    request: str       # a curl command that repeats the case
    where: str = ""    # for an exception: the innermost frame of ours (not a library's) in the traceback

    @property
    def server_error(self) -> bool:
        return self.kind in SERVER_ERROR_CHECKS or self.kind == "exception"

    def __str__(self) -> str:
        where = f"\n    at {self.where}" if self.where else ""
        return f"[{self.role}] {self.operation}: {self.kind}: {self.title}\n    {self.request}{where}"


@dataclass
class FuzzReport:
    cases: Counter[tuple[str, str]] = field(default_factory=Counter)   # (role, operation) -> cases run
    findings: list[Finding] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    op_seconds: dict[str, float] = field(default_factory=dict)   # operation -> time spent on it, every role
    operations: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    @property
    def server_errors(self) -> list[Finding]:
        return [f for f in self.findings if f.server_error]

    @property
    def schema_violations(self) -> list[Finding]:
        return [f for f in self.findings if not f.server_error]

    def distinct(self) -> list[Finding]:
        """One finding per operation and kind of failure: the same bug found by 40 cases is one line."""
        seen: dict[tuple[str, str, str], Finding] = {}
        for f in self.findings:
            seen.setdefault((f.operation, f.kind, f.title), f)
        return list(seen.values())

    def summary(self) -> str:
        lines = [f"{self.total} cases over {self.operations} operations in {self.seconds:.1f} s: "
                 f"{len(self.server_errors)} server errors, {len(self.schema_violations)} schema violations",
                 "statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))]
        lines += [str(f) for f in self.distinct()]
        return "\n".join(lines)


@dataclass
class Actor:
    """A logged-in user the fuzzing acts as, and the row that keeps its token working."""
    name: str
    user_id: int
    row: dict[str, Any]
    token: str = ""


def seed_app(app: FastAPI) -> tuple[Dataset, dict[str, Actor]]:
    """The reports' dataset (three offices, twelve people, closed apels and an open one, sighting
    tracks) and a user of every role."""
    pw = hash_password(PASSWORD)
    actors: dict[str, Actor] = {}
    with app.state.session_factory() as s:
        ds = seed(s)
        for name, role in ROLES.items():
            user = User(username=name, password_hash=pw, role=role,
                        office_id=ds.offices["BKD"] if role == "operator" else None)
            s.add(user)
            s.flush()
            actors[name] = Actor(name, user.id, {f: getattr(user, f) for f in FIELDS})
        s.commit()
    for actor in actors.values():
        _keep(app, actor)
    return ds, actors


def _keep(app: FastAPI, actor: Actor) -> None:
    """Put the actor's row back as seeded (a fuzzed request may have logged it out, changed its
    password, role or office, or deactivated it) and hold a token that works."""
    with app.state.session_factory() as s:
        user = s.get(User, actor.user_id)
        assert user is not None, f"the fuzzing user {actor.name} was deleted"
        changed = {f: v for f, v in actor.row.items() if f != "token_version" and getattr(user, f) != v}
        for f, v in changed.items():
            setattr(user, f, v)
        if changed:
            s.commit()
        if changed or not actor.token or user.token_version != actor.row["token_version"]:
            actor.row["token_version"] = user.token_version
            actor.token = issue_token(app.state.settings.session_secret(), user.id, user.password_hash,
                                      user.token_version)


def _our_frame(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/site-packages/" not in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    return f"{f.filename}:{f.lineno} in {f.name}: {f.line}"


def load_schema(app: FastAPI, max_examples: int, *, coverage: bool) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    cfg = schema.config
    cfg.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=max_examples,
                          deterministic=True, no_shrink=True, database="none")
    cfg.phases.coverage.enabled = coverage
    cfg.phases.stateful.enabled = False
    cfg.max_stream_events = STREAM_EVENTS
    return schema


def fuzz(app: FastAPI, actors: dict[str, Actor], roles: Iterable[str], *, max_examples: int,
         coverage: bool = True, operations: Iterable[str] | None = None) -> FuzzReport:
    """Every operation (or the `operations` named by label, e.g. "GET /api/v1/offices") as each role.

    Per operation: schemathesis's coverage phase (boundary values, missing and wrongly typed fields,
    every documented example) when `coverage`, then `max_examples` cases drawn by Hypothesis, valid
    and invalid, derandomized so a run repeats exactly. Nothing is shrunk: every failing case is
    recorded and the run goes on."""
    report = FuzzReport()
    schema = load_schema(app, max_examples, coverage=coverage)
    wanted = set(operations) if operations is not None else None
    ops = [r.ok() for r in schema.get_all_operations()]
    ops = [op for op in ops if wanted is None or op.label in wanted]
    if wanted is not None:
        missing = wanted - {op.label for op in ops}
        assert not missing, f"no such operations: {sorted(missing)}"
    report.operations = len(ops)
    t0 = time.perf_counter()
    try:
        with ASGIClient(cast(Any, app)) as client:   # FastAPI's ASGI signature is the wider MutableMapping one
            for role in roles:
                actor = actors[role]
                for op in ops:
                    _keep(app, actor)
                    test = build_operation_test(config=schema.config, operation=op, given_kwargs={},
                                                feedback=FeedbackSources(),
                                                test_func=_case_runner(app, client, actor, op.label, report))
                    started = time.perf_counter()
                    test()
                    report.op_seconds[op.label] = (report.op_seconds.get(op.label, 0.0)
                                                   + time.perf_counter() - started)
    finally:
        shutdown_lifespans()   # the app's lifespan: the live service and its worker processes end here
    report.seconds = time.perf_counter() - t0
    return report


def _case_runner(app: FastAPI, client: ASGIClient, actor: Actor, label: str, report: FuzzReport) -> Any:
    def run(case: Any) -> None:
        report.cases[(actor.name, label)] += 1
        headers = {"Authorization": f"Bearer {actor.token}"}
        try:
            response = case.call(session=client, headers=headers, timeout=REQUEST_TIMEOUT_S)
        except Exception as exc:   # an unhandled exception in the app: what a client sees as a bare 500
            report.statuses[500] += 1
            report.findings.append(Finding(actor.name, label, "exception", f"{type(exc).__name__}: {exc}"[:300],
                                           case.as_curl_command(headers=headers), _our_frame(exc)))
            _keep(app, actor)
            return
        report.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                report.findings.append(Finding(actor.name, label, type(failure).__name__,
                                               f"{failure.title}: {failure.message}"[:400],
                                               case.as_curl_command(headers=headers)))
        if case.method.upper() != "GET" or response.status_code in (401, 403):
            _keep(app, actor)
    return run
