"""Follow a registry alias from the SDK: ``Monitor(..., version_from="name@production")``.

A daemon thread polls the alias every ``interval_s`` seconds — over HTTP with
``If-None-Match`` (a 304 costs no body), or straight from the store in local mode. When the
alias moves (a promotion or a rollback), the application's ``on_change(version)`` runs
first (load the new model there), then the Monitor switches: predictions recorded from
that instant on carry the new version, those recorded before keep the old one, even if
they are sent later. The inference path is untouched: the switch only changes what the
background sender writes.

When the alias carries a canary (``vigil registry canary``), ``on_canary_change(canary)``
runs with ``{"version", "share", "mode"}`` (load the candidate there; ``None`` when the
canary ends) and the follower routes: :meth:`AliasFollower.serving_version` answers the
canary's version for its share of calls — sticky per subject id (a hash of the subject
and the canary's version into [0, 1)), random otherwise — and the stable version for the
rest; in ``shadow`` mode it answers the stable version and
:meth:`AliasFollower.shadow_version` picks the calls whose inputs the candidate also runs.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

from vigil.errors import InvalidParameterError

log = logging.getLogger("vigil.sdk")

# fetch(etag) -> None (unchanged) or (etag, resolved version, canary or None)
Fetch = Callable[[str | None], "tuple[str | None, str, dict[str, Any] | None] | None"]
CANARY_KEYS = ("version", "share", "mode")


def unit_hash(salt: str, subject_id: str) -> float:
    """A subject's fixed place in [0, 1) for a given salt (the canary's version): the same
    subject lands on the same side of a share on every call and every replica.

    Examples:
        >>> unit_hash("4", "u42") == unit_hash("4", "u42")
        True
        >>> 0 <= unit_hash("4", "u42") < 1
        True
    """
    digest = hashlib.blake2b(f"{salt}\x00{subject_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _canary(row: dict[str, Any]) -> dict[str, Any] | None:
    c = row.get("canary")
    return {k: c[k] for k in CANARY_KEYS} if c else None


def parse_alias_ref(ref: Any) -> tuple[str, str]:
    """``"model@alias"`` → ``(model, alias)``.

    Examples:
        >>> parse_alias_ref("sentiment@production")
        ('sentiment', 'production')
    """
    model, sep, alias = ref.partition("@") if isinstance(ref, str) else ("", "", "")
    if not sep or not model or not alias or "@" in alias:
        raise InvalidParameterError(
            f"'version_from' of Monitor must be 'model@alias', e.g. 'sentiment@production'. "
            f"Got {ref!r}."
        )
    return model, alias


def http_fetch(
    endpoint: str, model: str, alias: str, api_key: str | None, timeout_s: float
) -> Fetch:
    """A fetch function polling ``GET /api/v1/models/{model}/aliases/{alias}``."""
    import httpx

    from vigil._version import __version__

    headers = {"User-Agent": f"vigil-sdk/{__version__}", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    client = httpx.Client(base_url=endpoint.rstrip("/"), headers=headers, timeout=timeout_s)
    path = f"/api/v1/models/{model}/aliases/{alias}"

    def fetch(etag: str | None) -> tuple[str | None, str, dict[str, Any] | None] | None:
        resp = client.get(path, headers={"If-None-Match": etag} if etag else None)
        if resp.status_code == 304:
            return None
        if resp.status_code != 200:
            raise RuntimeError(f"GET {path} answered {resp.status_code}: {resp.text[:200]}")
        row = resp.json()
        return resp.headers.get("etag"), row["resolved_version"], _canary(row)

    fetch.close = client.close  # type: ignore[attr-defined]
    return fetch


def store_fetch(url: str, model: str, alias: str) -> Fetch:
    """A fetch function reading the alias from a store (the SDK's local mode)."""
    from vigil.store import open_store
    from vigil.store.registry import queries as q

    store = open_store(url)

    def fetch(etag: str | None) -> tuple[str | None, str, dict[str, Any] | None] | None:
        record = store.get_model(model)
        row = q.get_alias(store, record.id, alias) if record is not None else None
        if row is None:
            raise RuntimeError(f"model {model!r} has no alias {alias!r}")
        tag = f'"{row["revision"]}:{row["resolved_version"]}"'
        return None if tag == etag else (tag, row["resolved_version"], _canary(row))

    fetch.close = store.close  # type: ignore[attr-defined]
    return fetch


class AliasFollower:
    """Polls an alias and calls ``switch(version)`` when it resolves to another version."""

    def __init__(
        self,
        ref: str,
        fetch: Fetch,
        switch: Callable[[str], bool],
        current: str,
        interval_s: float,
        switch_canary: Callable[[dict[str, Any] | None], bool] | None = None,
    ) -> None:
        self.ref = ref
        self.fetch = fetch
        self.switch = switch
        self.switch_canary = switch_canary
        self.current = current
        self.canary: dict[str, Any] | None = None  # the canary being routed to
        self.interval_s = interval_s
        self.etag: str | None = None
        self.polls = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> bool:
        """Ask once; True when the version changed (and the switch succeeded)."""
        self.polls += 1
        try:
            answer = self.fetch(self.etag)
        except Exception as exc:  # a network or server problem: keep the current version
            self.errors += 1
            log.warning(
                "vigil: could not read %s (%s); staying on version %s", self.ref, exc, self.current
            )
            return False
        if answer is None:
            return False
        etag, version, canary = answer
        changed = False
        if version != self.current:
            if not self.switch(version):
                return False  # the application could not load it: ask again next time
            self.current = version
            changed = True
        if canary != self.canary:
            if self.switch_canary is not None and not self.switch_canary(canary):
                return changed  # the candidate could not be loaded: ask again next time
            self.canary = canary
            changed = True
        self.etag = etag
        return changed

    def serving_version(self, subject_id: str | None = None) -> str:
        """The version that should serve this call: the canary's for its share of calls
        (sticky per ``subject_id``), else the stable one."""
        canary = self.canary
        if canary is None or canary["mode"] != "canary":
            return self.current
        u = random.random() if subject_id is None else unit_hash(canary["version"], str(subject_id))
        return canary["version"] if u < canary["share"] else self.current

    def shadow_version(self, subject_id: str | None = None) -> str | None:
        """In shadow mode, the candidate's version for the calls it also runs (its share,
        sticky per ``subject_id``); None for the others and outside shadow mode."""
        canary = self.canary
        if canary is None or canary["mode"] != "shadow":
            return None
        u = random.random() if subject_id is None else unit_hash(canary["version"], str(subject_id))
        return canary["version"] if u < canary["share"] else None

    def start(self) -> AliasFollower:
        self._thread = threading.Thread(
            target=self._run, name=f"vigil-follow[{self.ref}]", daemon=True
        )
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll_once()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        close = getattr(self.fetch, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                log.exception("vigil: closing the alias follower failed")


def start_following(
    monitor: Any,
    ref: str,
    on_change: Callable[[str], Any] | None,
    interval_s: float,
    api_key: str | None,
    on_canary_change: Callable[[dict[str, Any] | None], Any] | None = None,
) -> AliasFollower:
    """Resolve ``ref`` now (calling ``on_change`` when it names another version than the
    Monitor's) and keep following it in a daemon thread; return the follower."""
    import time
    import weakref

    from vigil.sdk.local import is_local_endpoint

    model, alias = parse_alias_ref(ref)
    if not isinstance(interval_s, int | float) or isinstance(interval_s, bool) or interval_s <= 0:
        raise InvalidParameterError(
            f"'follow_interval_s' of Monitor must be a positive number of seconds. "
            f"Got {interval_s!r}."
        )
    if on_change is not None and not callable(on_change):
        raise InvalidParameterError("'on_version_change' of Monitor must be callable.")
    if on_canary_change is not None and not callable(on_canary_change):
        raise InvalidParameterError("'on_canary_change' of Monitor must be callable.")
    endpoint = monitor.endpoint
    if is_local_endpoint(endpoint):
        fetch = store_fetch(endpoint, model, alias)
    else:
        fetch = http_fetch(endpoint, model, alias, api_key, min(monitor.timeout_s, 10.0))
    sender = monitor._sender
    owner = weakref.ref(monitor)

    def switch(version: str) -> bool:
        if on_change is not None:
            try:
                on_change(version)
            except Exception:
                log.exception(
                    "vigil: on_version_change(%r) failed; staying on version %s",
                    version,
                    sender.version,
                )
                return False
        sender.switch_version(version, time.time())
        mon = owner()
        if mon is not None:
            mon.version = version
        log.info("vigil: %s now resolves to version %s", ref, version)
        return True

    def switch_canary(canary: dict[str, Any] | None) -> bool:
        try:
            on_canary_change(canary)  # type: ignore[misc]
        except Exception:
            log.exception(
                "vigil: on_canary_change(%r) failed; serving version %s only",
                canary,
                sender.version,
            )
            return False
        log.info(
            "vigil: %s now runs %s",
            ref,
            f"a {canary['mode']} of version {canary['version']} on {canary['share']:.0%} of calls"
            if canary
            else "no canary",
        )
        return True

    follower = AliasFollower(
        ref,
        fetch,
        switch,
        monitor.version,
        float(interval_s),
        switch_canary if on_canary_change is not None else None,
    )
    follower.poll_once()
    return follower.start()
