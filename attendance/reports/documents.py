"""Turn report figures into a translated `ReportDocument` the CSV/XLSX/PDF writers print.

The kop surat (institution lines on top) comes from `ReportSettings`, which the service fills from
APEL_REPORT_INSTITUTION (lines separated by "|", e.g. "PEMERINTAH PROVINSI BALI|BADAN KEPEGAWAIAN
DAERAH") and APEL_REPORT_ADDRESS.
Each document also prints the audit log's tip at the time of printing ("checkpoint"): kept on paper
it lets `apel audit verify --checkpoint ID:HASH` prove later that the log was not cut short.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from attendance.assemblies.hand_marks import hand_marks, hand_note
from attendance.i18n import t
from attendance.models import AuditEntry
from attendance.reports.apel import ApelReport, Figures, PersonRow
from attendance.reports.common import local_time, zone
from attendance.reports.corrections_note import correction_notes, keterangan
from attendance.reports.exports import Column, Heading, ReportDocument, Table
from attendance.reports.exports.document import Cell
from attendance.reports.recap import Counts, MonthlyRecap
from attendance.rules import TIERS

LABEL_KEYS = ("page", "sig.title", "sig.signer", "sig.fingerprint", "sig.time", "sig.document", "sig.verify",
              "sig.verify_how")
MONTHS = {
    "id": ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
           "November", "Desember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
}


@dataclass(frozen=True)
class ReportSettings:
    """The kop surat printed on every report; the caller passes it in (the domain reads no environment)."""

    report_institution: str | None = None   # lines separated by "|"; None: the translated default
    report_address: str | None = None


def heading(lang: str, settings: ReportSettings | None = None, office_name: str | None = None) -> Heading:
    """No settings: the translated default institution and no address."""
    s = settings or ReportSettings()
    lines = [x.strip() for x in (s.report_institution or t("rep.institution", lang)).split("|") if x.strip()]
    if office_name:
        lines.append(office_name.upper())
    return Heading(lines, s.report_address)


def _labels(lang: str) -> dict[str, str]:
    return {k: t(f"rep.{k}", lang) for k in LABEL_KEYS}


def audit_checkpoint(session: Session) -> str:
    tip = session.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    return f"{tip.id}:{tip.hash[:32]}" if tip else "0:-"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def _cat_label(c: dict, lang: str) -> str:
    return c.get(lang) or c.get("id") or c["code"]


def month_label(month: str, lang: str) -> str:
    year, mon = month.split("-")
    return f"{MONTHS[lang][int(mon) - 1]} {year}"


def _printed(lang: str, tz: str) -> str:
    return local_time(datetime.now(UTC), tz, "%Y-%m-%d %H:%M") or ""


def apel_document(session: Session, report: ApelReport, lang: str, *, tz: str,
                  people: dict[int, list[PersonRow]] | None = None, settings: ReportSettings | None = None
                  ) -> ReportDocument:
    """people: office_id -> rows, to add a drill-down table per office (None = summary only)."""
    cats = report.categories
    single = report.offices[0] if len(report.offices) == 1 else None
    show_unseen = report.status != "closed"
    cols = [Column(t("rep.c.no", lang), 0.6, "R"), Column(t("rep.c.code", lang), 1.1),
            Column(t("rep.c.office", lang), 3.2), Column(t("rep.c.roster", lang), 1.1, "R"),
            Column(t("rep.c.present", lang), 1, "R"), Column(t("rep.c.late", lang), 1.4, "R")]
    cols += [Column(tier, 0.8, "R") for tier in TIERS]
    cols += [Column(t("rep.c.tk", lang), 0.8, "R")]
    cols += [Column(_cat_label(c, lang), 1.1, "R") for c in cats]
    if show_unseen:
        cols.append(Column(t("rep.c.not_seen", lang), 1.1, "R"))
    cols += [Column(t("rep.c.mask", lang), 1.5, "R"), Column(t("rep.c.mask_pct", lang), 1.1, "R"),
             Column(t("rep.c.alerts", lang), 1.5, "R")]

    def fig_cells(f: Figures) -> list[Cell]:
        cells: list[Cell] = [f.roster, f.present, f.late, *[f.tiers[x] for x in TIERS], f.tk,
                 *[f.excused.get(c["code"], 0) for c in cats]]
        if show_unseen:
            cells.append(f.not_seen)
        return cells + [f"{f.masked}/{f.mask_known}", _pct(f.mask_compliance), f.distancing_alerts]

    rows = [[i, o.code, o.name, *fig_cells(o.figures)] for i, o in enumerate(report.offices, start=1)]
    tables = [Table(t("rep.t.summary", lang), cols, rows,
                    total=["", "", t("rep.total", lang), *fig_cells(report.total)])]

    for o in report.offices:
        if people is None or o.office_id not in people:
            continue
        pcols = [Column(t("rep.c.no", lang), 0.6, "R"), Column(t("rep.c.nip", lang), 2.3),
                 Column(t("rep.c.name", lang), 3.2), Column(t("rep.c.status", lang), 2),
                 Column(t("rep.c.tier", lang), 1.1), Column(t("rep.c.late_minutes", lang), 1.4, "R"),
                 Column(t("rep.c.category", lang), 1.6), Column(t("rep.c.first_seen", lang), 1.6),
                 Column(t("rep.c.frames", lang), 0.9, "R"), Column(t("rep.c.confidence", lang), 1.3, "R"),
                 Column(t("rep.c.mask", lang), 1.3, "R"), Column(t("rep.c.alerts", lang), 1.4, "R")]
        cat_names = {c["code"]: _cat_label(c, lang) for c in cats}
        notes = correction_notes(session, record_ids=[p.record_id for p in people[o.office_id]
                                                      if p.corrected and p.record_id is not None])
        hands = hand_marks(session, report.assembly_id, [o.office_id])   # marked present without the camera
        prow: list[list[Cell]] = []
        for i, p in enumerate(people[o.office_id], start=1):
            prow.append([i, p.nip, p.name, t(f"rep.st.{p.status}", lang), p.tier or "",
                         p.late_minutes if p.late_minutes is not None else "",
                         keterangan(notes.get(p.record_id or 0), lang, cat_names)
                         or hand_note(hands.get(p.employee_id), o.timezone, lang)
                         or cat_names.get(p.excuse_category or "", p.excuse_category or ""),
                         local_time(p.first_seen_at, o.timezone, "%H:%M:%S") or "",
                         p.frames, "" if p.best_confidence is None else round(float(p.best_confidence), 2),
                         f"{p.mask_frames}/{p.mask_total}" if p.mask_total else "", p.distancing_alerts])
        tables.append(Table(t("rep.t.people", lang, office=f"{o.code} {o.name}"), pcols, prow, sheet=o.code))

    sched_tz = single.timezone if single else tz
    meta = [
        (t("rep.meta.apel", lang), f"#{report.assembly_id} {report.title}"),
        (t("rep.meta.kind", lang), t(f"rep.kind.{report.kind}", lang)),
        (t("rep.meta.schedule", lang), local_time(single.scheduled_start if single else report.scheduled_start,
                                                  sched_tz, "%Y-%m-%d %H:%M") or ""),
        (t("rep.meta.status", lang), t(f"rep.status.{report.status}", lang)),
        (t("rep.meta.rules", lang), t("rep.meta.rules_value", lang, name=report.ruleset["name"],
                                      version=report.ruleset["version"], grace=report.ruleset["grace_minutes"],
                                      tl1=report.ruleset["tl1_max_minutes"], tl2=report.ruleset["tl2_max_minutes"],
                                      tl3=report.ruleset["tl3_max_minutes"])),
        (t("rep.meta.offices", lang), f"{single.code} {single.name}" if single else
         f"{t('rep.meta.all_offices', lang)} ({len(report.offices)})"),
        (t("rep.meta.printed", lang), _printed(lang, tz)),
        (t("rep.meta.audit", lang), audit_checkpoint(session)),
    ]
    return ReportDocument(lang=lang, kind="apel", heading=heading(lang, settings, single.name if single else None),
                          title=t("rep.apel_title", lang, title=report.title), meta=meta, tables=tables,
                          labels=_labels(lang), landscape=True)


def _operators_table(recap: MonthlyRecap, lang: str) -> Table:
    cols = [Column(t("rep.c.no", lang), 0.6, "R"), Column(t("recap.hand.operator", lang), 2.5),
            Column(t("rep.c.code", lang), 1.1), Column(t("rep.c.office", lang), 3),
            Column(t("recap.hand.marks", lang), 1.2, "R"), Column(t("recap.hand.people", lang), 1.2, "R"),
            Column(t("rep.c.apels", lang), 1, "R")]
    rows: list[list[Cell]] = [[i, m.operator, m.office_code, m.office_name, m.marks, m.people, m.apels]
                              for i, m in enumerate(recap.hand_operators or [], start=1)]
    return Table(t("recap.hand.t.operators", lang), cols, rows, sheet=t("recap.hand.sheet", lang))


def recap_document(session: Session, recap: MonthlyRecap, lang: str, *, office_label: str | None = None,
                   settings: ReportSettings | None = None) -> ReportDocument:
    cats = recap.categories

    def count_cells(c: Counts) -> list[Cell]:
        return [c.apels, c.present, c.late, *[c.tiers[x] for x in TIERS], c.tk,
                *[c.excused.get(cat["code"], 0) for cat in cats], c.late_minutes, c.by_hand]

    tail = ([Column(t("rep.c.present", lang), 1, "R"), Column(t("rep.c.late", lang), 1.4, "R")]
            + [Column(x, 0.8, "R") for x in TIERS] + [Column(t("rep.c.tk", lang), 0.8, "R")]
            + [Column(_cat_label(c, lang), 1.1, "R") for c in cats]
            + [Column(t("rep.c.late_minutes_total", lang), 1.3, "R")]
            # last of the counts: the columns HR's spreadsheets already read keep their places
            + [Column(t("recap.hand.col", lang), 1.2, "R")])
    ocols = [Column(t("rep.c.no", lang), 0.6, "R"), Column(t("rep.c.code", lang), 1.1),
             Column(t("rep.c.office", lang), 3), Column(t("rep.c.employees", lang), 1, "R"),
             Column(t("rep.c.apels", lang), 1, "R"), *tail]
    orows = [[i, o.code, o.name, o.employees, *count_cells(o.counts)] for i, o in enumerate(recap.offices, start=1)]
    tables = [Table(t("rep.t.recap_offices", lang), ocols, orows,
                    total=["", "", t("rep.total", lang), sum(o.employees for o in recap.offices),
                           *count_cells(recap.total)])]
    if recap.employees:
        ecols = [Column(t("rep.c.no", lang), 0.7, "R"), Column(t("rep.c.nip", lang), 2.3),
                 Column(t("rep.c.name", lang), 3), Column(t("rep.c.code", lang), 1.1),
                 Column(t("rep.c.apels", lang), 0.9, "R"), *tail]
        cat_names = {c["code"]: _cat_label(c, lang) for c in cats}
        apel_day = {a["id"]: datetime.fromisoformat(a["scheduled_start"]).astimezone(zone(recap.timezone))
                    .strftime("%d/%m") for a in recap.apels}
        ecols.append(Column(t("rep.c.category", lang), 4))
        erows = [[i, e.nip, e.name, e.office_code, *count_cells(e.counts),
                  "; ".join(keterangan(n, lang, cat_names, prefix=f"{apel_day.get(n.assembly_id, '')}: ")
                            for n in e.corrections)]
                 for i, e in enumerate(recap.employees, start=1)]
        tables.append(Table(t("rep.t.recap_employees", lang), ecols, erows))
    if recap.hand_operators is not None:
        tables.append(_operators_table(recap, lang))
    meta = [
        (t("rep.meta.month", lang), month_label(recap.month, lang)),
        (t("rep.meta.offices", lang), office_label or t("rep.meta.all_offices", lang)),
        (t("rep.meta.apels", lang), str(len(recap.apels))),
        (t("rep.meta.timezone", lang), recap.timezone),
        (t("rep.meta.printed", lang), _printed(lang, recap.timezone)),
        (t("rep.meta.audit", lang), audit_checkpoint(session)),
    ]
    return ReportDocument(lang=lang, kind="recap", heading=heading(lang, settings, office_label),
                          title=t("rep.recap_title", lang, month=month_label(recap.month, lang).upper()),
                          meta=meta, tables=tables, labels=_labels(lang), landscape=True)
