"""Ed25519 keys rotate and are revoked without a restart: admission's hot-reloaded keyring, on a fake clock."""

from __future__ import annotations

from datetime import datetime, timezone

import yaml

from libs.admission import Identity, ReasonCode, SigningKey, authenticate
from libs.admission.codec import b64encode
from libs.admission.token import new_ed25519_seed
from services.admission.keyring import load_verifier_keyring
from services.admission.reload import HotFile
from services.admission.signing import TokenSigner
from services.admission.keyring import KeyEntry

OLD, NEW = SigningKey.ed25519("acme-vision-old", new_ed25519_seed(), org="acme", team="vision"), \
    SigningKey.ed25519("acme-vision-new", new_ed25519_seed(), org="acme", team="vision")


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def public_entry(key: SigningKey, **extra) -> dict:
    return {"kid": key.kid, "public_key": b64encode(key.public_key), "org": "acme", "team": "vision", **extra}


def write(path, *entries: dict) -> None:
    path.write_text(yaml.safe_dump({"keys": list(entries)}))


def verdict(keyring: HotFile, key: SigningKey) -> object:
    token = TokenSigner([KeyEntry(key, ("default",))], subject="ci").token("acme", "vision")
    result = authenticate(token, keyring.current().keyring, datetime.now(timezone.utc))
    return "accepted" if isinstance(result, Identity) else result.code


def test_a_new_key_is_accepted_before_the_old_one_is_retired(tmp_path):
    path, clock = tmp_path / "keyring.yaml", FakeClock()
    write(path, public_entry(OLD))
    keyring = HotFile(path, load_verifier_keyring, interval_s=2.0, clock=clock)
    assert (verdict(keyring, OLD), verdict(keyring, NEW)) == ("accepted", ReasonCode.TOKEN_UNKNOWN_KEY)
    write(path, public_entry(OLD), public_entry(NEW))  # 1. the new public key is added
    clock.t += 2.0
    assert (verdict(keyring, OLD), verdict(keyring, NEW)) == ("accepted", "accepted")  # both, during the overlap
    write(path, public_entry(OLD, retired_at="2026-01-01T00:00:00Z"), public_entry(NEW))  # 2. the old one retires
    clock.t += 2.0
    assert (verdict(keyring, OLD), verdict(keyring, NEW)) == (ReasonCode.TOKEN_KEY_RETIRED, "accepted")
    assert keyring.reloads == 2


def test_a_revoked_key_is_refused_within_one_reload_interval(tmp_path):
    path, clock = tmp_path / "keyring.yaml", FakeClock()
    write(path, public_entry(OLD), public_entry(NEW))
    keyring = HotFile(path, load_verifier_keyring, interval_s=2.0, clock=clock)
    assert verdict(keyring, OLD) == "accepted"
    write(path, public_entry(OLD, revoked=True), public_entry(NEW))
    clock.t += 1.999  # the file is not looked at more often than the interval
    assert verdict(keyring, OLD) == "accepted"
    clock.t += 0.001  # one interval after the last check: refused
    assert (verdict(keyring, OLD), verdict(keyring, NEW)) == (ReasonCode.TOKEN_KEY_REVOKED, "accepted")


def test_a_private_key_pasted_into_admissions_keyring_is_refused_and_the_last_good_one_stays(tmp_path):
    path, clock = tmp_path / "keyring.yaml", FakeClock()
    write(path, public_entry(OLD))
    keyring = HotFile(path, load_verifier_keyring, interval_s=0.0, clock=clock)
    write(path, {"kid": NEW.kid, "private_key": b64encode(NEW.secret), "org": "acme", "team": "vision"})
    assert verdict(keyring, OLD) == "accepted" and keyring.errors == 1
