"""Secrets at rest: Fernet encryption for values we must read back (link passwords, SKs),
scrypt hashes for values we only verify (user passwords)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from opencdm.store.private import private_directory


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def load(cls, home: Path, env_key: str | None) -> SecretBox:
        """The key comes from OPENCDM_SECRET_KEY, else from ``<home>/secret.key`` (created 0600)."""
        if env_key:
            # Any passphrase is accepted: it is stretched into a Fernet key.
            digest = hashlib.sha256(env_key.encode()).digest()
            return cls(base64.urlsafe_b64encode(digest))
        key_file = home / "secret.key"
        if not key_file.exists():
            private_directory(home)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key())
        return cls(key_file.read_bytes().strip())

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted: wrong OPENCDM_SECRET_KEY or secret.key") from exc

    def encrypt_json(self, values: dict[str, object]) -> str:
        return self.encrypt(json.dumps(values))

    def decrypt_json(self, token: str) -> dict[str, object]:
        result: dict[str, object] = json.loads(self.decrypt(token))
        return result


_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)
