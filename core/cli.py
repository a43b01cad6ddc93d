"""Kernel commands: ``flask --app wsgi <group> <command>``; every one honours DATABASE_URL.

Each command runs in one unit of work: committed when it succeeds, rolled back on error.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from core.permissions import Actor

users_cli = AppGroup("users", help="Manage users.")
audit_cli = AppGroup("audit", help="Audit log.")
jobs_cli = AppGroup("jobs", help="Background jobs: worker, scheduler, inspection.")
demo_cli = AppGroup("demo", help="Demo data.")
db_cli = AppGroup("db", help="Database schema (Alembic).")

#: Demo loaders of the business modules, run in registration order after the kernel's.
DEMO_LOADERS: list[tuple[str, Callable[[Any], dict]]] = []


def register_demo_loader(name: str, loader: Callable[[Any], dict]) -> None:
    """A module adds its demo data: ``loader(session) -> summary``; it must be idempotent."""
    DEMO_LOADERS[:] = [(n, f) for n, f in DEMO_LOADERS if n != name] + [(name, loader)]


def _db():
    return current_app.extensions["yaocai.db"]


@users_cli.command("create-admin")
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "display_name", default="Bureau administrator")
@click.option("--org-name", default="省医疗保障局")
@click.option("--org-code", default=None, help="USCC of the bureau (created when missing)")
@click.option("--region", default="330000")
def create_admin(username: str, password: str, display_name: str, org_name: str,
                 org_code: str | None, region: str) -> None:
    """Create the bureau's first administrator (and the bureau itself if there is none)."""
    from sqlmodel import select

    from core import services
    from core.errors import Invalid
    from core.models import Organisation, OrgKind, Role

    system = Actor.system_actor("cli")
    with _db().unit_of_work() as s:
        bureau = s.exec(select(Organisation).where(Organisation.kind == OrgKind.bureau)).first()
        if bureau is None:
            if not org_code:
                raise click.UsageError("no bureau exists yet: give --org-code (its USCC)")
            bureau = services.create_organisation(s, system, services.OrgIn(
                kind=OrgKind.bureau, name=org_name, code=org_code, region_code=region))
        try:
            user = services.create_user(s, system, bureau.id, services.UserIn(
                username=username, display_name=display_name, roles=[Role.org_admin.value],
                password=password))
        except Invalid as exc:
            raise click.ClickException(exc.detail) from None
        click.echo(f"created bureau admin {user.username} (id {user.id}) in {bureau.name}")


@users_cli.command("permissions-table")
def users_permissions_table() -> None:
    """Print the role × permission table (Markdown) that the README carries."""
    from core.permissions import permissions_table
    click.echo(permissions_table(), nl=False)


@audit_cli.command("verify")
@click.option("--checkpoints", "checkpoint_file", type=click.Path(dir_okay=False), default=None,
              help="checkpoint file (default: AUDIT_CHECKPOINT_FILE or "
                   "instance/audit-checkpoints.jsonl)")
def audit_verify(checkpoint_file: str | None) -> None:
    """Check the hash chain and compare it with every checkpoint; report modified, inserted,
    deleted, truncated or rewritten records; exit 1 on any."""
    from pathlib import Path

    from core.audit import checkpoint_path, read_checkpoints, verify_chain, verify_checkpoints
    path = Path(checkpoint_file) if checkpoint_file else checkpoint_path(
        current_app.extensions["yaocai.settings"])
    checkpoints, problems = read_checkpoints(path)
    with _db().unit_of_work() as s:
        checked, chain_problems = verify_chain(s)
        problems = chain_problems + problems + verify_checkpoints(s, checkpoints)
    for p in problems:
        click.echo(str(p))
    if not checkpoints:
        click.echo(f"warning: no checkpoint in {path}: a cut-off tail cannot be detected",
                   err=True)
    if problems:
        click.echo(f"audit log: {checked} records checked, {len(problems)} problem(s)", err=True)
        sys.exit(1)
    anchored = (f", matches {len(checkpoints)} checkpoint(s) up to seq "
                f"{max(c.seq for c in checkpoints)}" if checkpoints else "")
    click.echo(f"audit log: {checked} records checked, chain intact{anchored}")


@audit_cli.command("checkpoint")
@click.option("--file", "checkpoint_file", type=click.Path(dir_okay=False), default=None,
              help="checkpoint file (default: AUDIT_CHECKPOINT_FILE or "
                   "instance/audit-checkpoints.jsonl)")
def audit_checkpoint(checkpoint_file: str | None) -> None:
    """Anchor the chain's end now (the scheduled job does it every 15 minutes)."""
    from pathlib import Path

    from core.audit import checkpoint_path, write_checkpoint
    path = Path(checkpoint_file) if checkpoint_file else checkpoint_path(
        current_app.extensions["yaocai.settings"])
    with _db().unit_of_work() as s:
        cp, appended = write_checkpoint(s, path)
    if cp is None:
        click.echo("audit log is empty: nothing to anchor")
    else:
        click.echo(json.dumps({**cp.as_dict(), "file": str(path), "appended": appended}))


@jobs_cli.command("worker")
@click.option("--threads", default=4, show_default=True)
def jobs_worker(threads: int) -> None:
    """Run a Dramatiq worker in this process (production: one per core, or use `dramatiq`)."""
    import signal
    import threading

    import dramatiq

    broker = current_app.extensions["yaocai.broker"]
    worker = dramatiq.Worker(broker, worker_threads=threads)
    worker.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"worker running with {threads} threads; Ctrl-C to stop")
    stop.wait()
    worker.stop()


@jobs_cli.command("scheduler")
def jobs_scheduler() -> None:
    """Run the periodic-job scheduler (one or more; ticks are deduplicated)."""
    from core.jobs import make_scheduler, periodic_jobs
    click.echo("scheduling: " + ", ".join(f"{n} [{p.cron}]" for n, p in periodic_jobs().items()))
    make_scheduler(current_app._get_current_object(), background=False).start()


@jobs_cli.command("list")
@click.option("--status", default=None)
@click.option("--limit", default=20, show_default=True)
def jobs_list(status: str | None, limit: int) -> None:
    """Recent jobs and their outcome."""
    from sqlmodel import select

    from core.models import Job, JobStatus
    with _db().unit_of_work() as s:
        stmt = select(Job).order_by(Job.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(Job.status == JobStatus(status))
        for j in s.exec(stmt):
            click.echo(json.dumps({"id": j.id, "actor": j.actor, "status": j.status.value,
                                   "attempts": j.attempts, "result": j.result},
                                  ensure_ascii=False))


@jobs_cli.command("run")
@click.argument("name")
@click.option("--args", "args_json", default="{}", help="JSON object of job arguments")
def jobs_run(name: str, args_json: str) -> None:
    """Enqueue a job now (it runs on the configured broker's workers)."""
    from core.jobs import enqueue
    with _db().unit_of_work() as s:
        row = enqueue(s, name, args=json.loads(args_json))
    click.echo(f"enqueued job {row.id} ({name})")


@demo_cli.command("load")
def demo_load() -> None:
    """Load the demo data set (idempotent: running it twice changes nothing)."""
    from core.demo import load_core_demo
    with _db().unit_of_work() as s:
        summary = {"core": load_core_demo(s)}
        for name, loader in DEMO_LOADERS:
            summary[name] = loader(s)
    click.echo(json.dumps(summary, ensure_ascii=False))


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database DATABASE_URL names (same as `alembic upgrade head`)."""
    from core.migrate import upgrade
    upgrade(current_app.extensions["yaocai.settings"].database_url, revision)
    click.echo(f"database at {revision}")


def init_app(app: Flask) -> None:
    for group in (users_cli, audit_cli, jobs_cli, demo_cli, db_cli):
        app.cli.add_command(group)
