"""Apels and their attendance: scheduling and tokens, sightings, review, corrections, rule sets.

Every mutating function writes the change and its audit entry into the caller's session and never
commits (attendance.db.unit_of_work does); it raises an `attendance.errors.ApelError` when it refuses.
"""
