"""The handlers' clients under the downloader's copy threads: boto3 resources are not thread-safe (boto3's
"Multithreading" guide), so each thread gets its own tracking Table, one thread keeps its own, and forget()
makes every thread's new. No request is sent: making clients needs no network."""

from __future__ import annotations

import threading

import pytest

from labkit.handlers import clients


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LABKIT_TARGET", "local")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    clients.forget()
    yield
    clients.forget()


def test_each_thread_has_its_own_table_and_keeps_it_until_forget(fresh: None) -> None:
    mine = clients.table()
    assert clients.table() is mine
    theirs: list[object] = []
    start = threading.Barrier(4)

    def other() -> None:
        start.wait()
        theirs.append(clients.table())

    threads = [threading.Thread(target=other) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(t) for t in theirs} | {id(mine)}) == 5  # five threads, five Tables
    clients.forget()
    assert clients.table() is not mine


def test_clients_are_shared_and_the_rds_client_carries_no_budget_on_the_fast_emulator(fresh: None) -> None:
    assert clients.client("s3") is clients.client("s3")
    assert clients.budget() is None  # LABKIT_RDS_PROFILE fast: nothing to protect
