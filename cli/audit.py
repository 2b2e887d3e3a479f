"""``batchyard audit``: admission's decisions (who, what, accepted or rejected, which rule), tokens and keys.

    batchyard audit list --org acme --team vision --rejected     # newest first, from Postgres
    batchyard audit token --org acme --team vision               # mint a token (pipelines that publish directly)
    batchyard audit keygen --kid acme-vision-2027 --org acme --team vision   # a new keyring entry
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Optional

import typer

from cli.common import CommandGroup, connect

NAME = "audit"
app = CommandGroup(help="Admission's audit log, identity tokens and signing keys.", no_args_is_help=True,
                   service="admission")


@app.command("list")
def list_(org: Optional[str] = typer.Option(None, help="Only this org."),
          team: Optional[str] = typer.Option(None, help="Only this team."),
          rejected: bool = typer.Option(False, "--rejected", help="Only refusals."),
          workload: Optional[str] = typer.Option(None, help="Only this workload id."),
          limit: int = typer.Option(50, min=1, max=10_000, help="At most this many, newest first."),
          as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """List admission decisions from the audit log (BATCHYARD_DATABASE_URL; read with the auditor role)."""
    rows = asyncio.run(fetch_decisions(org=org, team=team, rejected=rejected, workload_id=workload, limit=limit))
    for row in rows:
        typer.echo(json.dumps(row, default=str) if as_json else format_row(row))
    if not rows and not as_json:
        typer.echo("no decisions match")


async def fetch_decisions(*, database_url: str | None = None, **filters) -> list[dict]:
    """Returns matching audit rows as dicts, newest first."""
    from services.admission.repository import list_decisions

    conn = await connect("admission", "admission", database_url)
    try:
        return [dict(r) for r in await list_decisions(conn, **filters)]
    finally:
        await conn.close()


def format_row(row: dict) -> str:
    """Returns one decision as a line a person reads."""
    who = row.get("subject") or "<unauthenticated>"
    verdict = "ACCEPTED" if row["outcome"] == "accepted" else f"REJECTED {row['reason']}"
    action = row.get("action") or "submit"
    if action != "submit":
        done = {"cancel": "CANCELLED", "suspend": "SUSPENDED", "resume": "RESUMED"}.get(action, action.upper())
        verdict = done if row["outcome"] == "accepted" else f"{action.upper()} REFUSED {row['reason']}"
    rule = f" [{row['rule']}]" if row.get("rule") else ""
    when = row["decided_at"].strftime("%Y-%m-%d %H:%M:%S") if hasattr(row["decided_at"], "strftime") else ""
    tenant = f"{row.get('org')}/{row.get('team')}"
    text = f"{when} {tenant} {row.get('workload_id')} by {who} (key {row.get('key_id')}): {verdict}{rule}"
    return text if row["outcome"] == "accepted" else f"{text}: {row['message']}"


@app.command()
def token(org: str = typer.Option(..., help="Tenant org."), team: str = typer.Option(..., help="Tenant team."),
          queue: list[str] = typer.Option([], help="Queues the token allows (default: the key's)."),
          key_file: Optional[str] = typer.Option(None, help="Keyring YAML with your key "
                                                             "(default: $BATCHYARD_SIGNING_KEY_FILE)."),
          subject: Optional[str] = typer.Option(None, help="Caller name (default: $BATCHYARD_SUBJECT or user@host)."),
          ttl_s: int = typer.Option(600, min=1, max=86_400, help="Lifetime in seconds.")) -> None:
    """Print a fresh single-use token, for producers that publish WorkloadSubmitted themselves."""
    from cli.submit import SubmitError, signer_from_env

    try:
        signer = signer_from_env(org=org, team=team, key_file=key_file, subject=subject)
        signer.ttl_s = ttl_s
        typer.echo(signer.token(org, team, queue or None))
    except (SubmitError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)


@app.command()
def keygen(kid: str = typer.Option(..., help="Key id, e.g. acme-vision-2027."),
           org: Optional[str] = typer.Option(None, help="Org the key vouches for (omit: platform key)."),
           team: Optional[str] = typer.Option(None, help="Team within the org (omit: any team of the org)."),
           queue: list[str] = typer.Option(["default"], help="Queues its tokens list."),
           hmac: bool = typer.Option(False, "--hmac", help="A shared HMAC secret instead (deprecated: admission's "
                                     "keyring could then mint tokens for the tenant).")) -> None:
    """Print a new key: an Ed25519 pair (the public entry for admission's keyring, the private one for the signer's
    key file), or with --hmac one shared secret."""
    if team and not org:
        typer.echo("error: a team key needs --org", err=True)
        raise typer.Exit(2)
    from libs.admission import SigningKey
    from libs.admission.codec import b64encode
    from libs.admission.token import new_ed25519_seed

    scope = {**({"org": org} if org else {}), **({"team": team} if team else {}), "queues": list(queue)}
    if hmac:
        typer.echo("  - " + json.dumps({"kid": kid, "secret": b64encode(secrets.token_bytes(32)), **scope}))
        return
    seed = new_ed25519_seed()
    public = b64encode(SigningKey.ed25519(kid, seed).public_key)
    typer.echo("# admission's keyring (BATCHYARD_ADMISSION_KEYRING): the public key")
    typer.echo("  - " + json.dumps({"kid": kid, "public_key": public, **scope}))
    typer.echo("# the signer's key file (BATCHYARD_SIGNING_KEY_FILE), kept secret by the team or CI system")
    typer.echo("  - " + json.dumps({"kid": kid, "private_key": b64encode(seed), **scope}))
