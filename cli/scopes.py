"""The PostgreSQL scope roles of orgs and teams (the names row_visible() looks for): shared by ``db roles`` and the
read paths, below both."""

from __future__ import annotations

import re

_TENANT = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$")  # org or org/team


def scope_role(tenant: str) -> str:
    """Returns the scope role of ``org`` or ``org/team`` (the names row_visible() looks for)."""
    if not _TENANT.match(tenant):
        raise ValueError(f"{tenant!r} is not an org or org/team (lower-case DNS labels)")
    org, _, team = tenant.partition("/")
    name = f"batchyard_team__{org}__{team}" if team else f"batchyard_org__{org}"
    if len(name.encode()) > 63:
        raise ValueError(f"{tenant!r}: its role name {name!r} is longer than PostgreSQL's 63 bytes")
    return name
