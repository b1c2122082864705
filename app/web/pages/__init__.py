"""Server-rendered pages (Jinja templates), one module per area."""
