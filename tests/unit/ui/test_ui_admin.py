"""Who may use the web view's write action: only a caller whose token is signed by a platform key."""

from __future__ import annotations

import pytest

from cli.ui.admin import AdminRefused, verify_admin
from libs.localinfra.processes import REPO
from services.admission.signing import demo_signer, signer_from_file

PLATFORM_KEY = REPO / "deploy" / "kube" / "connector-keys.yaml"


def test_a_platform_keys_token_is_an_admin():
    token = signer_from_file(PLATFORM_KEY, subject="root@ops").token("acme", "vision")
    assert verify_admin(f"Bearer {token}").subject == "root@ops"


@pytest.mark.parametrize(("header", "reason"), [
    pytest.param(None, "admin_token_required", id="no-header"),
    pytest.param("Basic dXNlcjpwdw==", "admin_token_required", id="not-bearer"),
    pytest.param("Bearer ", "admin_token_required", id="empty"),
    pytest.param("Bearer junk", "token_malformed", id="garbage"),
    pytest.param(lambda: "Bearer " + demo_signer().token("acme", "vision"), "not_admin", id="team-key"),
    pytest.param(lambda: "Bearer " + demo_signer().token("acme", "platform"), "not_admin", id="org-key"),
    pytest.param(lambda: "Bearer " + signer_from_file(PLATFORM_KEY, subject="x").token("acme", "vision")[:-3] + "AAA",
                 "token_bad_signature", id="forged"),
])
def test_anything_else_is_refused_with_403_and_its_reason(header, reason):
    with pytest.raises(AdminRefused) as refused:
        verify_admin(header() if callable(header) else header)
    assert (refused.value.status, refused.value.reason) == (403, reason)
