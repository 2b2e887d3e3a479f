"""Caller identity: compact signed tokens binding a caller to a tenant and its queues.

Wire format (JWS compact serialisation, so standard tooling can read it)::

    base64url(header) "." base64url(claims) "." base64url(signature over header "." claims)

with header `{"alg": "EdDSA" | "HS256", "kid": ..., "typ": "batchyard+jwt"}`.

- **EdDSA** (Ed25519, RFC 8037): the signer holds the private key, admission only the public
  key, so whoever reads admission's keyring still cannot mint a token (ADR 0012).
- **HS256** (HMAC-SHA256, deprecated): whoever verifies can also sign. Accepted only for the
  tenants a keyring lists in `hmac_tenants` (None: any, the library default).

A key's algorithm is fixed by the keyring, never by the token: a token whose `alg` is not its
key's is refused, so no algorithm confusion (an HS256 MAC keyed with a public key) is possible.
Every key is *scoped*: a key for team `acme/vision` can only vouch for `acme/vision`; an org key
for any team of its org; only a platform key (no org) for anyone (`TOKEN_KEY_SCOPE`).
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Annotated, Literal

from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OctKey, OKPKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import Field, Strict, ValidationError

from .codec import b64decode, canonical_json, json_object
from .reasons import ReasonCode, Rejection, echo
from .replay import ReplayCache
from .spec import Name, _Frozen

EDDSA, HS256 = "EdDSA", "HS256"
ALGORITHMS = (EDDSA, HS256)
# RFC 9864 renames Ed25519's "EdDSA" to "Ed25519"; the wire format keeps "EdDSA" (every issued token says so) until
# a keyring can accept both names. The signature is the same Ed25519 either way, so the rename is not a weakness.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)
_ALGS = {name: jws.JWSRegistry.algorithms[name] for name in ALGORITHMS}  # joserfc's JWA implementations
ALGORITHM = EDDSA  # what new keys use
TOKEN_TYPE = "batchyard+jwt"
MIN_SECRET_BYTES = 32
ED25519_KEY_BYTES = 32

_Epoch = Annotated[int, Strict(), Field(ge=0, le=100_000_000_000)]


class Claims(_Frozen):
    """What a token asserts about its bearer."""

    sub: Annotated[str, Strict(), Field(min_length=1, max_length=256)]  # the caller (user, pipeline, CI job)
    org: Name  # tenant org the caller acts for
    team: Name  # tenant team the caller acts for
    queues: Annotated[tuple[Name, ...], Field(min_length=1, max_length=64)]  # local queues it may use
    iat: _Epoch  # issued at, Unix seconds
    exp: _Epoch  # expires at, Unix seconds (exclusive)
    nbf: _Epoch | None = None  # not valid before, Unix seconds; defaults to iat
    jti: Annotated[str, Strict(), Field(pattern=r"^[A-Za-z0-9_-]{16,128}$")]  # unique token id


class _Header(_Frozen):
    alg: Literal["EdDSA", "HS256"]
    kid: Annotated[str, Strict(), Field(min_length=1, max_length=128)]
    typ: Literal["batchyard+jwt"]  # refuses tokens minted for other protocols under a shared key


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key of the keyring, with the tenants it may vouch for.

    EdDSA: ``public_key`` verifies; ``secret`` (the 32-byte private seed) signs and is empty where only
    verification happens (admission). HS256 (deprecated): ``secret`` both signs and verifies.
    """

    kid: str  # key id, carried in the token header
    secret: bytes = field(default=b"", repr=False)  # HMAC secret or Ed25519 private seed; never logged
    org: str | None = None  # org the key may vouch for; None = platform key (any tenant)
    team: str | None = None  # team within `org`; None = any team of `org`
    retired_at: int | None = None  # Unix seconds after which tokens under this key are refused
    algorithm: str = HS256  # EdDSA or HS256: the only alg a token under this key may declare
    public_key: bytes = b""  # Ed25519 public key (32 bytes raw); derived from `secret` if empty
    revoked: bool = False  # compromised: every token under it is refused, whenever it was signed

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"key {self.kid!r}: algorithm must be one of {', '.join(ALGORITHMS)}")
        if self.algorithm == HS256 and len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(f"key {self.kid!r}: HMAC secret must be at least {MIN_SECRET_BYTES} bytes")
        if self.algorithm == EDDSA:
            self._check_ed25519()
        if self.team is not None and self.org is None:
            raise ValueError(f"key {self.kid!r}: a team-scoped key needs an org")

    def _check_ed25519(self) -> None:
        if self.secret and len(self.secret) != ED25519_KEY_BYTES:
            raise ValueError(f"key {self.kid!r}: an Ed25519 private key is {ED25519_KEY_BYTES} bytes")
        derived = _public_of(self.secret) if self.secret else b""
        if self.public_key and derived and self.public_key != derived:
            raise ValueError(f"key {self.kid!r}: the public key does not belong to the private key")
        if not (self.public_key or derived):
            raise ValueError(f"key {self.kid!r}: an Ed25519 key needs a public or a private key")
        if self.public_key and len(self.public_key) != ED25519_KEY_BYTES:
            raise ValueError(f"key {self.kid!r}: an Ed25519 public key is {ED25519_KEY_BYTES} bytes")
        if not self.public_key:
            object.__setattr__(self, "public_key", derived)

    @classmethod
    def ed25519(cls, kid: str, private: bytes = b"", public: bytes = b"", **scope) -> SigningKey:
        """Returns an Ed25519 key from its 32-byte private seed (signers) or public key (verifiers)."""
        return cls(kid, private, algorithm=EDDSA, public_key=public, **scope)

    @property
    def can_sign(self) -> bool:
        """Whether this key holds what signing needs (an HMAC secret or an Ed25519 private key)."""
        return bool(self.secret)

    def public(self) -> SigningKey:
        """Returns this key as a verifier holds it: an Ed25519 key without its private half."""
        if self.algorithm != EDDSA:
            return self
        return SigningKey(self.kid, b"", self.org, self.team, self.retired_at, EDDSA, self.public_key, self.revoked)

    def covers(self, org: str, team: str) -> bool:
        """Returns whether this key may vouch for tenant `org/team`."""
        return (self.org is None or self.org == org) and (self.team is None or self.team == team)


@dataclass(frozen=True)
class Keyring:
    """The keys admission trusts, by key id; several at once so keys rotate without downtime."""

    keys: dict[str, SigningKey]  # kid -> key
    leeway_s: int = 30  # clock skew tolerated on exp / nbf
    max_lifetime_s: int = 24 * 3600  # longest exp - iat accepted
    max_token_chars: int = 8192  # longer tokens are refused before any decoding
    # Tenants ("org" or "org/team") for which HS256 (deprecated) tokens are still accepted; None = any.
    hmac_tenants: frozenset[str] | None = None

    def hmac_allowed(self, org: str, team: str) -> bool:
        """Returns whether an HS256 token may vouch for ``org/team``."""
        return self.hmac_tenants is None or org in self.hmac_tenants or f"{org}/{team}" in self.hmac_tenants

    @classmethod
    def of(cls, *keys: SigningKey, **options) -> Keyring:
        """Returns a keyring of `keys`; key ids must be unique."""
        by_kid = {k.kid: k for k in keys}
        if len(by_kid) != len(keys):
            raise ValueError("duplicate key id in keyring")
        return cls(keys=by_kid, **options)


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified caller: who it is, which tenant it acts for, which queues it may use."""

    subject: str  # the caller (claims.sub)
    org: str  # tenant org
    team: str  # tenant team
    queues: frozenset[str]  # local queues the caller may submit to
    kid: str  # key that vouched for the token
    jti: str  # token id, for replay protection and audit
    issued_at: int  # Unix seconds
    expires_at: int  # Unix seconds


def epoch_seconds(now: datetime) -> int:
    """Returns `now` as whole Unix seconds; `now` must be timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (use datetime.now(timezone.utc))")
    return int(now.timestamp())


def sign(claims: Claims, key: SigningKey) -> str:
    """Returns the compact token for `claims`, signed with `key`."""
    if not key.covers(claims.org, claims.team):
        raise ValueError(f"key {key.kid!r} may not vouch for {claims.org}/{claims.team}")
    if not key.can_sign:
        raise ValueError(f"key {key.kid!r} holds no private key: it can verify, not sign")
    payload = canonical_json(claims.model_dump(mode="json", exclude_none=True))
    return jws.serialize_compact({"alg": key.algorithm, "kid": key.kid, "typ": TOKEN_TYPE}, payload,
                                 _jwk(key.algorithm, key.secret, private=True), algorithms=[key.algorithm])


def verify(
    token: object, keyring: Keyring, now: datetime, replay_cache: ReplayCache, *, binding: str = ""
) -> Identity | Rejection:
    """Returns the caller's Identity, or why the token is refused; claims its jti for `binding`.

    `binding` names what the token is spent on (decide uses the submission digest): the same
    jti presented again with the same binding is a redelivery and passes; with another, a replay.
    """
    identity = authenticate(token, keyring, now)
    if isinstance(identity, Rejection):
        return identity
    return claim_token(identity, keyring, now, replay_cache, binding=binding) or identity


def claim_token(
    identity: Identity, keyring: Keyring, now: datetime, replay_cache: ReplayCache, *, binding: str
) -> Rejection | None:
    """Spends the token id of `identity` on `binding`; returns TOKEN_REPLAYED if spent on another."""
    # Namespaced by tenant: a key can only ever spend token ids of tenants it may vouch for.
    jti_key = f"{identity.org}/{identity.team}/{identity.jti}"
    if replay_cache.claim(jti_key, binding, identity.expires_at + keyring.leeway_s, epoch_seconds(now)):
        return None
    return Rejection.of(
        ReasonCode.TOKEN_REPLAYED,
        f"token {identity.jti} was already used for another submission; sign a new token per submission",
    )


def authenticate(token: object, keyring: Keyring, now: datetime) -> Identity | Rejection:
    """Returns the caller's Identity, or why the token is refused; pure (no replay check)."""
    parts = _split(token, keyring.max_token_chars)
    if isinstance(parts, Rejection):
        return parts
    header_b64, payload_b64, signature_b64 = parts
    key = _key_for(header_b64, keyring, epoch_seconds(now))
    if isinstance(key, Rejection):
        return key
    signature = b64decode(signature_b64)  # canonical base64url only: one token, one spelling
    if signature is None:
        return _malformed("the signature is not base64url")
    if not _signature_matches(key, f"{header_b64}.{payload_b64}", signature):
        return Rejection.of(
            ReasonCode.TOKEN_BAD_SIGNATURE,
            f"token signature does not match key {echo(key.kid)}; the token is forged or altered",
        )
    claims = _claims(payload_b64)
    if isinstance(claims, Rejection):
        return claims
    return (_check_time(claims, keyring, epoch_seconds(now)) or _check_scope(claims, key)
            or _check_hmac(claims, key, keyring) or _identity(claims, key))


def _signature_matches(key: SigningKey, signing_input: str, signature: bytes) -> bool:
    """Checks the JWS signature with joserfc's algorithm for the one ``alg`` the keyring gives ``key`` (its JWA
    implementation: HMAC-SHA256 compared in constant time, or Ed25519). The compact form around it was already
    checked here, more strictly than joserfc's parser would (and about twice as fast as calling it again)."""
    verifier = _jwk(key.algorithm, key.public_key if key.algorithm == EDDSA else key.secret, private=False)
    try:
        return _ALGS[key.algorithm].verify(signing_input.encode("ascii"), signature, verifier)
    except JoseError:
        return False


def _split(token: object, max_chars: int) -> tuple[str, str, str] | Rejection:
    if token is None or token == "":
        return Rejection.of(
            ReasonCode.TOKEN_MISSING, "no identity token; sign the submission (batchyard submit does this)"
        )
    if not isinstance(token, str):
        return _malformed(f"expected a string, got {type(token).__name__}")
    if len(token) > max_chars:
        return _malformed(f"longer than {max_chars} characters")
    parts = token.split(".")
    if len(parts) == 2 or (len(parts) == 3 and parts[2] == ""):
        return Rejection.of(
            ReasonCode.TOKEN_UNSIGNED, "the identity token carries no signature; unsigned tokens are never accepted"
        )
    if len(parts) != 3:
        return _malformed("expected three dot-separated parts (header.claims.signature)")
    return parts[0], parts[1], parts[2]


def _key_for(header_b64: str, keyring: Keyring, now: int) -> SigningKey | Rejection:
    header = _header(header_b64)
    if isinstance(header, Rejection):
        return header
    key = keyring.keys.get(header.kid)
    if key is None:
        return Rejection.of(
            ReasonCode.TOKEN_UNKNOWN_KEY,
            f"key id {echo(header.kid)} is not in the keyring; the token is forged or its key was removed",
        )
    if header.alg != key.algorithm:  # the keyring fixes each key's algorithm, never the token
        return Rejection.of(
            ReasonCode.TOKEN_UNSUPPORTED_ALGORITHM,
            f"key {echo(key.kid)} signs with {key.algorithm}; a token declaring {header.alg} under it is refused",
        )
    if key.revoked:
        return Rejection.of(
            ReasonCode.TOKEN_KEY_REVOKED, f"key {echo(key.kid)} was revoked; every token signed with it is refused"
        )
    if key.retired_at is not None and now >= key.retired_at:
        return Rejection.of(
            ReasonCode.TOKEN_KEY_RETIRED, f"key {echo(key.kid)} was retired; sign a new token with a current key"
        )
    return key


@lru_cache(maxsize=1024)
def _header(header_b64: str) -> _Header | Rejection:
    """Returns the parsed token header, or why it is refused. Pure in its argument, so cached: a caller's tokens
    share one header per signing key, and parsing it was a fifth of ``authenticate``."""
    raw = json_object(header_b64)
    if raw is None:
        return _malformed("the header is not base64url-encoded JSON")
    alg = raw.get("alg")
    if isinstance(alg, str) and alg.lower() in ("", "none"):
        return Rejection.of(
            ReasonCode.TOKEN_UNSIGNED, "the identity token declares alg 'none'; unsigned tokens are never accepted"
        )
    if isinstance(alg, str) and alg not in ALGORITHMS:
        return Rejection.of(
            ReasonCode.TOKEN_UNSUPPORTED_ALGORITHM, f"algorithm {echo(alg)} is not accepted; use {ALGORITHM}"
        )
    try:
        return _Header.model_validate(raw)
    except ValidationError:
        return _malformed("the header lacks a valid alg, kid or typ")


def _claims(payload_b64: str) -> Claims | Rejection:
    raw = json_object(payload_b64)
    if raw is None:
        return _malformed("the claims are not base64url-encoded JSON")
    try:
        return Claims.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})) or "claims"
        return _malformed(f"invalid claims ({echo(fields)})")


def _check_time(claims: Claims, keyring: Keyring, now: int) -> Rejection | None:
    if claims.exp <= claims.iat:
        return _malformed("exp is not after iat")
    if claims.exp - claims.iat > keyring.max_lifetime_s:
        return Rejection.of(
            ReasonCode.TOKEN_LIFETIME_TOO_LONG,
            f"token lives {claims.exp - claims.iat}s, more than the {keyring.max_lifetime_s}s allowed; "
            "sign a shorter-lived token",
        )
    if now >= claims.exp + keyring.leeway_s:
        return Rejection.of(
            ReasonCode.TOKEN_EXPIRED, f"token expired at {_iso(claims.exp)} (now {_iso(now)}); sign a new token"
        )
    not_before = claims.iat if claims.nbf is None else claims.nbf
    if now + keyring.leeway_s < not_before:
        return Rejection.of(
            ReasonCode.TOKEN_NOT_YET_VALID,
            f"token is not valid before {_iso(not_before)} (now {_iso(now)}); check the signer's clock",
        )
    return None


def _check_scope(claims: Claims, key: SigningKey) -> Rejection | None:
    if key.covers(claims.org, claims.team):
        return None
    return Rejection.of(
        ReasonCode.TOKEN_KEY_SCOPE,
        f"key {echo(key.kid)} may not vouch for tenant {claims.org}/{claims.team}; "
        "a team key signs only for its own team",
    )


def _check_hmac(claims: Claims, key: SigningKey, keyring: Keyring) -> Rejection | None:
    if key.algorithm != HS256 or keyring.hmac_allowed(claims.org, claims.team):
        return None
    return Rejection.of(
        ReasonCode.TOKEN_HMAC_NOT_ALLOWED,
        f"HS256 tokens are no longer accepted for {claims.org}/{claims.team}; sign with an Ed25519 key "
        "(batchyard audit keygen)",
    )


def _identity(claims: Claims, key: SigningKey) -> Identity:
    return Identity(
        subject=claims.sub, org=claims.org, team=claims.team, queues=frozenset(claims.queues),
        kid=key.kid, jti=claims.jti, issued_at=claims.iat, expires_at=claims.exp,
    )


def _malformed(why: str) -> Rejection:
    return Rejection.of(ReasonCode.TOKEN_MALFORMED, f"the identity token is malformed: {why}")


@lru_cache(maxsize=256)
def _jwk(algorithm: str, raw: bytes, *, private: bool) -> OctKey | OKPKey:
    """Returns the joserfc key of a keyring key's bytes (cached: a caller's tokens share a key): the HMAC secret,
    or the Ed25519 private seed (signing) or public key (verifying)."""
    if algorithm == HS256:
        return OctKey.import_key(raw)
    return OKPKey.import_key(_private_key(raw) if private else _public_key(raw))


@lru_cache(maxsize=256)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


@lru_cache(maxsize=256)
def _private_key(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def _public_of(seed: bytes) -> bytes:
    return _private_key(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def new_ed25519_seed() -> bytes:
    """Returns a fresh Ed25519 private key (its 32-byte seed)."""
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat
    return Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
