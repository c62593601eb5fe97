"""Job leases with fencing tokens: one leader per background job across replicas.

A lease row per job names its holder, a fencing token and an expiry. A holder renews
before the expiry; once it lapses another replica takes the lease and the token goes up
by one. Work that must happen once per round claims the round in ``job_rounds`` under
its token (:meth:`Leases.begin_round`), and finishing it (or any write that matters)
re-checks the token in the same transaction (:meth:`Leases.fence`): a deposed leader's
late write is refused instead of doing the round twice. On PostgreSQL the checks take a
row lock, so a takeover waits for a fenced write in flight; SQLite has a single writer
and the same code runs there with one holder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vigil.errors import VigilError
from vigil.store.store import Store
from vigil.store.tables import metadata

job_leases = sa.Table(
    "job_leases",
    metadata,
    sa.Column("job", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("token", sa.BigInteger, nullable=False),  # fencing token: +1 per new holder
    sa.Column("acquired_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
)

job_rounds = sa.Table(
    "job_rounds",
    metadata,
    sa.Column("job", sa.String(100), primary_key=True),
    sa.Column("round_key", sa.String(100), primary_key=True),  # e.g. the round's start
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),  # "started" or "done"
    sa.Column("position", sa.Double, nullable=True),  # where the job got to (export end)
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("finished_at", sa.Double, nullable=True),
)


def lease_of(job: str) -> str:
    """The lease that fences a round's job: ``exports:otlp`` is fenced by ``exports``."""
    return job.split(":", 1)[0]


class LeaseLostError(VigilError):
    """The lease of a job passed to another holder: this holder's write is refused."""


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """One job's lease as stored."""

    job: str
    holder: str
    token: int
    acquired_at: float
    expires_at: float


class Leases:
    """Leases and rounds of background jobs in ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _locked(self, conn: sa.Connection, job: str) -> Any:
        stmt = sa.select(job_leases).where(job_leases.c.job == job)
        if self.store.backend == "postgresql":
            stmt = stmt.with_for_update()
        return conn.execute(stmt).first()

    def acquire(self, job: str, holder: str, ttl_s: float, now: float | None = None) -> int | None:
        """Take or renew ``job``'s lease for ``holder``; its fencing token, or None while
        another holder's lease has not expired. A new holder gets the old token + 1; a
        renewal (also one after a lapse nobody used) keeps the token."""
        now = time.time() if now is None else now
        with self.store.write() as conn:
            conn.execute(
                self.store._insert(job_leases)
                .values(job=job, holder="", token=0, acquired_at=now, expires_at=0.0)
                .on_conflict_do_nothing()
            )
            row = self._locked(conn, job)
            if row.holder == holder:
                conn.execute(
                    job_leases.update()
                    .where(job_leases.c.job == job)
                    .values(expires_at=now + ttl_s)
                )
                return int(row.token)
            if row.expires_at >= now:
                return None
            token = int(row.token) + 1
            conn.execute(
                job_leases.update()
                .where(job_leases.c.job == job)
                .values(holder=holder, token=token, acquired_at=now, expires_at=now + ttl_s)
            )
            return token

    def release(self, holder: str) -> None:
        """Let every lease of ``holder`` lapse now (a clean shutdown hands over at once);
        the tokens stay, so the next holder's is higher."""
        with self.store.write() as conn:
            conn.execute(
                job_leases.update().where(job_leases.c.holder == holder).values(expires_at=0.0)
            )

    def all(self) -> list[LeaseInfo]:
        """Every job's lease, by job name."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(job_leases).order_by(job_leases.c.job)).all()
        return [LeaseInfo(r.job, r.holder, int(r.token), r.acquired_at, r.expires_at) for r in rows]

    # -- fencing -------------------------------------------------------------------------
    def fence(self, conn: sa.Connection, job: str, token: int) -> None:
        """Raise :class:`LeaseLostError` unless ``token`` is still ``job``'s token. Call in
        the transaction of the write it guards (on PostgreSQL the lease row stays locked
        until that transaction ends, so no takeover slips in between)."""
        row = self._locked(conn, job)
        if row is None or int(row.token) != token:
            raise LeaseLostError(
                f"The lease of job {job!r} passed to another replica (token "
                f"{None if row is None else int(row.token)}, this one held {token})."
            )

    # -- rounds --------------------------------------------------------------------------
    def begin_round(
        self, job: str, key: str, token: int, holder: str, now: float | None = None
    ) -> bool:
        """Claim round ``key`` of ``job`` (``lease`` or ``lease:part``) under ``token``:
        True when this holder should run it (nobody claimed it, or an earlier leader
        started it and died before finishing); False when it is done. Raises
        :class:`LeaseLostError` when the token is stale."""
        now = time.time() if now is None else now
        r = job_rounds
        with self.store.write() as conn:
            self.fence(conn, lease_of(job), token)
            inserted = conn.execute(
                self.store._insert(r)
                .values(
                    job=job,
                    round_key=key,
                    token=token,
                    holder=holder,
                    state="started",
                    started_at=now,
                )
                .on_conflict_do_nothing()
                .returning(r.c.job)
            ).first()
            if inserted is not None:  # (rowcount of ON CONFLICT DO NOTHING is -1 on psycopg)
                return True
            row = conn.execute(
                sa.select(r.c.state, r.c.token).where(r.c.job == job, r.c.round_key == key)
            ).one()
            if row.state == "done":
                return False
            conn.execute(
                r.update()
                .where(r.c.job == job, r.c.round_key == key)
                .values(token=token, holder=holder, started_at=now)
            )
            return True

    def finish_round(
        self,
        job: str,
        key: str,
        token: int,
        position: float | None = None,
        now: float | None = None,
    ) -> None:
        """Mark round ``key`` done (with how far the job got); refused when deposed."""
        now = time.time() if now is None else now
        r = job_rounds
        with self.store.write() as conn:
            self.fence(conn, lease_of(job), token)
            conn.execute(
                r.update()
                .where(r.c.job == job, r.c.round_key == key, r.c.token == token)
                .values(state="done", position=position, finished_at=now)
            )

    def abandon_round(self, job: str, key: str, token: int) -> None:
        """Forget a round that failed, so the next attempt runs it again."""
        r = job_rounds
        with self.store.write() as conn:
            conn.execute(
                r.delete().where(
                    r.c.job == job, r.c.round_key == key, r.c.token == token, r.c.state == "started"
                )
            )

    def claim_run(
        self, job: str, token: int, holder: str, min_gap_s: float, now: float | None = None
    ) -> float | None:
        """Claim one run of a periodic job part (``probes:<id>``) under ``token``, at least
        ``min_gap_s`` after the last run any holder claimed: None when the claim is stored
        and this holder may run it now, else the time (``time.time()``) from which a claim
        would succeed. Raises :class:`LeaseLostError` when the token is stale.

        Checking leadership when a run is scheduled is not enough: the run starts later,
        and by then another replica may lead and have read an older last run. The claim is
        fenced and stored in one transaction, so a deposed holder's late run is refused and
        a new holder resumes from the newest claim (:meth:`last_position`).
        """
        now = time.time() if now is None else now
        r = job_rounds
        key = "last-run"
        with self.store.write() as conn:
            self.fence(conn, lease_of(job), token)
            last = conn.execute(
                sa.select(r.c.position).where(r.c.job == job, r.c.round_key == key)
            ).scalar()
            if last is not None and now < last + min_gap_s:
                return float(last + min_gap_s)
            values = {
                "token": token,
                "holder": holder,
                "state": "done",
                "position": now,
                "started_at": now,
                "finished_at": now,
            }
            conn.execute(
                self.store._insert(r)
                .values(job=job, round_key=key, **values)
                .on_conflict_do_update(index_elements=["job", "round_key"], set_=values)
            )
            return None

    def last_position(self, job: str) -> float | None:
        """The furthest position a finished round of ``job`` reached, or None."""
        r = job_rounds
        with self.store.read() as conn:
            return conn.execute(
                sa.select(sa.func.max(r.c.position)).where(r.c.job == job, r.c.state == "done")
            ).scalar()

    def rounds(self, job: str) -> list[dict[str, Any]]:
        """Every stored round of ``job``, oldest first (tests, operators)."""
        r = job_rounds
        with self.store.read() as conn:
            rows = (
                conn.execute(sa.select(r).where(r.c.job == job).order_by(r.c.started_at))
                .mappings()
                .all()
            )
        return [dict(row) for row in rows]

    def prune_rounds(self, before: float) -> int:
        """Delete finished rounds started before ``before``; how many went."""
        r = job_rounds
        with self.store.write() as conn:
            return conn.execute(
                r.delete().where(r.c.started_at < before, r.c.state == "done")
            ).rowcount
