"""Operator commands under `flask --app app …`: staff credentials, console users, feeds, the
policy and the signing key ring."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

import click
from flask import Flask

from blueprints.messages import text_in
from core.console import CONSOLE_ROLES
from core.errors import DomainError
from core.feeds import FeedKind
from core.model import Role
from core.wiring import Services


def register(app: Flask, services: Services) -> None:
    """Add the `credentials` and `keys` command groups to the app's CLI."""

    @app.cli.group()
    def credentials() -> None:
        """Staff credentials (authority, checkpoint)."""

    @credentials.command("create")
    @click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
    @click.option("--name", required=True, help="Who or which gate holds it, e.g. 'Xicheng CDC'.")
    def create_credential(role: str, name: str) -> None:
        """Create a credential and print its token once (it is stored only as a hash)."""
        token, credential = services.credentials.create(Role(role), name)
        click.echo(f"# credential {credential.id}: role={credential.role} name={credential.name}", err=True)
        click.echo(token)

    @credentials.command("list")
    def list_credentials() -> None:
        """List credentials (never their tokens)."""
        for c in services.credentials.list():
            click.echo(f"{c.id}\t{c.role}\t{c.name}")

    @credentials.command("revoke")
    @click.argument("credential_id")
    def revoke_credential(credential_id: str) -> None:
        """Revoke a credential by its id."""
        if not services.credentials.revoke(credential_id):
            raise click.ClickException(f"no credential {credential_id}")
        click.echo(f"revoked {credential_id}")

    @app.cli.group("console-users")
    def console_users() -> None:
        """Users of the authority console (/console/), who log in with a password."""

    @console_users.command("create")
    @click.option("--username", required=True, help="3–32 characters: a lowercase letter, then a-z 0-9 . _ -")
    @click.option("--role", required=True, type=click.Choice([role.value for role in CONSOLE_ROLES]))
    @click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
    def create_console_user(username: str, role: str, password_stdin: bool) -> None:
        """Create a console user; the password is asked twice (or read from stdin) and stored
        only as an argon2id hash."""
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user = services.console.create(username, role, password)
        except DomainError as exc:
            details = "; ".join(f"{name}: {', '.join(text_in(m, english=True) for m in messages)}"
                                for name, messages in (exc.fields or {}).items())
            message = text_in(exc.message, english=True)
            raise click.ClickException(f"{message} ({details})" if details else message) from None
        click.echo(f"created {user.username}: role={user.role} acts as {user.credential.id}")

    @console_users.command("list")
    def list_console_users() -> None:
        """Usernames, roles, status and creation dates (never password hashes)."""
        for user in services.console.users():
            created = dt.datetime.fromtimestamp(user.created_at, dt.UTC).isoformat(timespec="seconds")
            status = "disabled" if user.disabled else "active"
            click.echo(f"{user.username}\t{user.role}\t{status}\t{created}\t{user.credential.id}")

    @console_users.command("disable")
    @click.argument("username")
    def disable_console_user(username: str) -> None:
        """Stop a user logging in; its open sessions end at their next request."""
        if not services.console.disable(username):
            raise click.ClickException(f"no console user {username}")
        click.echo(f"disabled {username}")

    @app.cli.command("worker")
    @click.option("--once", is_flag=True, help="Send one batch and stop (tests, cron).")
    @click.option("--batch", default=50, show_default=True, help="Changes taken per round.")
    def worker(once: bool, batch: int) -> None:
        """Send queued colour-change notices to linked accounts until stopped (SIGTERM/SIGINT
        finish the batch in hand first)."""
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        sent = 0
        while not stopping:
            sent += services.notifications.deliver(consumer, count=batch, block_ms=0 if once else 2_000)
            if once:
                break
        click.echo(f"worker {consumer}: {sent} changes sent", err=True)

    @app.cli.group()
    def store() -> None:
        """The store: its layout; the embedded Redis (when HEALTHCODE_REDIS_URL is empty)."""

    @store.command("stop")
    def stop_store() -> None:
        """Shut the embedded redis-server down (its AOF is fsynced: nothing is lost)."""
        embedded = app.extensions["healthcode.runtime"].store.embedded
        if embedded is None:
            raise click.ClickException("no embedded store: HEALTHCODE_REDIS_URL names a server of its own")
        embedded.stop()
        click.echo(f"stopped the embedded redis-server in {embedded.data_dir}")

    @app.cli.group()
    def travel() -> None:
        """The travel card (通信行程卡)."""

    @travel.command("retire")
    @click.option("--yes", is_flag=True, help="Do not ask.")
    def retire_travel(yes: bool) -> None:
        """Delete every stay, SMS code and travel token at once (the card's retirement, 2022-12-13);
        set HEALTHCODE_TRAVEL_RETIRED=1 too, so the endpoints answer 410 from now on."""
        if not yes:
            click.confirm("Delete all trip data, SMS codes and travel tokens?", abort=True)
        removed = services.travel.retire_data()
        click.echo(", ".join(f"{name}: {count} keys" for name, count in removed.items()))

    @app.cli.group()
    def feeds() -> None:
        """The labs and operators that push signed batches."""

    @feeds.command("create")
    @click.option("--name", required=True, help="The X-Feed-Id it signs with, e.g. 'lab-xicheng'.")
    @click.option("--kind", required=True, type=click.Choice([kind.value for kind in FeedKind]))
    def create_feed(name: str, kind: str) -> None:
        """Make a feed and print its signing secret once (share it with the lab or operator)."""
        feed = services.feeds.create(name, kind)
        click.echo(f"# feed {feed.name}: kind={feed.kind}", err=True)
        click.echo(feed.secret)

    @feeds.command("list")
    def list_feeds() -> None:
        """The feeds (never their secrets)."""
        for feed in services.feeds.all():
            click.echo(f"{feed.name}\t{feed.kind}")

    @app.cli.group()
    def policy() -> None:
        """The colour policy in force."""

    @policy.command("publish")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--reason", required=True, help="Why, for the audit trail (e.g. the notice it implements).")
    def publish_policy(path: str, reason: str) -> None:
        """Make a policy file (with a new version) the one in force; audited."""
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        published = services.policy_admin.publish(doc, "operator", reason)
        click.echo(f"in force: {published.version}")

    @store.command("migrate")
    @click.option("--index-bits", type=click.IntRange(8, 20), default=None,
                  help="The indexes' bits (default: HEALTHCODE_INDEX_BITS); start the app with the same.")
    @click.option("--yes", is_flag=True, help="Do not ask: the writers are stopped.")
    def migrate_store(index_bits: int | None, yes: bool) -> None:
        """Bring a store of an earlier layout, or of other index bits, to this version's; idempotent."""
        from adapters.store.migrate import migrate

        runtime = app.extensions["healthcode.runtime"]
        bits = index_bits or runtime.settings.index_bits
        if not yes:
            click.confirm(f"Migrate the store to layout {bits} bits? Stop every app process and worker first",
                          abort=True)
        migrate(runtime.store.client, bits, click.echo)
        if bits != runtime.settings.index_bits:
            click.echo(f"now start the app with HEALTHCODE_INDEX_BITS={bits}")

    @app.cli.group()
    def keys() -> None:
        """The code-signing key ring."""

    @keys.command("rotate")
    def rotate() -> None:
        """Make a new signing key; the old one keeps verifying until retired."""
        click.echo(services.keys.rotate())

    # A kid is base64url and may begin with "-": not an option here.
    @keys.command("retire", context_settings={"ignore_unknown_options": True})
    @click.argument("kid")
    def retire(kid: str) -> None:
        """Retire a verify-only key: codes signed with it stop verifying."""
        try:
            services.keys.retire(kid)
        except (ValueError, KeyError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"retired {kid}")

    @keys.command("list")
    def list_keys() -> None:
        """Key ids, status and dates."""
        for key in services.keys.keys():
            click.echo(json.dumps(key, ensure_ascii=False))

