"""The replay-cache port: remembers which token ids (jti) were used, and for what.

A token id is *claimed* together with a binding, a digest of the submission it
authorised. Seeing the same jti again with the same binding is an at-least-once
redelivery of the very same submission and is allowed (idempotent); the same jti with a
different binding is a replay and is refused. Entries only need to live until the token
expires (plus clock leeway): after that the token itself is rejected as expired.

The production adapter is a table keyed by jti with an expiry column, written in the same
transaction as the service's inbox record; `InMemoryReplayCache` is the fake for tests,
benchmarks and the discrete-event replay.
"""

from __future__ import annotations

from typing import Protocol


class ReplayCache(Protocol):
    """Port: atomically claims a token id for one binding until it expires."""

    def claim(self, jti: str, binding: str, expires_at: int, now: int) -> bool:
        """Returns True if `jti` is new or already claimed with `binding`, False if replayed.

        `expires_at` and `now` are Unix seconds; a claim may be forgotten once
        `now >= expires_at`.
        """
        ...


class InMemoryReplayCache:
    """A dict-backed `ReplayCache`; forgets expired claims as the clock passed in advances."""

    def __init__(self, purge_every: int = 4096) -> None:
        self._claims: dict[str, tuple[str, int]] = {}  # jti -> (binding, expires_at)
        self._purge_every = purge_every  # claims between two sweeps of expired entries
        self._since_purge = 0  # claims since the last sweep

    def __len__(self) -> int:
        return len(self._claims)

    def claim(self, jti: str, binding: str, expires_at: int, now: int) -> bool:
        """Returns True if `jti` is new or already claimed with `binding`, False if replayed."""
        self._maybe_purge(now)
        seen = self._claims.get(jti)
        if seen is not None and now < seen[1]:
            return seen[0] == binding
        self._claims[jti] = (binding, expires_at)
        return True

    def _maybe_purge(self, now: int) -> None:
        self._since_purge += 1
        if self._since_purge < self._purge_every:
            return
        self._since_purge = 0
        expired = [jti for jti, (_, expires_at) in self._claims.items() if now >= expires_at]
        for jti in expired:
            del self._claims[jti]
