"""Attendance reports: the per-apel report (laporan apel) and the monthly recap (rekap kehadiran),
as data (for the API and pages) and as signed exports (CSV, XLSX, PDF)."""
