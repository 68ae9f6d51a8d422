"""The local store on disk, so `make dev` keeps registered clients and connections across restarts.

moto keeps its state in memory and has no persistence of its own (its maintainers suggest
pickling its backends: getmoto/moto#1069, #9755). This pickles the backends the broker uses
(DynamoDB, KMS with its key material, so old ciphertexts still decrypt, and EventBridge), plus any
extra in-memory state a caller registers (the fake Google's grants), to one file:

- after writes: a WSGI middleware in front of moto marks the store dirty on every request that may
  change it; a background thread saves at most every `debounce` seconds (longer for a big store:
  saving holds requests up for at most about a fifth of the time);
- on stop (Ctrl-C, SIGTERM): a last save.

A save pickles under an exclusive gate (no AWS request is half-applied), then writes a temp file,
fsyncs it and renames it over the old one: a crash mid-write leaves the previous snapshot whole.
The file is for this machine only: pickles are code, so it is written 0600 and read only from the
local data directory; a snapshot from another moto version is set aside, not loaded.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICES = ("dynamodb", "kms", "events")
FORMAT = 1
# Operations that never change moto's state (by the action in X-Amz-Target); anything else marks
# the store dirty. A false "dirty" costs one extra save, never data.
READ_ONLY_PREFIXES = (
    "Get",
    "Describe",
    "List",
    "Query",
    "Scan",
    "BatchGet",
    "TransactGet",
    "Decrypt",
    "Encrypt",
)
READ_ONLY_ACTIONS = {
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateRandom",
    "TestEventPattern",
}


class SnapshotUnreadable(Exception):
    """The saved snapshot cannot be loaded (another moto version, or a damaged file)."""


def _backend(service: str) -> Any:
    """moto's BackendDict (account -> region -> backend) of `service`: the state it keeps."""
    from moto.backends import get_backend

    return get_backend(service)  # type: ignore[call-overload]


def _load_private_key(der: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_private_key(der, password=None)


class _Pickler(pickle.Pickler):
    """moto's KMS keys hold `cryptography` private keys, which do not pickle: saved as PKCS#8 DER."""

    def reducer_override(self, obj: Any) -> Any:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        if isinstance(obj, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            der = obj.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return _load_private_key, (der,)
        return NotImplemented


def _dumps(data: Any) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(data)
    return buf.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    """`data` at `path`, or the previous content if anything fails: temp file, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # the rename itself durable (best effort)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class ReadWriteGate:
    """Many requests at once (shared), or one snapshot (exclusive)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._writer = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def changes_state(environ: dict[str, Any]) -> bool:
    """Whether a request to moto may change its state (by the AWS JSON protocol's X-Amz-Target)."""
    target = str(environ.get("HTTP_X_AMZ_TARGET") or "")
    if target.startswith("AmazonSQS."):
        # The work queue is not saved (SERVICES): its pollers' receives, every second, must not
        # trigger saves. Jobs in flight at a restart are lost; the next sweep re-enqueues what is
        # still due, and repeating a provider switch finishes it.
        return False
    if not target:
        return environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD", "OPTIONS")
    action = target.rsplit(".", 1)[-1]
    return not (action.startswith(READ_ONLY_PREFIXES) or action in READ_ONLY_ACTIONS)


@dataclass
class ExtraState:
    """In-memory state of something else to save with moto's (e.g. the fake Google's grants)."""

    name: str
    export: Callable[[], Any]  # called with no AWS request in flight; returns picklable data
    restore: Callable[[Any], None]


@dataclass
class LocalStore:
    """moto's backends (and registered extras) saved to `path` and restored from it."""

    path: Path
    debounce: float = 0.25
    gate: ReadWriteGate = field(default_factory=ReadWriteGate)
    extras: list[ExtraState] = field(default_factory=list)
    _dirty: threading.Event = field(default_factory=threading.Event)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _save_lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _restored_extras: dict[str, Any] = field(default_factory=dict)

    # -- restore ---------------------------------------------------------------------------
    def restore(self) -> bool:
        """Load the snapshot into moto's (empty) backends; False when there is none.

        Raises SnapshotUnreadable (the file is left in place) when it cannot be used."""
        import moto

        if not self.path.exists():
            return False
        try:
            data = pickle.loads(self.path.read_bytes())  # noqa: S301 - our own 0600 file, see module doc
        except Exception as exc:
            raise SnapshotUnreadable(f"{type(exc).__name__}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SnapshotUnreadable("unknown snapshot format")
        if data.get("moto") != moto.__version__:
            raise SnapshotUnreadable(f"saved by moto {data.get('moto')}, this is moto {moto.__version__}")
        for service, accounts in data["backends"].items():
            backend = _backend(service)
            backend.clear()
            backend.update(accounts)
        self._restored_extras = dict(data.get("extras") or {})
        return True

    def add_extra(self, extra: ExtraState) -> None:
        """Save `extra` with the store; restores its saved state now if the snapshot had it."""
        self.extras.append(extra)
        if extra.name in self._restored_extras:
            extra.restore(self._restored_extras.pop(extra.name))

    def set_aside(self) -> Path:
        """Move an unusable snapshot out of the way (kept, so nothing is lost silently)."""
        aside = self.path.with_name(self.path.name + ".unreadable")
        self.path.replace(aside)
        return aside

    # -- save ------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        import moto

        with self.gate.exclusive():
            data = {
                "format": FORMAT,
                "moto": moto.__version__,
                "backends": {s: dict(_backend(s)) for s in SERVICES},
                "extras": {e.name: e.export() for e in self.extras},
            }
            return _dumps(data)

    def save(self) -> None:
        with self._save_lock:
            self._dirty.clear()
            write_atomically(self.path, self.snapshot())

    def mark_dirty(self) -> None:
        self._dirty.set()

    def _saver(self) -> None:
        pause = self.debounce
        while not self._stopping.is_set():
            if self._dirty.wait(0.5) and not self._stopping.is_set():
                self._stopping.wait(pause)  # a burst of writes, one save
                started = time.monotonic()
                with contextlib.suppress(Exception):  # a failed save is retried by the final one
                    self.save()
                # A big store takes a while to pickle, and requests wait meanwhile: keep saving
                # from holding them up more than a fifth of the time (the final save loses nothing).
                pause = max(self.debounce, 4 * (time.monotonic() - started))

    def start(self) -> LocalStore:
        self._thread = threading.Thread(target=self._saver, name="local-store-saver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """The final save (always, so nothing written since the last one is lost)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.save()

    # -- WSGI ------------------------------------------------------------------------------
    def middleware(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., list[bytes]]:
        """Runs each request under the shared gate (a snapshot waits for it) and marks writes."""

        def wrapped(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            with self.gate.shared():
                result = app(environ, start_response)
                try:
                    body = b"".join(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
            if changes_state(environ):
                self.mark_dirty()
            return [body]

        return wrapped


# -- the data directory's one `oauth-broker dev` ---------------------------------------------------

LOCK_FILE = "dev.lock"
RUNNING_FILE = "dev-server.json"


class DataDirBusy(Exception):
    """Another `oauth-broker dev` owns this data directory (`running` says where it serves, if known)."""

    def __init__(self, running: dict[str, Any] | None):
        super().__init__("the data directory is in use")
        self.running = running or {}


@dataclass
class DataDirClaim:
    """An exclusive claim on a data directory (an flock held for the process's life), and the
    `dev-server.json` it publishes: how `oauth-broker invoke` finds the running broker."""

    directory: Path
    _fd: int | None = None

    def acquire(self) -> DataDirClaim:
        import fcntl

        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise DataDirBusy(read_running(self.directory)) from None
        self._fd = fd
        return self

    def publish(self, base_url: str) -> None:
        info = {"base_url": base_url, "pid": os.getpid()}
        write_atomically(self.directory / RUNNING_FILE, json.dumps(info).encode())

    def release(self) -> None:
        if self._fd is None:
            return
        (self.directory / RUNNING_FILE).unlink(missing_ok=True)
        os.close(self._fd)  # drops the flock
        self._fd = None


def read_running(directory: Path) -> dict[str, Any] | None:
    """What a running `oauth-broker dev` published in `directory` ({base_url, pid}), if anything."""
    try:
        info = json.loads((directory / RUNNING_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("base_url"), str) else None
