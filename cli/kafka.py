"""``batchyard kafka``: the bus's topics and ACLs, from the topic catalog (run as a Kafka admin, a super user).

    batchyard kafka acls                              # print the ACLs the catalog needs
    batchyard kafka acls --check                      # exit 1 listing what the cluster lacks or holds beyond them
    batchyard kafka acls --apply --kube-cluster onprem-dc1   # create the missing, delete the extra (idempotent)
    batchyard kafka topics --apply                    # create the catalog's topics (services under ACLs may not)

Connects with BATCHYARD_KAFKA_BOOTSTRAP and the BATCHYARD_KAFKA_* security settings (the admin's credentials).
"""

from __future__ import annotations

import asyncio
import logging

import typer

from cli.common import CommandGroup, fail

NAME = "kafka"
app = CommandGroup(help="Kafka: the catalog's topics and ACLs (one principal per service, producers, ops, finance).",
                   no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Kafka: the catalog's topics and ACLs."""


def _connection():
    from cli.submit import kafka_client_options
    from libs.platform.settings import Settings
    settings = Settings()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # an unreachable broker is reported once, in words
    return settings, kafka_client_options(settings)


@app.command()
def acls(apply_: bool = typer.Option(False, "--apply", help="Create missing and delete extra ACLs on the bus's "
                                     "topics and groups."),
         check: bool = typer.Option(False, "--check", help="Exit 1 if the cluster's ACLs drifted from the catalog."),
         kube_cluster: list[str] = typer.Option([], "--kube-cluster", help="A cluster with a Kubernetes connector "
                                                "(principal kube-connector-<cluster>); repeat per cluster."),
         namespace: str = typer.Option(None, help="Topic namespace (default: BATCHYARD_TOPIC_NAMESPACE).")) -> None:
    """The ACLs generated from the topic catalog: print, check (drift) or apply them."""
    from libs.platform import kafka_acls
    from libs.platform.acls import desired_acls

    if apply_ and check:
        fail("give --apply or --check, not both")
    settings, options = _connection()
    ns = settings.topic_namespace if namespace is None else namespace
    if not (apply_ or check):
        for acl in sorted(desired_acls(ns, kube_cluster)):
            typer.echo(str(acl))
        return
    run = kafka_acls.apply if apply_ else kafka_acls.check
    try:
        result = asyncio.run(run(settings.kafka_bootstrap, ns, kube_cluster, **options))
    except kafka_acls.AclError as exc:
        fail(f"the broker refused: {exc} (are these an admin's credentials, and does it run an authorizer?)", 1)
    for acl in result.missing:
        typer.echo(f"{'created' if apply_ else 'missing'}: {acl}")
    for acl in result.extra:
        typer.echo(f"{'deleted' if apply_ else 'extra'}: {acl}")
    if apply_:
        typer.echo(f"acls applied: {len(result.missing)} created, {len(result.extra)} deleted")
    elif not result.clean:
        fail(f"ACLs drifted from the catalog: {len(result.missing)} missing, {len(result.extra)} extra", 1)
    else:
        typer.echo("ACLs match the catalog")


@app.command()
def topics(apply_: bool = typer.Option(False, "--apply", help="Create missing topics and align their configs."),
           namespace: str = typer.Option(None, help="Topic namespace (default: BATCHYARD_TOPIC_NAMESPACE).")) -> None:
    """The catalog's topics: print them, or create them (services under ACLs run with BATCHYARD_ENSURE_TOPICS=false)."""
    from libs.events.topics import CATALOG
    from libs.platform.topics_admin import ensure_topics

    settings, options = _connection()
    ns = settings.topic_namespace if namespace is None else namespace
    if not apply_:
        for topic in CATALOG:
            typer.echo(f"{topic.qualified(ns)}  writers: {', '.join(topic.writers)}  readers: {', '.join(topic.readers)}")
        return
    for name, action in asyncio.run(ensure_topics(settings.kafka_bootstrap, ns, **options)).items():
        typer.echo(f"{name}: {action}")
