"""Password hashing with argon2id (libsodium via pynacl), off the event loop."""

from __future__ import annotations

import asyncio

import nacl.exceptions
import nacl.pwhash

from homeserver.config import PasswordHashing

# Longer passwords are refused before hashing: hashing cost must not be attacker-controlled.
MAX_PASSWORD_BYTES = 512


class PasswordHasher:
    def __init__(self, settings: PasswordHashing) -> None:
        self._ops = max(settings.opslimit, nacl.pwhash.argon2id.OPSLIMIT_MIN)
        self._mem = max(settings.memlimit, nacl.pwhash.argon2id.MEMLIMIT_MIN)
        self.min_length = settings.min_length

    async def hash(self, password: str) -> str:
        data = password.encode("utf-8")
        hashed = await asyncio.to_thread(nacl.pwhash.argon2id.str, data, self._ops, self._mem)
        return hashed.decode("ascii")

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Constant work whether or not the account has a password, so timing does not tell."""
        data = password.encode("utf-8")
        if len(data) > MAX_PASSWORD_BYTES:
            return False
        if password_hash is None:
            await asyncio.to_thread(nacl.pwhash.argon2id.str, data, self._ops, self._mem)
            return False
        try:
            return await asyncio.to_thread(nacl.pwhash.verify, password_hash.encode("ascii"), data)
        except nacl.exceptions.InvalidkeyError:
            return False
