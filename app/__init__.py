"""Apel's HTTP edge: FastAPI app factory, settings, auth, routes, pages and the `apel` CLI."""
