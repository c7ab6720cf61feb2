"""The REST complete download (DownloadCompleteDBLogFile) and portion paging, against the emulator over HTTP.

GIVEN an instance with an audit file WHEN the complete download runs on either REST path version, or the
endpoint refuses or stalls, or a portion answer carries no Marker THEN the bytes are the file's, a network
failure arrives as a botocore ClientError with code CompleteDownloadUnavailable (so the downloader pages
instead), and paging never repeats a page by re-sending the request's own marker.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from labkit.backup.rdslogs import (
    UNAVAILABLE_CODE,
    CompleteDownload,
    MissingMarkerError,
    download_complete_log_file,
    iter_portions,
)
from labkit.config import load_config
from tests.support.emulated import EmulatedAccount, audit_line


def _file(account: EmulatedAccount, lines: int = 3000) -> bytes:
    data = b"".join(audit_line(i) for i in range(lines))
    (account.add_instance("db-1") / "server_audit.log").write_bytes(data)
    return data


def _name(account: EmulatedAccount) -> str:
    return account.rds.describe_db_log_files(DBInstanceIdentifier="db-1")["DescribeDBLogFiles"][0][
        "LogFileName"
    ]


@pytest.mark.parametrize("version", ["v13", "v19"])
def test_both_rest_path_versions_stream_the_whole_file(account: EmulatedAccount, version: str) -> None:
    data = _file(account)
    settings = CompleteDownload(api_version=version)
    got = b"".join(
        download_complete_log_file(
            account.rds, account.session.get_credentials(), "db-1", _name(account), settings=settings
        )
    )
    assert got == data


def test_a_call_without_settings_takes_the_v13_path(
    account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labkit.backup import rdslogs

    data = _file(account)
    asked: list[str] = []
    real = rdslogs._POOL.request

    def recording(method: str, url: str, **kwargs: Any) -> Any:
        asked.append(url)
        return real(method, url, **kwargs)

    monkeypatch.setattr(rdslogs._POOL, "request", recording)
    got = b"".join(
        download_complete_log_file(account.rds, account.session.get_credentials(), "db-1", _name(account))
    )
    assert got == data
    assert [u.split("/")[3] for u in asked] == ["v13"]


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="v13 or v19"):
        CompleteDownload(api_version="v20")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_connection_is_a_client_error_the_downloader_falls_back_on() -> None:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    rds = session.client("rds", endpoint_url=f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    with pytest.raises(ClientError) as caught:
        list(download_complete_log_file(rds, session.get_credentials(), "db-1", "audit/server_audit.log"))
    error = caught.value.response["Error"]
    assert error["Code"] == UNAVAILABLE_CODE == "CompleteDownloadUnavailable"
    assert "db-1" in error["Message"] and "audit/server_audit.log" in error["Message"]
    assert caught.value.operation_name == "DownloadCompleteDBLogFile"


def test_an_endpoint_that_never_answers_times_out_into_the_same_client_error() -> None:
    """A server that accepts and says nothing: without a read timeout the call would never return."""
    release = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    held: list[socket.socket] = []

    def accept() -> None:
        while not release.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)  # read nothing, answer nothing

    threading.Thread(target=accept, daemon=True).start()
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    rds = session.client("rds", endpoint_url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    outcome: list[BaseException] = []

    def download() -> None:
        try:
            list(
                download_complete_log_file(
                    rds,
                    session.get_credentials(),
                    "db-1",
                    "audit/x",
                    settings=CompleteDownload(read_timeout_s=0.2),
                )
            )
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=download, daemon=True)
    worker.start()
    worker.join(120)  # only a missing timeout gets anywhere near this: the timeout is 0.2 s
    release.set()
    listener.close()
    for conn in held:
        conn.close()
    assert not worker.is_alive(), "the complete download hung: no read timeout"
    [error] = outcome
    assert isinstance(error, ClientError)
    assert error.response["Error"]["Code"] == UNAVAILABLE_CODE


def test_settings_flow_from_labkit_config_into_the_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit.handlers import clients
    from labkit.handlers.downloader import downloader
    from labkit.handlers.invocation import Tally

    monkeypatch.setenv("LABKIT_RDS_LOG_API_VERSION", "v19")
    monkeypatch.setenv("LABKIT_COMPLETE_READ_TIMEOUT_S", "30")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("LABKIT_ACCOUNT_ID", "123456789012")
    clients.forget()
    try:
        config = clients.config()
        assert (config.rds_log_api_version, config.complete_read_timeout_s) == ("v19", 30.0)
        expected = CompleteDownload(
            api_version="v19", connect_timeout_s=config.complete_connect_timeout_s, read_timeout_s=30.0
        )
        assert clients.complete_download() == expected
        # the downloader every invocation builds carries them (nothing global: other callers keep theirs)
        assert downloader(None, Tally()).complete == expected
        assert CompleteDownload() != expected
    finally:
        clients.forget()


def test_a_bad_api_version_setting_says_which_are_known() -> None:
    from labkit.errors import ConfigError

    with pytest.raises(ConfigError, match="v13, v19"):
        load_config(env={"LABKIT_RDS_LOG_API_VERSION": "v12"})


# --- portion paging: a missing Marker ------------------------------------------------------------------
def _stubbed(answers: list[dict[str, object]]) -> tuple[object, Stubber]:
    rds = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("rds", endpoint_url="http://127.0.0.1:1")
    stubber = Stubber(rds)
    for answer in answers:
        stubber.add_response("download_db_log_file_portion", answer)
    stubber.activate()
    return rds, stubber


def test_a_page_without_marker_while_data_is_pending_stops_with_a_clear_error() -> None:
    rds, stubber = _stubbed(
        [
            {"LogFileData": "a\n", "Marker": "1:2", "AdditionalDataPending": True},
            {
                "LogFileData": "b\n",
                "AdditionalDataPending": True,
            },  # no Marker: where would the next page start?
        ]
    )
    pages = iter_portions(rds, "db-1", "audit/f", "0")
    assert next(pages).data == b"a\n"
    with pytest.raises(MissingMarkerError, match="no Marker") as caught:
        next(pages)
    assert "db-1" in str(caught.value) and "audit/f" in str(caught.value) and "1:2" in str(caught.value)
    stubber.assert_no_pending_responses()  # the same page was not asked for again


def test_a_page_that_does_not_move_the_marker_is_not_taken_twice() -> None:
    rds, _ = _stubbed(
        [
            {"LogFileData": "a\n", "Marker": "1:2", "AdditionalDataPending": True},
            {"LogFileData": "b\n", "Marker": "1:2", "AdditionalDataPending": True},
        ]
    )
    pages = iter_portions(rds, "db-1", "audit/f", "0")
    next(pages)
    with pytest.raises(MissingMarkerError):
        next(pages)


def test_the_last_page_without_marker_ends_paging_with_no_marker_to_store() -> None:
    """Nothing pending: the data is the file's end, but there is no marker to resume from (not the request's)."""
    rds, stubber = _stubbed(
        [
            {"LogFileData": "a\n", "Marker": "1:2", "AdditionalDataPending": True},
            {"LogFileData": "b\n", "AdditionalDataPending": False},
        ]
    )
    pages = list(iter_portions(rds, "db-1", "audit/f", "0"))
    assert [(p.data, p.marker, p.pending) for p in pages] == [(b"a\n", "1:2", True), (b"b\n", "", False)]
    stubber.assert_no_pending_responses()


def test_paging_the_emulator_still_gives_the_files_bytes(account: EmulatedAccount) -> None:
    data = _file(account, 20_000)  # several pages of at most 1 MB
    pages = list(iter_portions(account.rds, "db-1", _name(account)))
    assert len(pages) > 1
    assert b"".join(p.data for p in pages) == data
    assert all(p.marker for p in pages)
