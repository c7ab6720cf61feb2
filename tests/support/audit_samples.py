"""Audit lines as the servers write them (Aurora's and MariaDB's server_audit), with the columns each must parse
to, and server_audit's escaping of a statement; shared by the DuckDB (RE2) and Java pattern tests."""

from __future__ import annotations


def server_escape(sql: str) -> str:
    """What MariaDB's server_audit writes for a statement: backslash-escaped quote, backslash, newlines."""
    return sql.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")


SAMPLES = [
    (
        r"1703817810074458,aurora-1,rdsadmin,localhost,223153,20070830,QUERY,,'SELECT \'a,b\', 1 \\ 2',0",
        dict(username="rdsadmin", operation="QUERY", object="SELECT 'a,b', 1 \\ 2", retcode=0),
    ),
    (
        "20261126 15:29:21,vm,sbtest,127.0.0.1,13,388451,READ,sbtest,sbtest1,",
        dict(username="sbtest", operation="READ", object="sbtest1", category="SELECT"),
    ),
    (
        r"20261126 15:29:21,vm,u,10.0.0.9,5,6,QUERY,d,'CREATE TABLE t (a int,\nb int)',0,extra1,extra2",
        dict(object="CREATE TABLE t (a int,\nb int)", category="DDL", extra="extra1,extra2"),
    ),
    (
        "20261126 15:29:21,vm,u,h,1,2,QUERY,d,'cut short, \\'here",
        dict(object="cut short, 'here", retcode=None),
    ),
    ("20261126 15:29:21,vm,u,h,1,2,QUERY,d,'GRANT ALL ON *.* TO x',0", dict(category="DCL")),
    ("20261126 15:29:21,vm,u,h,1,0,FAILED_CONNECT,,,1045", dict(operation="FAILED_CONNECT", retcode=1045)),
]
