"""The `apel` command. Each area registers its own sub-commands from its own module:
roster/users (app.cli.roster), vision (app.cli.vision), reports and audit
(app.cli.reports), live cameras (app.cli.camera), vision nodes (app.cli.node)."""
from __future__ import annotations

import typer

app = typer.Typer(help="Apel: virtual roll-call and attendance.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default head) on APEL_DATABASE_URL (default SQLite in APEL_DATA_DIR)."""
    from app.settings import get_settings
    from attendance.db.migrate import upgrade

    s = get_settings()
    s.ensure_dirs()
    upgrade(s.db_url, revision)
    typer.echo(f"database at {revision}: {s.db_url.split('@')[-1]}")


# A console's live event stream never ends by itself: without a limit, a stop (SIGTERM from a
# restart or redeploy) would wait for every open console and never reach the shutdown hooks that
# write what the live service still holds (app.live.service.LiveService.stop).
GRACEFUL_SHUTDOWN_S = 5


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address (default APEL_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default APEL_PORT, 8000)."),
    demo: bool = typer.Option(False, "--demo", help="Seed demo offices, users and staff on an empty database."),
) -> None:
    """Run the web service (API, pages, live media)."""
    import uvicorn

    from app.settings import get_settings
    from app.web.app import create_app

    s = get_settings()
    host, port = host or s.host, port or s.port
    application = create_app(s)
    if demo:
        from app.cli.demo import seed_demo, server_url

        seed_demo(application, server_url(host, port))   # the address this server answers on, --port included
    # proxy_headers off: uvicorn would take X-Forwarded-For from any local peer as the client; the app
    # reads it only from APEL_TRUSTED_PROXIES (app.web.login.client_address).
    uvicorn.run(application, host=host, port=port, log_level="info",
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, proxy_headers=False)


def _register_all() -> None:
    from app.cli import camera as cli_camera
    from app.cli import node as cli_node
    from app.cli import reports as cli_reports
    from app.cli import roster as cli_roster
    from app.cli import vision as cli_vision

    for module in (cli_roster, cli_vision, cli_reports, cli_camera, cli_node):
        module.register(app)


def main() -> None:
    _register_all()
    app()


if __name__ == "__main__":
    main()
