"""Store errors: no database internals reach a caller; transient failures are retried."""

from __future__ import annotations

import logging

import pytest

from vigil.errors import StoreError, http_status


def test_store_errors_keep_database_details_in_the_log(store, caplog):
    caplog.set_level(logging.WARNING, logger="vigil.store")
    statement = (
        "SELECT * FROM no_such_table"
        if store.backend == "sqlite"
        else "DO $$ BEGIN RAISE EXCEPTION 'no_such_table' USING ERRCODE = '57014', "
        "DETAIL = 'Process 4242'; END $$"
    )  # query_canceled: an operational error
    with pytest.raises(StoreError) as err, store.write() as conn:
        conn.exec_driver_sql(statement)
    message = err.value.message
    assert "no_such_table" not in message and "DETAIL" not in message
    assert "no_such_table" in caplog.text  # the detail is in the server's log
    assert http_status(err.value) == 503


@pytest.mark.postgres
def test_a_deadlock_is_retried_inside_the_store_and_never_leaks(pg_url, caplog):
    from vigil.store import open_store

    store = open_store(pg_url)
    attempts = []
    raise_deadlock = (
        "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING "
        "ERRCODE = '40P01', DETAIL = 'Process 4242 waits for ShareLock on "
        "transaction 777'; END $$"
    )

    def work(conn):
        attempts.append(1)
        if len(attempts) < 3:
            conn.exec_driver_sql(raise_deadlock)
        return "done"

    def always(conn):
        conn.exec_driver_sql(raise_deadlock)

    try:
        assert store.write_retrying(work) == "done"
        assert len(attempts) == 3
        with pytest.raises(StoreError) as err:
            store.write_retrying(always, attempts=2)
        assert "busy" in err.value.message
        for secret in ("4242", "777", "Process", "DETAIL", "deadlock"):
            assert secret not in err.value.message
    finally:
        store.close()
