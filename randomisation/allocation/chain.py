"""The allocation log's keyed chain, its anchors, and its witness outside the database.

Every allocation already carries ``hash``: SHA-256 over its content and the hash of the
allocation before it (the chain). Anyone who can write to the database can recompute that, so
each allocation also carries ``mac``: HMAC-SHA256 of its hash under a key from the environment
(``ALLOCATION_CHAIN_KEYS``) that is never stored in the database, and ``mac_key``, the key's
fingerprint. Changing, inserting or reordering allocations without the key leaves MACs that do
not match.

An **anchor** (:class:`randomisation.models.ChainAnchor`) is a MAC under the key over the head
of the chain at one allocation: it vouches for every allocation up to there (the hashes bind
them). Chains written before the key existed are anchored once, at the first allocation after
the upgrade or by ``manage.py anchor_allocation_chain``; the same command anchors the chain
under a new key when keys are rotated.

The **witness** is a file per trial under ``ALLOCATION_WITNESS_DIR`` (default
``FILES_ROOT/allocation-witness``): one line per event, each MAC'd under the key and carrying
the MAC of the line before it, so a line cannot be dropped from the middle or changed. It
records the chain's length and head, so that deleting allocations at the end of the log, or
emptying it, shows: the database no longer holds what the witness saw. Lines:

* ``intent``: written before the allocation's transaction commits, so an unwritable witness
  refuses the allocation. Not binding: the transaction may still roll back.
* ``commit``: written when the transaction has committed (``on_commit``). Binding.
* ``daily``: the head as the database holds it, written by a beat task. Binding.
* ``anchor``: the head an anchor covers. Binding.

Writes are one ``write()`` to a file opened with ``O_APPEND`` under an exclusive ``flock``
(which orders lines of concurrent processes), without ``fsync``: a power cut can lose the
last lines (the witness then saw a shorter log, which is never reported as a problem), never
make it claim an allocation that was not committed. The daily checkpoint is fsynced.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from trial.services import TrialError

log = logging.getLogger(__name__)

FINGERPRINT_LABEL = b"worktrials allocation chain key fingerprint v1"
MAC_LABEL = b"worktrials allocation mac v1"
WITNESS_LABEL = b"worktrials allocation witness v1"
WITNESS_VERSION = "1"
BINDING = frozenset({"commit", "daily", "anchor"})
KINDS = BINDING | {"intent"}
# The tail read to find the last line's MAC; a line is about 200 bytes.
_TAIL = 2048


class ChainUnavailable(TrialError):
    """The allocation log cannot be signed or witnessed now; nothing was saved."""


@dataclass(frozen=True, eq=False)
class ChainKey:
    fingerprint: str
    # HMAC-SHA256 states keyed with the derived keys, copied for each message (cheaper than
    # keying a new one: verifying 100,000 allocations makes 300,000 MACs).
    mac_base: hmac.HMAC
    witness_base: hmac.HMAC


class Head(NamedTuple):
    """The last allocation of a trial's chain: 0 and the genesis hash when there is none."""

    sequence: int
    hash: str
    key: str  # fingerprint of the key its MAC was made with; "" if it has none


_derived: dict[tuple[str, ...], tuple[ChainKey, ...]] = {}


def _derive(secret: str) -> ChainKey:
    raw = secret.encode()
    return ChainKey(
        fingerprint=hmac.new(raw, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16],
        mac_base=hmac.new(hmac.new(raw, MAC_LABEL, hashlib.sha256).digest(), None, "sha256"),
        witness_base=hmac.new(
            hmac.new(raw, WITNESS_LABEL, hashlib.sha256).digest(), None, "sha256"
        ),
    )


def keys() -> tuple[ChainKey, ...]:
    """The configured keys, the signing key first (derived once per process and setting)."""
    configured = tuple(settings.ALLOCATION_CHAIN_KEYS)
    found = _derived.get(configured)
    if found is None:
        found = tuple(_derive(secret) for secret in configured)
        _derived.clear()
        _derived[configured] = found
    return found


def keys_by_fingerprint() -> dict[str, ChainKey]:
    return {key.fingerprint: key for key in keys()}


def signing_key() -> ChainKey:
    """The key new MACs are made with. Raises ChainUnavailable if none is configured."""
    configured = keys()
    if not configured:
        raise ChainUnavailable(
            _(
                "ALLOCATION_CHAIN_KEYS is not set, so allocations cannot be signed and none "
                "are made. Ask the system administrator to set it."
            )
        )
    return configured[0]


def check_head(head: Head, key: ChainKey) -> None:
    """Refuse to extend a chain whose head was signed with a key that is not configured: a
    wrong key must not silently start a new chain."""
    if head.key and head.key != key.fingerprint and head.key not in keys_by_fingerprint():
        raise ChainUnavailable(
            _(
                "ALLOCATION_CHAIN_KEYS does not hold the key allocation #%(sequence)s was "
                "signed with (fingerprint %(fingerprint)s), so no allocation is made. Ask the "
                "system administrator to add it."
            )
            % {"sequence": head.sequence, "fingerprint": head.key}
        )


def _hexmac(base: hmac.HMAC, message: bytes) -> str:
    digest = base.copy()
    digest.update(message)
    return digest.hexdigest()


def mac(key: ChainKey, chain_hash: str) -> str:
    """An allocation's MAC: HMAC-SHA256 of its chain hash."""
    return _hexmac(key.mac_base, chain_hash.encode())


def anchor_mac(key: ChainKey, trial_code: str, sequence: int, head: str, at: dt.datetime) -> str:
    message = f"anchor\n{trial_code}\n{sequence}\n{head}\n{at.isoformat()}\n{key.fingerprint}"
    return _hexmac(key.mac_base, message.encode())


# --- the witness -------------------------------------------------------------------------


def witness_dir() -> Path:
    configured = settings.ALLOCATION_WITNESS_DIR
    return Path(configured) if configured else Path(settings.FILES_ROOT) / "allocation-witness"


def witness_path(trial_code: str) -> Path:
    return witness_dir() / f"{trial_code}.log"


def _line_mac(key: ChainKey, body: bytes) -> str:
    return _hexmac(key.witness_base, body)[:32]


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_witness(
    trial_code: str, kind: str, sequence: int, head: str, *, sync: bool = False
) -> None:
    """Append one line to the trial's witness file. Raises ChainUnavailable (and logs the
    reason) when it cannot be written."""
    key = signing_key()
    path = witness_path(trial_code)
    try:
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            previous = "-"
            if size:
                tail = os.pread(fd, min(size, _TAIL), max(0, size - _TAIL))
                lines = tail.rstrip(b"\n").rsplit(b"\n", 1)
                previous = lines[-1].rsplit(b"\t", 1)[-1].decode(errors="replace")
                if not tail.endswith(b"\n"):  # a torn line (crash mid-write) stays on its own
                    os.write(fd, b"\n")
            body = "\t".join(
                (
                    WITNESS_VERSION,
                    kind,
                    trial_code,
                    str(sequence),
                    head,
                    _stamp(timezone.now()),
                    key.fingerprint,
                    previous,
                )
            )
            line = body.encode()
            os.write(fd, line + b"\t" + _line_mac(key, line).encode() + b"\n")
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock
    except OSError as error:
        log.error("allocation witness %s cannot be written: %s", path, error)
        raise ChainUnavailable(
            _(
                "The allocation log's witness file cannot be written, so no allocation is "
                "made and nothing was saved. Ask the system administrator to check "
                "ALLOCATION_WITNESS_DIR (or FILES_ROOT)."
            )
        ) from error


def retire_witness(trial_code: str) -> str:
    """Rename the trial's witness file out of the way (kept as evidence); its new name, or ""
    if there was none. A new witness file starts with the next line written."""
    path = witness_path(trial_code)
    if not path.exists():
        return ""
    target = path.with_name(f"{path.name}.replaced-{timezone.now().strftime('%Y%m%dT%H%M%S')}")
    path.rename(target)
    return target.name


def write_committed(trial_code: str, sequence: int, head: str) -> None:
    """The ``commit`` line, run by ``on_commit``: the allocation is in the database."""
    # If it cannot be written (already logged), the allocation stands; the next line or the
    # daily checkpoint covers it.
    with contextlib.suppress(ChainUnavailable):
        write_witness(trial_code, "commit", sequence, head)


class Checkpoint(NamedTuple):
    """A binding witness line: the log held ``sequence`` allocations with this head."""

    line: int
    kind: str
    sequence: int
    head: str
    stamp: str  # UTC, as written; parsed only when shown

    @property
    def at(self) -> dt.datetime:
        return dt.datetime.strptime(self.stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)

    @property
    def short_head(self) -> str:
        return self.head[:12]


@dataclass
class WitnessReading:
    exists: bool = False
    lines: int = 0
    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unchecked: int = 0  # lines signed with a key that is no longer configured

    @property
    def latest(self) -> Checkpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None


_VERSION = WITNESS_VERSION.encode()
_KINDS = {kind.encode(): kind for kind in KINDS}
_BINDING = {kind.encode() for kind in BINDING}


def read_witness(trial_code: str) -> WitnessReading:
    """Read and check every line of the trial's witness file: its MAC, that it carries the MAC
    of the line before it, and that it is about this trial. Problems name the line."""
    reading = WitnessReading()
    path = witness_path(trial_code)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return reading
    except OSError as error:
        reading.problems.append(
            _("The witness file cannot be read: %(error)s") % {"error": error.strerror}
        )
        return reading
    reading.exists = True
    by_fingerprint = {key.fingerprint.encode(): key for key in keys()}
    code = trial_code.encode()
    previous = b"-"
    append = reading.checkpoints.append
    with handle:
        number = 0
        for raw in handle:
            number += 1
            line = raw.rstrip(b"\n")
            fields = line.split(b"\t")
            if len(fields) != 9 or fields[0] != _VERSION or fields[1] not in _KINDS:
                reading.problems.append(
                    _("Witness line %(line)s is not a line the application writes.")
                    % {"line": number}
                )
                previous = fields[-1]
                continue
            _version, kind, line_code, sequence, head, at, fingerprint, linked, line_mac = fields
            if linked != previous:
                reading.problems.append(
                    _(
                        "Witness line %(line)s does not follow the line before it: lines were "
                        "removed or reordered."
                    )
                    % {"line": number}
                )
            previous = line_mac
            key = by_fingerprint.get(fingerprint)
            if key is None:
                reading.unchecked += 1
                continue
            body = line[: line.rfind(b"\t")]
            if not hmac.compare_digest(_line_mac(key, body).encode(), line_mac):
                reading.problems.append(
                    _("Witness line %(line)s was altered (its MAC does not match).")
                    % {"line": number}
                )
                continue
            if line_code != code:
                reading.problems.append(
                    _("Witness line %(line)s is about another trial (%(code)s).")
                    % {"line": number, "code": line_code.decode(errors="replace")}
                )
                continue
            if kind in _BINDING:
                append(Checkpoint(number, _KINDS[kind], int(sequence), head.decode(), at.decode()))
        reading.lines = number
    return reading


def latest_checkpoint(trial_code: str) -> Checkpoint | None:
    """The last binding line of the witness whose MAC checks, read from the end of the file
    (for pages and e-mails; :func:`read_witness` checks the whole file)."""
    path = witness_path(trial_code)
    by_fingerprint = keys_by_fingerprint()
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            end = handle.tell()
            size = min(end, 64 * 1024)
            handle.seek(end - size)
            tail = handle.read(size)
    except OSError:
        return None
    lines = tail.decode(errors="replace").split("\n")
    for line in reversed(lines):
        fields = line.split("\t")
        if len(fields) != 9 or fields[1] not in BINDING or fields[2] != trial_code:
            continue
        key = by_fingerprint.get(fields[6])
        body = line.rsplit("\t", 1)[0].encode()
        if key is None or not hmac.compare_digest(_line_mac(key, body), fields[8]):
            continue
        try:
            point = Checkpoint(0, fields[1], int(fields[3]), fields[4], fields[5])
            point.at  # noqa: B018 - a malformed time skips the line
        except ValueError:
            continue
        return point
    return None
