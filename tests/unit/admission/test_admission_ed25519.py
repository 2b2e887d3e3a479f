"""Ed25519 tokens: admission holds only public keys; every refusal of the HS256 table holds for EdDSA too;
HS256 only for the tenants a keyring still lists; revoked keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from admission_builders import NOW, T, a_token, at, fresh_cache
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.admission import Identity, Keyring, ReasonCode, Rejection, SigningKey, authenticate, sign, verify
from libs.admission.token import new_ed25519_seed

SEED, OTHER_SEED = bytes(range(32)), bytes(range(1, 33))
SIGNER = SigningKey.ed25519("ed-acme-vision", SEED, org="acme", team="vision")  # what the team holds
VERIFIER = SIGNER.public()  # what admission holds
STRANGER = SigningKey.ed25519("ed-acme-vision", OTHER_SEED, org="acme", team="vision")  # same kid, other key
REVOKED = SigningKey.ed25519("ed-revoked", new_ed25519_seed(), org="acme", team="vision", revoked=True)
HMAC_KEY = SigningKey("hs-acme-vision", b"h" * 32, org="acme", team="vision")
HMAC_GLOBEX = SigningKey("hs-globex", b"g" * 32, org="globex")
KEYRING = Keyring.of(VERIFIER, REVOKED.public(), HMAC_KEY, HMAC_GLOBEX, hmac_tenants=frozenset({"acme/vision"}))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(obj: object) -> str:
    return _b64(json.dumps(obj, separators=(",", ":"), sort_keys=True).encode())


CLAIMS = a_token().set(jti="ed25519-claims-jti-01").claims().model_dump(mode="json", exclude_none=True)
HEADER = {"alg": "EdDSA", "kid": SIGNER.kid, "typ": "batchyard+jwt"}


def confused() -> str:
    """An HS256 token under the Ed25519 key's kid, MAC'd with its *public* key: the classic algorithm confusion."""
    signing_input = f"{_json({**HEADER, 'alg': 'HS256'})}.{_json(CLAIMS)}"
    mac = hmac.new(VERIFIER.public_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def tampered() -> str:
    header, payload, signature = a_token().sign(SIGNER).split(".")
    return f"{header}.{_json({**CLAIMS, 'team': 'nlp'})}.{signature}"


REJECTIONS = [
    pytest.param(a_token().sign(STRANGER), ReasonCode.TOKEN_BAD_SIGNATURE, id="forged-other-private-key"),
    pytest.param(tampered(), ReasonCode.TOKEN_BAD_SIGNATURE, id="tampered-claims"),
    pytest.param(a_token().sign(SIGNER)[:-4] + "AAAA", ReasonCode.TOKEN_BAD_SIGNATURE, id="altered-signature"),
    pytest.param(a_token().set(iat=T - 700, exp=T - 100).sign(SIGNER), ReasonCode.TOKEN_EXPIRED, id="expired"),
    pytest.param(confused(), ReasonCode.TOKEN_UNSUPPORTED_ALGORITHM, id="hs256-under-an-ed25519-kid"),
    pytest.param(f"{_json({**HEADER, 'alg': 'none'})}.{_json(CLAIMS)}.", ReasonCode.TOKEN_UNSIGNED, id="alg-none"),
    pytest.param(f"{_json({**HEADER, 'alg': 'ES256'})}.{_json(CLAIMS)}.AAAA", ReasonCode.TOKEN_UNSUPPORTED_ALGORITHM,
                 id="alg-es256"),
    pytest.param(a_token().sign(REVOKED), ReasonCode.TOKEN_KEY_REVOKED, id="revoked-key"),
    pytest.param(a_token().tenant("globex", "ml").sign(HMAC_GLOBEX), ReasonCode.TOKEN_HMAC_NOT_ALLOWED,
                 id="hmac-for-a-tenant-not-listed"),
    pytest.param(a_token().tenant("acme", "nlp").sign(SigningKey.ed25519("ed-acme-vision", SEED, org="acme")),
                 ReasonCode.TOKEN_KEY_SCOPE, id="team-key-claims-other-team"),
]


@pytest.mark.parametrize(("token", "code"), REJECTIONS)
def test_ed25519_keyring_refuses_with_the_reason(token: str, code: ReasonCode) -> None:
    result = verify(token, KEYRING, NOW, fresh_cache())
    assert isinstance(result, Rejection), result
    assert result.code is code, result.message


def test_a_public_key_verifies_what_the_private_key_signed() -> None:
    identity = verify(a_token().sign(SIGNER), KEYRING, NOW, fresh_cache())
    assert isinstance(identity, Identity) and (identity.org, identity.team, identity.kid) == ("acme", "vision",
                                                                                             SIGNER.kid)


def test_admission_keys_cannot_sign() -> None:
    assert not VERIFIER.can_sign and VERIFIER.secret == b""
    with pytest.raises(ValueError, match="no private key"):
        sign(a_token().claims(), VERIFIER)


def test_hmac_is_still_accepted_for_a_listed_tenant() -> None:
    assert isinstance(authenticate(a_token().sign(HMAC_KEY), KEYRING, NOW), Identity)


def test_rotation_new_key_verifies_before_the_old_one_is_retired() -> None:
    new = SigningKey.ed25519("ed-acme-vision-2027", OTHER_SEED, org="acme", team="vision")
    old_token, new_token = a_token().sign(SIGNER), a_token().sign(new)
    overlap = Keyring.of(VERIFIER, new.public())
    assert isinstance(authenticate(old_token, overlap, NOW), Identity)
    assert isinstance(authenticate(new_token, overlap, NOW), Identity)
    retired = Keyring.of(SigningKey.ed25519(SIGNER.kid, public=VERIFIER.public_key, org="acme", team="vision",
                                            retired_at=T), new.public())
    assert authenticate(old_token, retired, NOW).code is ReasonCode.TOKEN_KEY_RETIRED
    assert isinstance(authenticate(new_token, retired, at(1)), Identity)


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"private": b"x" * 31}, "32 bytes"),
    ({"public": b"x" * 31}, "32 bytes"),
    ({}, "needs a public or a private key"),
    ({"private": SEED, "public": STRANGER.public_key}, "does not belong"),
], ids=["short-private", "short-public", "neither", "mismatched-pair"])
def test_ed25519_keys_validate_themselves(kwargs: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        SigningKey.ed25519("k", **kwargs)


def test_private_keys_never_appear_in_repr() -> None:
    assert SEED.hex() not in repr(SIGNER) and repr(SEED) not in repr(SIGNER)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), replacement=st.sampled_from("ABCabc012-_"))
def test_every_single_character_change_to_an_ed25519_token_is_refused(position: int, replacement: str) -> None:
    token = a_token().sign(SIGNER)
    i = position % len(token)
    if token[i] == replacement or token[i] == ".":
        return
    changed = token[:i] + replacement + token[i + 1:]
    assert isinstance(authenticate(changed, KEYRING, NOW), Rejection)
