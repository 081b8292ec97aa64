"""The pgBackRest path's pure parts with plain values: INI checksum, manifest, stored-file checks, WAL."""

from __future__ import annotations

import gzip
import hashlib
import random
from datetime import UTC, datetime, timedelta

import pytest

from backup.checks.physical_cross_region import compare_files, compare_wal
from backup.checks.physical_drill import pick_target
from backup.checks.wal import rpo_verdict
from backup.model import Status
from backup.pgbackrest import catalog, wal
from backup.pgbackrest.filecheck import check_object, unsupported
from backup.pgbackrest.ini import IniError, checksum_of, parse

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
MiB = 1 << 20


def ini_text(sections: list[tuple[str, list[tuple[str, str]]]]) -> str:
    body = "".join(f"[{name}]\n" + "".join(f"{k}={v}\n" for k, v in pairs) + "\n" for name, pairs in sections)
    return body + f'[backrest]\nbackrest-checksum="{checksum_of(sections)}"\n'


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def manifest_text(files: dict[str, str], compress: str = "gz") -> str:
    return ini_text([
        ("backrest", [("backrest-format", "5"), ("backrest-version", '"2.45"')]),
        ("backup", [("backup-label", '"20261205-100000F_20261205-110000I"'), ("backup-type", '"incr"'),
                    ("backup-reference", '"20261205-100000F,20261205-100000F_20261205-110000I"')]),
        ("backup:db", [("db-system-id", "7714684910216732822"), ("db-version", '"15"')]),
        ("backup:option", [("option-compress", "true"), ("option-compress-type", f'"{compress}"')]),
        ("target:file", list(files.items())),
    ])


def test_ini_checksum_is_verified_and_a_changed_value_is_refused() -> None:
    text = manifest_text({"pg_data/PG_VERSION": '{"rck":"' + "a" * 40 + '","repo-size":23,"size":3}'})
    assert parse(text).value("backup", "backup-type") == "incr"
    with pytest.raises(IniError, match="checksum mismatch"):
        parse(text.replace('"incr"', '"full"'))
    with pytest.raises(IniError, match="no backrest-checksum"):
        parse(text.rsplit("[backrest]", 1)[0])


def test_manifest_files_bundles_references_and_empty_files() -> None:
    ini = parse(manifest_text({
        "pg_data/base/1/1259": '{"bni":2,"bno":100,"checksum":"' + "c" * 40 + '",'
                               '"reference":"20261205-100000F",'
                               '"rck":"' + "r" * 40 + '","repo-size":86,"size":8192}',
        "pg_data/backup_label": '{"checksum":"' + "d" * 40 + '","rck":"' + "e" * 40 + '","repo-size":194,'
                                '"size":256}',
        "pg_data/base/1/13394": '{"size":0,"timestamp":1}',
    }))
    m = catalog.manifest(ini)
    assert m.type == "incr" and m.references == ("20261205-100000F", "20261205-100000F_20261205-110000I")
    assert m.empty_files == 1 and m.compress_type == "gz"
    by_name = {f.name: f for f in m.files}
    assert by_name["pg_data/base/1/1259"].slice_key == "20261205-100000F/bundle/2@100"
    assert by_name["pg_data/backup_label"].object_key == (
        "20261205-100000F_20261205-110000I/pg_data/backup_label.gz")


def _stored(name: str, original: bytes, offset: int | None) -> tuple[catalog.StoredFile, bytes]:
    stored = gzip.compress(original)
    return catalog.StoredFile(name=name, object_key="L/bundle/1" if offset is not None else f"L/{name}.gz",
                              offset=offset, repo_size=len(stored), size=len(original), rck=sha1(stored),
                              checksum=sha1(original), reference="L"), stored


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_one_pass_over_a_bundle_checks_each_slice_whatever_the_chunk_size(chunk: int) -> None:
    a, a_bytes = _stored("a", b"x" * 5000, 3)
    b, b_bytes = _stored("b", bytes(range(256)) * 10, 3 + len(a_bytes) + 5)
    bundle = bytearray(b"pre" + a_bytes + b"gap!!" + b_bytes + b"tail")
    chunks = [bytes(bundle[i:i + chunk]) for i in range(0, len(bundle), chunk)]
    assert [v.ok for v in check_object(chunks, [b, a], "gz")] == [True, True]
    bundle[3 + len(a_bytes) + 5 + 20] ^= 0x01  # one byte of b
    chunks = [bytes(bundle[i:i + chunk]) for i in range(0, len(bundle), chunk)]
    verdicts = {v.file.name: v for v in check_object(chunks, [a, b], "gz")}
    assert verdicts["a"].ok and not verdicts["b"].ok
    assert "rck" in (verdicts["b"].problem or "")


def test_stored_bytes_that_match_rck_but_not_the_original_are_caught() -> None:
    f, stored = _stored("f", b"hello world", None)
    lying = catalog.StoredFile(**{**f.__dict__, "checksum": sha1(b"another file")})
    [verdict] = check_object([stored], [lying], "gz")
    assert not verdict.ok and "decompressed" in (verdict.problem or "")
    short = catalog.StoredFile(**{**f.__dict__, "size": 3})
    assert "decompressed to 11 bytes" in (check_object([stored], [short], "gz")[0].problem or "")


def test_uncompressed_repositories_and_unsupported_compress_types() -> None:
    data = b"plain"
    f = catalog.StoredFile("f", "L/f", None, len(data), len(data), sha1(data), sha1(data), "L")
    assert check_object([data], [f], "none")[0].ok
    assert unsupported("gz") is None and unsupported("none") is None
    assert "'zst' is not supported" in (unsupported("zst") or "")


def test_segment_names_follow_the_segment_size() -> None:
    assert wal.parse_name("000000010000000000000009", MiB) == (1, 9)
    assert wal.parse_name("000000020000000100000003", 16 * MiB) == (2, 256 + 3)
    assert wal.segment_name(1, 4096 + 2, MiB) == "000000010000000100000002"
    assert wal.infer_segment_size([("0/900028", "000000010000000000000009")]) == MiB
    assert wal.infer_segment_size([("1/3000028", "000000010000000100000003")]) == 16 * MiB


def _segments(timeline: int, numbers: range, at: datetime = T0) -> list[wal.Segment]:
    return [wal.Segment(timeline, n, f"{n:040x}", at + timedelta(minutes=n)) for n in numbers]


def test_gaps_are_named_and_a_backup_with_a_hole_in_its_own_wal_is_not_restorable() -> None:
    segments = [s for s in _segments(1, range(2, 12)) if s.number not in (4, 9)]
    backups = [("full", "000000010000000000000002", "000000010000000000000004"),
               ("incr", "000000010000000000000006", "000000010000000000000007")]
    result = wal.continuity(segments, backups, {}, MiB)
    assert result.gaps == ["000000010000000000000004", "000000010000000000000009"]
    assert result.restorable == {"full": False, "incr": True}
    assert result.first_gap_after["incr"] == "000000010000000000000009"


def test_history_files_move_the_expected_timeline_at_the_switch_point() -> None:
    history = {2: wal.parse_history("1\t0/600000\tno recovery target specified\n")}
    segments = _segments(1, range(2, 6)) + _segments(2, range(6, 9))
    backups = [("full", "000000010000000000000002", "000000010000000000000003")]
    assert wal.continuity(segments, backups, history, MiB).gaps == []
    without_history = wal.continuity(segments, backups, {}, MiB)
    assert without_history.gaps[0] == "000000020000000000000002"


def test_rpo_counts_only_wal_in_both_regions_and_idle_is_not_stuck() -> None:
    primary = _segments(1, range(1, 6))
    replica = _segments(1, range(1, 4))
    newest = wal.newest_in_both(primary, replica)
    assert newest is not None and newest.number == 3
    now = newest.archived_at + timedelta(hours=1)
    status, rpo, _ = rpo_verdict(newest, now, is_idle=False, target=900)
    assert status == Status.FAILED and rpo == 3600
    assert wal.idle("000000010000000000000003", newest, MiB)
    assert not wal.idle("000000010000000000000004", newest, MiB)
    status, rpo, sentence = rpo_verdict(newest, now, is_idle=True, target=900)
    assert status == Status.PASSED and rpo == 0 and "idle" in sentence


def test_cross_region_comparisons() -> None:
    assert compare_files({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"}) == [
        ("b", "sha1 differs"), ("c", "extra in the replica")]
    primary = _segments(1, range(1, 4))
    replica = _segments(1, range(1, 2))
    bad, pending = compare_wal(primary, replica, T0 + timedelta(minutes=3, seconds=30),
                               timedelta(minutes=1), MiB)
    assert bad == ["000000010000000000000002"] and pending == ["000000010000000000000003"]


def test_random_target_lies_between_the_backup_and_the_newest_wal() -> None:
    rng = random.Random(7)
    for _ in range(20):
        target = pick_target(T0, T0 + timedelta(hours=2), rng)
        assert target is not None and T0 <= target <= T0 + timedelta(hours=2)
    assert pick_target(T0, T0, rng) is None
