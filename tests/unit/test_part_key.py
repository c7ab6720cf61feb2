"""One parser for the S3 part key (issue 16): ``PartKey.parse`` reads back exactly what ``PartKey.key``
builds, for any file name and part number, and every reader of the archive takes a key as a part only
when it parses."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from labkit.backup.layout import PartKey, part_number

prefixes = st.lists(
    st.text(string.ascii_lowercase + "-_", min_size=1, max_size=8), min_size=1, max_size=3
).map("/".join)
identifiers = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,62}", fullmatch=True)
# any name, including '/', '..', '%', quotes, spaces, unicode and ".part-00001.gz" inside it
names = st.lists(
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
    | st.sampled_from(["/", "..", "%", "%2E", ".part-00001.gz", "'", " ", "é", "\x00"]),
    min_size=1,
    max_size=6,
).map("".join)
dates = st.dates().map(lambda d: d.strftime("%Y-%m-%d")).filter(lambda d: len(d) == 10)


@given(prefixes, names, identifiers, dates, names, st.integers(1, 10**7))
def test_parse_reads_back_every_field_a_key_was_built_from(
    prefix: str, cluster: str, instance: str, date: str, file_id: str, part: int
) -> None:
    built = PartKey(prefix, cluster, instance, date, file_id)
    key = built.key(part)
    ref = PartKey.parse(key)
    assert ref is not None, key
    assert (ref.file, ref.part, ref.key) == (built, part, key)
    assert part_number(key) == part


@given(prefixes, identifiers, names, st.integers(1, 99_999))
def test_keys_no_writer_builds_are_not_parts(prefix: str, instance: str, file_id: str, part: int) -> None:
    good = PartKey(prefix, "c-1", instance, "2026-12-07", file_id).key(part)
    unpadded = good.replace(f".part-{part:05d}.gz", f".part-{part}.gz")
    not_parts = [
        f"{prefix}/manifests/instance={instance}/manifest-00001.json",
        good.replace("/date=2026-12-07/", "/date=07-12-2026/"),  # not the ISO date= partition
        good.replace("/date=2026-12-07/", "/date=/"),
        good.replace("/cluster=c-1/", "/cluster=/"),
        good.replace(f"/instance={instance}/", "/instance=../x/"),
        good.removesuffix(".gz"),
        f"{prefix}/stray.part-00001.gz",  # the ending alone is no part
    ]
    if unpadded != good:
        not_parts.append(unpadded)  # 5 digits, zero-padded: the spelling the writer uses
    for key in not_parts:
        assert PartKey.parse(key) is None, key


def test_the_dashboard_skips_a_stray_object_with_a_part_ending() -> None:
    """The dashboard, the manifests, verify and the archive reader read keys through PartKey.parse (the
    manifests' part_objects listing for the first three); this checks the dashboard's field reader."""
    from labkit.dashboard.state import parse_part_key

    stray = "audit-logs/tmp/upload.part-00001.gz"
    assert parse_part_key(stray) is None
    assert PartKey.parse(stray) is None
