"""Schemathesis over every operation of /openapi.json, as admin and as an operator, on the real app
(a SQLite file and PostgreSQL): no server error and no answer the published schema does not allow
(an undocumented status code or content type, a body that does not match). A bounded, derandomized
run; bench/bench_api_fuzz.py runs the long one. The harness itself is checked first: it must report
a route that raises and a route that answers off its schema."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from .api_fuzz import Actor, fuzz, seed_app

FUZZ_ROLES = ("admin", "opbkd")   # the admin sees and may change everything; the operator is office-bound
EXAMPLES = 8                      # drawn cases per operation and role, valid and invalid, besides the fixed ones


def _operations(app: FastAPI) -> set[str]:
    return {f"{method.upper()} {path}" for path, ops in app.openapi()["paths"].items() for method in ops}


@pytest.fixture
def fuzz_app(db_url: str, settings_factory) -> Iterator[tuple[FastAPI, dict[str, Actor]]]:
    from app.web.app import create_app

    app = create_app(settings_factory(db_url, vision_workers=1), migrate=False)
    _, actors = seed_app(app)
    yield app, actors
    app.state.engine.dispose()


class Probe(BaseModel):
    n: int


def _add_broken_routes(app: FastAPI) -> None:
    @app.get("/api/v1/fuzz-probe/crash")
    def crash() -> dict[str, Any]:
        raise RuntimeError("boom")

    @app.get("/api/v1/fuzz-probe/off-schema", response_model=Probe)
    def off_schema() -> JSONResponse:
        return JSONResponse({"n": "not a number"})


def test_the_harness_reports_a_crash_and_an_off_schema_answer(sqlite_url: str, settings_factory) -> None:
    from app.web.app import create_app

    app = create_app(settings_factory(sqlite_url, vision_workers=1), migrate=False)
    _, actors = seed_app(app)
    _add_broken_routes(app)
    report = fuzz(app, actors, ["admin"], max_examples=2, coverage=False,
                  operations=["GET /api/v1/fuzz-probe/crash", "GET /api/v1/fuzz-probe/off-schema"])
    app.state.engine.dispose()
    crashes = [f for f in report.server_errors if f.operation == "GET /api/v1/fuzz-probe/crash"]
    assert crashes and "RuntimeError: boom" in crashes[0].title and "in crash" in crashes[0].where, report.summary()
    violations = [f for f in report.schema_violations if f.operation == "GET /api/v1/fuzz-probe/off-schema"]
    assert violations and violations[0].kind == "JsonSchemaError", report.summary()


@pytest.mark.slow
def test_every_operation_as_admin_and_operator(fuzz_app: tuple[FastAPI, dict[str, Actor]]) -> None:
    app, actors = fuzz_app
    report = fuzz(app, actors, FUZZ_ROLES, max_examples=EXAMPLES, coverage=False)
    operations = _operations(app)
    assert report.operations == len(operations) > 50
    untried = [(role, op) for role in FUZZ_ROLES for op in operations if not report.cases[(role, op)]]
    assert not untried
    # Answers of every kind, not only refusals: the tokens stayed good and valid bodies got through.
    assert report.statuses[200] > 50 and report.statuses[422] > 50 and report.statuses[401] < report.total / 10
    assert report.total >= 500
    assert not report.findings, report.summary()
