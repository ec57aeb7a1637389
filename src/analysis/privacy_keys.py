"""The pseudonym key of a run (stage ``ingest``, ``inputs``, ``resonance forget``).

Reads the key from the environment or from a key file outside git and outside every output
(creating the file when allowed); writes nothing else:

* keys under 32 bytes or of low entropy, empty and group/world-readable key files are refused,
  and the simulated demo alone may run under the published :data:`DEMO_KEY`;
* a key fingerprint (scrypt of the key, never the key) so DVC re-runs ingest on rotation.

The pseudonyms made with the key are in ``analysis.privacy``, the opt-out list in
``analysis.privacy_opt_out``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from analysis import paths

if TYPE_CHECKING:
    from analysis.config import PrivacyParams, SourceParams

log = logging.getLogger(__name__)

KEY_BYTES = 32

#: The published key of the simulated demo. NOT A SECRET: it is in the source code so that a
#: fresh clone's ``dvc repro`` reproduces the committed dvc.lock, and it is refused for any
#: dump other than the simulated demo (``privacy.key_source: demo``, see :func:`resolve_key`).
DEMO_KEY = b"resonance-demo-key-NOT-A-SECRET-only-for-the-simulated-demo-v1"
#: The simulated demo's dump, the only source ``key_source: demo`` may pseudonymise.
DEMO_SOURCE = ("canonical", paths.DEMO_RAW.as_posix())
#: A key must hold this many bytes and about this many bits of estimated entropy.
MIN_KEY_BYTES = 32
MIN_KEY_BITS = 128
#: scrypt cost of the key fingerprint: about 0.1 s and 32 MiB per guess, so a published
#: fingerprint is no cheap oracle for guessing a weak key.
FINGERPRINT_SCRYPT = {"n": 2**15, "r": 8, "p": 1, "maxmem": 64 * 2**20, "dklen": 16}


class PseudonymKeyError(RuntimeError):
    """No usable pseudonym key (and creating one was not allowed), or a weak one."""


def key_entropy_bits(key: bytes) -> float:
    """Estimated entropy of ``key`` in bits: its length times the Shannon entropy of its bytes.

    An over-estimate for keys made of words, but it refuses what matters: short keys and keys
    of few distinct characters ("aaaa...", "abab...", "1234" repeated).
    """
    if not key:
        return 0.0
    counts = [key.count(b) for b in set(key)]
    n = len(key)
    return n * -sum(c / n * math.log2(c / n) for c in counts)


def check_key(key: bytes, where: str) -> bytes:
    """Return ``key`` if it is strong enough, else raise naming ``where`` it came from (never it)."""
    if len(key) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"the pseudonym key from {where} has {len(key)} bytes; at least {MIN_KEY_BYTES} random "
            'bytes are needed (for example `python -c "import secrets; '
            'print(secrets.token_hex(32))"`)'
        )
    bits = key_entropy_bits(key)
    if bits < MIN_KEY_BITS:
        raise PseudonymKeyError(
            f"the pseudonym key from {where} is too predictable (about {bits:.0f} bits of "
            f"entropy, {MIN_KEY_BITS} needed: too few distinct characters); use a random key"
        )
    return key


def _read_key_file(path: Path) -> bytes:
    """The key in ``path``, refused when others can read the file or when it is empty."""
    mode = path.stat().st_mode
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PseudonymKeyError(
            f"key file {path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
            f"run `chmod 600 {path}`"
        )
    key = path.read_text(encoding="utf-8").strip().encode("utf-8")
    if not key:
        raise PseudonymKeyError(
            f"key file {path} is empty; put a random key of 64 hex digits in it"
        )
    return check_key(key, f"key file {path}")


def load_key(
    env: str = "RESONANCE_KEY",
    key_file: str | Path = "~/.config/resonance/key",
    create: bool = True,
) -> bytes:
    """Return the secret pseudonym key: env var first, else the key file, else create the file.

    The key file is created with mode 0600 outside the repository; one log line says where.
    A key shorter than 32 bytes or of too little entropy, an empty key file and a key file that
    others can read are refused. One log line says which source was used (never the key).
    """
    raw = os.environ.get(env)
    if raw is not None:
        key = check_key(raw.encode("utf-8"), f"${env}")
        log.info("pseudonym key: from the environment variable $%s", env)
        return key
    path = Path(key_file).expanduser()
    if path.exists():
        key = _read_key_file(path)
        log.info("pseudonym key: from the key file %s", path)
        return key
    if not create:
        raise PseudonymKeyError(
            f"no pseudonym key: set ${env} or create {path} with mode 0600 holding a random key "
            "of 64 hex digits"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_hex(KEY_BYTES))
    log.warning("created a new pseudonym key at %s (keep it outside git; back it up)", path)
    return _read_key_file(path)


def is_demo_source(fmt: str, path: str) -> bool:
    """True for the simulated demo dump (the only one the published demo key may touch)."""
    return (fmt, Path(path).as_posix().rstrip("/")) == DEMO_SOURCE


def resolve_key(priv: PrivacyParams, source: SourceParams) -> bytes:
    """The pseudonym key of a run as ``privacy.key_source`` says.

    ``secret`` (every real dump): :func:`load_key`. ``demo``: the published :data:`DEMO_KEY`,
    refused unless the only configured source is the simulated demo, since a published key
    protects nobody.
    """
    if priv.key_source == "secret":
        return load_key(priv.key_env, priv.key_file, priv.create_key)
    foreign = [f"{s.format}:{s.path}" for s in source.all() if not is_demo_source(s.format, s.path)]
    if foreign or source.extra:
        raise PseudonymKeyError(
            "privacy.key_source is 'demo' (a published key, not a secret) but the run reads "
            f"{', '.join(foreign) or 'source.extra'}; set privacy.key_source: secret and provide "
            f"${priv.key_env} or {priv.key_file}"
        )
    log.info("pseudonym key: the published demo key (privacy.key_source: demo; not a secret)")
    return DEMO_KEY


def fingerprint(key: bytes) -> str:
    """A public fingerprint of ``key``: changes when the key changes, reveals nothing.

    Derived with scrypt (memory-hard, ~0.1 s per guess), so that the fingerprint in
    ``inputs.json`` cannot serve to test guessed keys quickly.
    """
    return hashlib.scrypt(key, salt=b"resonance-key-fingerprint-v2", **FINGERPRINT_SCRYPT).hex()
