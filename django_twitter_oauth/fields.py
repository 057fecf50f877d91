"""Encrypted model fields: django-fernet-fields-v2, with keys that follow the settings.

``fernet_fields`` caches the keys on each field instance, so a test's
``override_settings(FERNET_KEYS=...)`` would be ignored and a key change would need
a restart. Here one ``MultiFernet`` is built from the settings on first use and
dropped whenever FERNET_KEYS, FERNET_USE_HKDF or SECRET_KEY change (Django's
``setting_changed`` signal). The on-disk format is fernet_fields' own, so rows
written by django-fernet-fields stay readable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, overload

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from fernet_fields.hkdf import derive_fernet_key

from django_twitter_oauth.exceptions import TokenDecryptionError

if TYPE_CHECKING:
    # fernet_fields ships no types; to the type checker its field is the TextField
    # it subclasses.
    _FernetTextField = models.TextField[str, str]
else:
    from fernet_fields import EncryptedTextField as _FernetTextField

__all__ = ["EncryptedTextField"]

_KEY_SETTINGS = frozenset({"FERNET_KEYS", "FERNET_USE_HKDF", "SECRET_KEY"})
_fernet: MultiFernet | None = None


def configured_keys() -> list[str | bytes]:
    """FERNET_KEYS, newest first; SECRET_KEY alone when FERNET_KEYS is unset."""
    keys = getattr(settings, "FERNET_KEYS", None)
    if keys is None:
        return [settings.SECRET_KEY]
    if isinstance(keys, str | bytes):
        # list("key") would silently make every character a key.
        raise TypeError("FERNET_KEYS must be a list of keys, not a single string.")
    return list(keys)


@overload
def build_fernet(*, primary_only: Literal[False] = ...) -> MultiFernet: ...
@overload
def build_fernet(*, primary_only: Literal[True]) -> Fernet: ...
def build_fernet(*, primary_only: bool = False) -> MultiFernet | Fernet:
    """A MultiFernet over the configured keys (or a Fernet of the first key alone).
    Raises ValueError or TypeError on unusable keys."""
    fernets = _fernets()
    # MultiFernet raises ValueError for an empty list.
    return fernets[0] if primary_only and fernets else MultiFernet(fernets)


def _fernets() -> list[Fernet]:
    """A Fernet for each configured key, newest first."""
    keys = configured_keys()
    if getattr(settings, "FERNET_USE_HKDF", True):
        keys = [derive_fernet_key(key) for key in keys]
    # Fernet raises ValueError for a malformed key.
    return [Fernet(key) for key in keys]


def get_fernet() -> MultiFernet:
    """The shared MultiFernet: encrypts with the first key, decrypts with any."""
    global _fernet
    if _fernet is None:
        _fernet = build_fernet()
    return _fernet


@receiver(setting_changed)
def _forget_keys(*, setting: str, **kwargs: Any) -> None:
    global _fernet
    if setting in _KEY_SETTINGS:
        _fernet = None


class EncryptedTextField(_FernetTextField):
    """A Fernet-encrypted text column that never returns ciphertext or garbage.

    No lookups except ``isnull`` (an encrypted value cannot be searched), and no
    ``unique``/``db_index``: inherited from fernet_fields.
    """

    @property
    def fernet(self) -> MultiFernet:
        return get_fernet()

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None:
            return None
        try:
            plaintext = get_fernet().decrypt(bytes(value))
        except InvalidToken:
            # `from None`: the ciphertext must not ride along in a chained traceback.
            raise TokenDecryptionError(f"{self.model._meta.label}.{self.name}") from None
        return plaintext.decode()
