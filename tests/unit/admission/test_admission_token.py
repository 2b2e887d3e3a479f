"""Identity tokens: sign/verify round trip, rotation, scope, and one case per rejection reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime

import pytest
from admission_builders import (
    KEYRING, NOW, ORG_KEY, OTHER_TEAM_KEY, PLATFORM_KEY, RETIRED_KEY, ROTATED_KEY, T, TEAM_KEY, UNKNOWN_KEY,
    a_token, at, fresh_cache,
)

from libs.admission import Identity, InMemoryReplayCache, Keyring, ReasonCode, Rejection, SigningKey, authenticate, sign, verify


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(obj: object) -> str:
    return _b64(json.dumps(obj).encode())


def forge(header: object, claims: object, secret: bytes = TEAM_KEY.secret) -> str:
    """Returns a token with arbitrary header and claims, HMAC'd with `secret`."""
    signing_input = f"{_json(header)}.{_json(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


GOOD_HEADER = {"alg": "HS256", "kid": TEAM_KEY.kid, "typ": "batchyard+jwt"}
DUPLICATE_KID_HEADER = b'{"alg":"HS256","kid":"a","kid":"b"}'
GOOD_CLAIMS = a_token().set(jti="forged-claims-jti-0001").claims().model_dump(mode="json", exclude_none=True)


def _tampered() -> str:
    header, payload, sig = a_token().sign().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["team"] = "infra"  # try to run as another team under the same signature
    return f"{header}.{_json(claims)}.{sig}"


REJECTIONS = [
    pytest.param(None, ReasonCode.TOKEN_MISSING, id="missing-none"),
    pytest.param("", ReasonCode.TOKEN_MISSING, id="missing-empty"),
    pytest.param(f"{_json({'alg': 'none'})}.{_json(GOOD_CLAIMS)}.", ReasonCode.TOKEN_UNSIGNED, id="unsigned-alg-none"),
    pytest.param(f"{_json(GOOD_HEADER)}.{_json(GOOD_CLAIMS)}", ReasonCode.TOKEN_UNSIGNED, id="unsigned-two-parts"),
    pytest.param(f"{_json(GOOD_HEADER)}.{_json(GOOD_CLAIMS)}.", ReasonCode.TOKEN_UNSIGNED, id="unsigned-empty-signature"),
    pytest.param(forge({**GOOD_HEADER, "alg": "None"}, GOOD_CLAIMS), ReasonCode.TOKEN_UNSIGNED, id="unsigned-alg-None-with-mac"),
    pytest.param(12345, ReasonCode.TOKEN_MALFORMED, id="malformed-not-a-string"),
    pytest.param("a.b.c.d", ReasonCode.TOKEN_MALFORMED, id="malformed-four-parts"),
    pytest.param("not a token", ReasonCode.TOKEN_MALFORMED, id="malformed-one-part"),
    pytest.param("!!!.???.***", ReasonCode.TOKEN_MALFORMED, id="malformed-not-base64"),
    pytest.param(f"{_b64(b'[1,2]')}.{_json(GOOD_CLAIMS)}.abc", ReasonCode.TOKEN_MALFORMED, id="malformed-header-not-object"),
    pytest.param(forge({"alg": "HS256"}, GOOD_CLAIMS), ReasonCode.TOKEN_MALFORMED, id="malformed-header-no-kid"),
    pytest.param(forge({**GOOD_HEADER, "typ": "JWT"}, GOOD_CLAIMS), ReasonCode.TOKEN_MALFORMED, id="malformed-foreign-typ"),
    pytest.param(
        f"{_b64(json.dumps(GOOD_HEADER).encode('utf-16'))}.{_json(GOOD_CLAIMS)}.abc",
        ReasonCode.TOKEN_MALFORMED, id="malformed-utf16-header",
    ),
    pytest.param(forge({"alg": "HS256", "kid": TEAM_KEY.kid, "x": 1}, GOOD_CLAIMS), ReasonCode.TOKEN_MALFORMED, id="malformed-header-extra-field"),
    pytest.param(
        f"{_b64(DUPLICATE_KID_HEADER)}.{_json(GOOD_CLAIMS)}.abc",
        ReasonCode.TOKEN_MALFORMED, id="malformed-duplicate-header-key",
    ),
    pytest.param(forge(GOOD_HEADER, {**GOOD_CLAIMS, "queues": []}), ReasonCode.TOKEN_MALFORMED, id="malformed-no-queues"),
    pytest.param(forge(GOOD_HEADER, {**GOOD_CLAIMS, "exp": "soon"}), ReasonCode.TOKEN_MALFORMED, id="malformed-exp-not-int"),
    pytest.param(forge(GOOD_HEADER, {**GOOD_CLAIMS, "exp": T}), ReasonCode.TOKEN_MALFORMED, id="malformed-exp-not-after-iat"),
    pytest.param(forge(GOOD_HEADER, {**GOOD_CLAIMS, "admin": True}), ReasonCode.TOKEN_MALFORMED, id="malformed-unknown-claim"),
    pytest.param(f"{_json(GOOD_HEADER)}.{_json(GOOD_CLAIMS)}.%%%", ReasonCode.TOKEN_MALFORMED, id="malformed-signature-not-base64"),
    pytest.param("x" * 9000, ReasonCode.TOKEN_MALFORMED, id="malformed-too-long"),
    pytest.param(forge({**GOOD_HEADER, "alg": "RS256"}, GOOD_CLAIMS), ReasonCode.TOKEN_UNSUPPORTED_ALGORITHM, id="alg-rs256"),
    pytest.param(forge({**GOOD_HEADER, "alg": "HS512"}, GOOD_CLAIMS), ReasonCode.TOKEN_UNSUPPORTED_ALGORITHM, id="alg-hs512"),
    pytest.param(a_token().sign(UNKNOWN_KEY), ReasonCode.TOKEN_UNKNOWN_KEY, id="forged-unknown-kid"),
    pytest.param(a_token().sign(RETIRED_KEY), ReasonCode.TOKEN_KEY_RETIRED, id="retired-key"),
    pytest.param(forge(GOOD_HEADER, GOOD_CLAIMS, secret=b"z" * 32), ReasonCode.TOKEN_BAD_SIGNATURE, id="forged-wrong-secret"),
    pytest.param(_tampered(), ReasonCode.TOKEN_BAD_SIGNATURE, id="forged-tampered-claims"),
    pytest.param(a_token().sign()[:-4] + "AAAA", ReasonCode.TOKEN_BAD_SIGNATURE, id="forged-altered-signature"),
    pytest.param(a_token().set(iat=T - 700, exp=T - 100).sign(), ReasonCode.TOKEN_EXPIRED, id="expired"),
    pytest.param(a_token().set(iat=T + 100, exp=T + 700).sign(), ReasonCode.TOKEN_NOT_YET_VALID, id="not-yet-valid-iat"),
    pytest.param(a_token().set(nbf=T + 100).sign(), ReasonCode.TOKEN_NOT_YET_VALID, id="not-yet-valid-nbf"),
    pytest.param(a_token().set(exp=T + 2 * 24 * 3600).sign(), ReasonCode.TOKEN_LIFETIME_TOO_LONG, id="lifetime-too-long"),
    pytest.param(forge(GOOD_HEADER, {**GOOD_CLAIMS, "team": "infra"}), ReasonCode.TOKEN_KEY_SCOPE, id="team-key-mints-other-team"),
    pytest.param(
        forge({**GOOD_HEADER, "kid": ORG_KEY.kid}, {**GOOD_CLAIMS, "org": "globex", "team": "ml"}, ORG_KEY.secret),
        ReasonCode.TOKEN_KEY_SCOPE, id="org-key-mints-other-org",
    ),
]


@pytest.mark.parametrize(("token", "code"), REJECTIONS)
def test_verify_rejects_with_distinct_reason(token: object, code: ReasonCode) -> None:
    result = verify(token, KEYRING, NOW, fresh_cache())
    assert isinstance(result, Rejection)
    assert result.code is code
    assert result.message and result.rule is None


def test_every_token_reason_code_is_covered_by_the_table() -> None:
    from test_admission_ed25519 import REJECTIONS as ED25519_REJECTIONS  # revoked keys and HS256 per tenant
    token_codes = {c for c in ReasonCode if c.value.startswith("token_")} - {ReasonCode.TOKEN_REPLAYED}
    assert token_codes == {p.values[1] for p in (*REJECTIONS, *ED25519_REJECTIONS)}


def test_sign_then_verify_returns_the_identity() -> None:
    token = a_token().set(sub="ci@acme", queues=("gpu",)).sign()
    identity = verify(token, KEYRING, NOW, fresh_cache())
    assert identity == Identity(
        subject="ci@acme", org="acme", team="vision", queues=frozenset({"gpu"}), kid=TEAM_KEY.kid,
        jti=identity.jti, issued_at=T, expires_at=T + 600,
    )


@pytest.mark.parametrize("key", [TEAM_KEY, ROTATED_KEY, ORG_KEY, PLATFORM_KEY], ids=lambda k: k.kid)
def test_any_key_in_the_keyring_that_covers_the_tenant_verifies(key: SigningKey) -> None:
    assert isinstance(verify(a_token().sign(key), KEYRING, NOW, fresh_cache()), Identity)


def test_rotation_old_and_new_keys_verify_until_the_old_one_is_removed() -> None:
    old, new = a_token().sign(TEAM_KEY), a_token().sign(ROTATED_KEY)
    both = Keyring.of(TEAM_KEY, ROTATED_KEY)
    assert isinstance(authenticate(old, both, NOW), Identity)
    assert isinstance(authenticate(new, both, NOW), Identity)
    after = Keyring.of(ROTATED_KEY)
    assert authenticate(old, after, NOW).code is ReasonCode.TOKEN_UNKNOWN_KEY
    assert isinstance(authenticate(new, after, NOW), Identity)


def test_a_key_verifies_until_its_retirement_instant() -> None:
    key = SigningKey("k", b"k" * 32, org="acme", team="vision", retired_at=T + 60)
    token, ring = a_token().sign(key), Keyring.of(key)
    assert isinstance(authenticate(token, ring, at(59)), Identity)
    assert authenticate(token, ring, at(60)).code is ReasonCode.TOKEN_KEY_RETIRED


@pytest.mark.parametrize(
    ("offset", "valid"),
    [(599, True), (600 + 29, True), (600 + 30, False), (-30, True), (-31, False)],
    ids=["before-exp", "within-leeway-after-exp", "leeway-spent", "within-leeway-before-iat", "before-iat-leeway"],
)
def test_validity_window_honours_clock_leeway(offset: int, valid: bool) -> None:
    token = a_token().sign()
    assert isinstance(authenticate(token, KEYRING, at(offset)), Identity) is valid


def test_same_jti_same_binding_is_an_idempotent_redelivery() -> None:
    cache, token = fresh_cache(), a_token().sign()
    assert isinstance(verify(token, KEYRING, NOW, cache, binding="wl-1:abc"), Identity)
    assert isinstance(verify(token, KEYRING, at(5), cache, binding="wl-1:abc"), Identity)


def test_same_jti_other_binding_is_a_replay() -> None:
    cache, token = fresh_cache(), a_token().sign()
    assert isinstance(verify(token, KEYRING, NOW, cache, binding="wl-1:abc"), Identity)
    result = verify(token, KEYRING, at(5), cache, binding="wl-2:def")
    assert isinstance(result, Rejection) and result.code is ReasonCode.TOKEN_REPLAYED


def test_refused_tokens_do_not_touch_the_replay_cache() -> None:
    cache = fresh_cache()
    verify(forge(GOOD_HEADER, GOOD_CLAIMS, secret=b"z" * 32), KEYRING, NOW, cache)
    assert len(cache) == 0


def test_replay_cache_forgets_claims_after_expiry() -> None:
    cache = InMemoryReplayCache(purge_every=1)
    assert cache.claim("a", "x", expires_at=T + 10, now=T)
    assert not cache.claim("a", "y", expires_at=T + 10, now=T + 9)
    assert cache.claim("b", "x", expires_at=T + 100, now=T + 10)
    assert len(cache) == 1  # "a" was swept
    assert cache.claim("a", "y", expires_at=T + 100, now=T + 10)


def test_sign_refuses_claims_outside_the_key_scope() -> None:
    with pytest.raises(ValueError, match="may not vouch"):
        sign(a_token().tenant("globex", "ml").claims(), TEAM_KEY)
    assert isinstance(authenticate(a_token().tenant("globex", "ml").sign(OTHER_TEAM_KEY), KEYRING, NOW), Identity)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"secret": b"short"}, "at least"), ({"secret": b"s" * 32, "team": "vision"}, "needs an org")],
    ids=["short-secret", "team-without-org"],
)
def test_signing_key_validates_itself(kwargs: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        SigningKey("k", **kwargs)


def test_secrets_never_appear_in_repr() -> None:
    assert "vvvv" not in repr(TEAM_KEY) and "vvvv" not in repr(KEYRING)


def test_duplicate_key_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Keyring.of(TEAM_KEY, TEAM_KEY)


def test_naive_clock_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        authenticate(a_token().sign(), KEYRING, datetime(2026, 11, 24))


def test_headers_are_cached_but_keys_are_looked_up_every_time() -> None:
    """The parsed header is cached by its text; the key behind its kid, its secret and its retirement are not."""
    first = SigningKey("shared-kid", b"a" * 32, org="acme", team="vision")
    token = a_token().sign(first)
    assert isinstance(authenticate(token, Keyring.of(first), NOW), Identity)
    replaced = SigningKey("shared-kid", b"b" * 32, org="acme", team="vision")  # same kid, new secret
    assert authenticate(token, Keyring.of(replaced), NOW).code is ReasonCode.TOKEN_BAD_SIGNATURE
    retired = SigningKey("shared-kid", b"a" * 32, org="acme", team="vision", retired_at=T)
    assert authenticate(token, Keyring.of(retired), NOW).code is ReasonCode.TOKEN_KEY_RETIRED
