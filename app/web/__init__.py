"""The HTTP edge: FastAPI app factory, dependencies, security, errors, API and pages."""
