"""Bearer tokens for the registry: compared by SHA-256 digest, never stored raw.

- Writes always need a publisher or admin token. A publisher owns what it registers.
- Reads are open unless ``open_reads`` is off; then any configured token (reader, publisher, admin) reads.
"""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

from toolmesh.protocols.errors import PermissionDenied, ToolmeshError
from toolmesh.protocols.settings import hash_token
from toolmesh.registry.models import Principal
from toolmesh.registry.settings import RegistrySettings

__all__ = ["ANONYMOUS", "Authenticator", "Unauthenticated"]

ANONYMOUS = Principal(name="anonymous")


class Unauthenticated(ToolmeshError):
    """No or an unknown bearer token (HTTP 401)."""


class Authenticator:
    """Maps bearer tokens to principals using only their digests."""

    def __init__(self, settings: RegistrySettings) -> None:
        self._publishers = dict(settings.publishers)
        self._admins = list(settings.admin_tokens)
        self._readers = list(settings.reader_tokens)
        self.open_reads = settings.open_reads

    @staticmethod
    def bearer(conn: HTTPConnection) -> str | None:
        header = conn.headers.get("authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                "the Authorization header must be 'Bearer <token>'",
                hint="Send Authorization: Bearer <token>.",
            )
        return token.strip()

    def _lookup(self, token: str) -> tuple[Principal | None, bool]:
        """(principal or None, is_reader). Every digest is compared in constant time."""
        digest = hash_token(token)
        found: Principal | None = None
        reader = False
        for admin in self._admins:
            if hmac.compare_digest(admin, digest):
                found = Principal(name="admin", admin=True)
        for candidate, name in self._publishers.items():
            if hmac.compare_digest(candidate, digest) and found is None:
                found = Principal(name=name)
        for candidate in self._readers:
            if hmac.compare_digest(candidate, digest):
                reader = True
        return found, reader

    def writer(self, conn: HTTPConnection) -> Principal:
        """The publisher or admin behind the request; 401 without a valid token."""
        token = self.bearer(conn)
        if token is None:
            raise Unauthenticated(
                "writing to the registry needs a bearer token",
                hint="Send Authorization: Bearer <publisher token>; configure TOOLMESH_REGISTRY_PUBLISHERS.",
            )
        principal, reader = self._lookup(token)
        if principal is None:
            if reader:
                raise PermissionDenied("this token may only read the registry", hint="Use a publisher token.")
            raise Unauthenticated(
                "unknown bearer token", hint="Check the token; it is compared by its SHA-256."
            )
        return principal

    def reader(self, conn: HTTPConnection) -> Principal:
        """Who reads: anyone when reads are open, otherwise a holder of any configured token."""
        token = self.bearer(conn)
        if token is None:
            if self.open_reads:
                return ANONYMOUS
            raise Unauthenticated(
                "reading this registry needs a bearer token", hint="Send Authorization: Bearer <token>."
            )
        principal, reader = self._lookup(token)
        if principal is not None:
            return principal
        if reader:
            return Principal(name="reader")
        raise Unauthenticated("unknown bearer token", hint="Check the token; it is compared by its SHA-256.")
