"""Hashing and checking people's secrets (web passwords, phone PINs) with Argon2id.

Only hashes are stored. ``verify_secret`` answers True or False and never raises for a
wrong or unreadable secret, so a login form can treat every failure the same way.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from importlib.resources import files

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# One hasher for the process: argon2-cffi's defaults (Argon2id, RFC 9106 low-memory profile).
_HASHER = PasswordHasher()

MIN_PASSWORD_LENGTH = 8
PIN_LENGTH = 6
# Initial passwords that agencies hand out or that people pick first; always refused (as PINs too).
# The long list of common web passwords is data: ``common_passwords()``.
COMMON_PASSWORDS = frozenset(
    {
        "123456", "12345678", "123456789", "888888", "666666", "111111", "000000",
        "password", "abc123", "a123456", "qwerty",
    }
)
_ASCENDING = "01234567890"
_DESCENDING = "09876543210"


def hash_secret(plain: str) -> str:
    return _HASHER.hash(plain)


def verify_secret(secret_hash: str, plain: str) -> bool:
    """True when ``plain`` matches; False on a mismatch or an unreadable hash."""
    try:
        return _HASHER.verify(secret_hash, plain)
    except (VerificationError, InvalidHashError):
        return False


def verify_stored(secret_hash: str | None, plain: str) -> bool:
    """Like ``verify_secret``, but when nothing is stored (unknown user, no PIN set) it still
    spends one verification, against a throw-away hash, and answers False: the answer time
    does not tell whether the account exists."""
    return verify_secret(secret_hash or _dummy_hash(), plain) and secret_hash is not None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_secret("not-a-real-secret")


def needs_rehash(secret_hash: str) -> bool:
    """True when the hash was made with weaker parameters than the current ones."""
    return _HASHER.check_needs_rehash(secret_hash)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lowercased (its header says where it comes from)."""
    text = (files("yibao.data") / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("# ") and line != "#"
    )


def is_weak_password(plain: str) -> bool:
    """Whether a web password is too weak to keep.

    The rule: a password is weak when it is one of the well-known initial or common
    passwords (the social-security site's initial "123456" among them, and the shipped
    list of common passwords with Chinese favourites such as "woaini1314"), in any case,
    is shorter than
    8 characters, lacks a letter or lacks a digit, consists of one repeated character,
    or is a run of consecutive digits (e.g. "12345678", "87654321"). Otherwise it is
    accepted.
    """
    return (
        plain.lower() in COMMON_PASSWORDS
        or plain.lower() in common_passwords()
        or len(plain) < MIN_PASSWORD_LENGTH
        or not any(char.isascii() and char.isalpha() for char in plain)
        or not any(char.isascii() and char.isdigit() for char in plain)
        or _is_one_repeated_character(plain)
        or _is_digit_run(plain)
    )


def carries_personal_numbers(plain: str, *, id_number: str, birth_date: date, phone: str | None) -> bool:
    """Whether a password contains the person's own ID number (its last six), birth date or phone number
    (or its last six): the first things someone who knows the person tries."""
    lowered = plain.lower()
    numbers = {id_number.lower(), id_number[-PIN_LENGTH:].lower(), birth_date.strftime("%Y%m%d")}
    if phone:
        numbers |= {phone, phone[-PIN_LENGTH:]}
    return any(number in lowered for number in numbers)


def is_weak_pin(pin: str) -> bool:
    """Whether a 6-digit phone PIN is unusable: wrong shape, one repeated digit or a digit run."""
    well_formed = len(pin) == PIN_LENGTH and pin.isascii() and pin.isdigit()
    return not well_formed or _is_one_repeated_character(pin) or _is_digit_run(pin)


def _is_one_repeated_character(text: str) -> bool:
    return len(set(text)) <= 1


def _is_digit_run(text: str) -> bool:
    return text.isascii() and text.isdigit() and (text in _ASCENDING or text in _DESCENDING)
