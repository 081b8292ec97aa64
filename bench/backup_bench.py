"""Benchmark: the backup verifier's integrity hashing and restore drill, in one run.

    python bench/backup_bench.py            # 2 GiB object, the 1.5 M-guest demo database
    python bench/backup_bench.py --quick    # small smoke run (seconds)

1. Integrity throughput: ``dbhealth-backup-verify --check integrity`` on one object in a
   local S3 (moto's server), against ``curl <presigned URL> | sha256sum`` of the same
   bytes from the same server, alternated, in the same run. Ours is the verifier's own
   timing of the streamed GET + hash (the audit row's duration).
2. Peak RSS of the verifier process while it hashes that object (``wait4`` rusage).
3. The restore drill of the demo database (``bench/.cache``, SPEC 9 scale) with
   ``drill.jobs`` 1 and 2 (the machine has 2 cores), phases from the audit row, beside a
   plain ``pg_restore`` of the same archive from a local file, single job and ``-j 2``.

Writes bench/results/backup.json and the marked backup section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median
from typing import Any, cast

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
import yaml

from backup.pgtools import libpq_env, tool
from bench import dataset
from bench.backup_report import write_section
from demo.cluster import LocalCluster
from exporter.migrate import migrate
from tests.backup.moto_s3 import ACCESS_KEY, SECRET_KEY, MotoServer

REPO = Path(__file__).resolve().parent.parent
VERIFY = [sys.executable, "-m", "backup"]
MiB = 1 << 20


def log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def region(moto: MotoServer, bucket: str) -> dict[str, Any]:
    return {"region": "eu-west-2", "bucket": bucket, "prefix": "wedsync/", "endpoint_url": moto.url,
            "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY, "addressing_style": "path"}


def _hwm_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return 0.0


def run_verifier(config: dict[str, Any], workdir: Path, *checks: str) -> tuple[int, float, str]:
    """Run the real CLI; returns (exit code, peak RSS MiB, stdout).

    The peak is VmHWM of the verifier's own address space, sampled every 20 ms until it
    exits. Not wait4's ru_maxrss: Linux carries the pre-exec high-water mark into it,
    i.e. the fork of this (much larger) benchmark process.
    """
    path = workdir / "verify.yml"
    path.write_text(yaml.safe_dump(config))
    argv = [*VERIFY, "--config.file", str(path), *(a for c in checks for a in ("--check", c))]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _hwm_mib(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    sampler.join()
    return proc.returncode, peak[0], out.decode()


def last_row(dsn: str, check: str) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute("SELECT duration_seconds, file_size, verification_status, details "
                           "FROM backup_verification_audit WHERE check_type = %s ORDER BY id DESC LIMIT 1",
                           (check,))
        row = cur.fetchone()
    assert row is not None
    return {"seconds": row[0], "bytes": row[1], "status": row[2], "details": row[3]}


def integrity(moto: MotoServer, audit_dsn: str, size_mib: int, reps: int, workdir: Path) -> dict[str, Any]:
    client = moto.client("eu-west-2")
    bucket = moto.new_bucket("eu-west-2", "bench-integrity")
    key = "wedsync/synthetic-20261201T020000Z.dump"
    blob = workdir / "object.bin"
    digest = hashlib.sha256()
    with blob.open("wb") as sink:
        for _ in range(size_mib):
            chunk = os.urandom(MiB)
            digest.update(chunk)
            sink.write(chunk)
    log(f"integrity: uploading a {size_mib} MiB object")
    client.upload_file(str(blob), bucket, key)
    blob.unlink()
    client.put_object(Bucket=bucket, Key=key + ".sha256", Body=f"{digest.hexdigest()}  x\n".encode())
    config = {"s3": {"primary": region(moto, bucket), "read_timeout_seconds": 600},
              "production": {"url": audit_dsn}, "scratch": {"url": audit_dsn},
              "integrity": {"regions": ["primary"]}, "progress_interval_seconds": 3600}
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600)
    ours, theirs, rss = [], [], []
    for rep in range(reps):
        code, peak, out = run_verifier(config, workdir, "integrity")
        row = last_row(audit_dsn, "integrity")
        assert code == 0 and row["status"] == "passed", out
        ours.append(row["bytes"] / MiB / row["seconds"])
        rss.append(peak)
        started = time.perf_counter()
        done = subprocess.run(f"curl -sf '{url}' | sha256sum", shell=True, capture_output=True, text=True,
                              check=True)
        seconds = time.perf_counter() - started
        assert done.stdout.split()[0] == digest.hexdigest()
        theirs.append(size_mib / seconds)
        log(f"integrity rep {rep + 1}: ours {ours[-1]:.0f} MiB/s (peak RSS {peak:.1f} MiB), "
            f"curl | sha256sum {theirs[-1]:.0f} MiB/s")
    return {"object_mib": size_mib, "reps": reps, "ours_mib_s": ours, "sha256sum_mib_s": theirs,
            "ratio_median": median(o / t for o, t in zip(ours, theirs, strict=True)),
            "peak_rss_mib": rss, "chunk_bytes": 1 << 20}


def plain_restore(archive: Path, scratch: LocalCluster, jobs: int) -> float:
    with scratch.connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS plain_restore WITH (FORCE)")
        conn.execute("CREATE DATABASE plain_restore TEMPLATE template0")
    env = {**os.environ, **libpq_env(scratch.dsn("plain_restore"))}
    started = time.perf_counter()
    subprocess.run([tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", f"--jobs={jobs}",
                    "--dbname=plain_restore", str(archive)], env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    with scratch.connect() as conn:
        conn.execute("DROP DATABASE plain_restore WITH (FORCE)")
    return seconds


def drill(moto: MotoServer, production: LocalCluster, scratch: LocalCluster, reps: int,
          workdir: Path) -> dict[str, Any]:
    from backup.producer import Destination, dump_to_s3

    dsn = production.dsn(dataset.DBNAME)
    migrate(dsn, progress=lambda _m: None)
    bucket = moto.new_bucket("eu-west-2", "bench-drill")
    client = moto.client("eu-west-2")
    log("drill: pg_dump of the demo database into the local S3")
    started = time.perf_counter()
    produced = dump_to_s3(dsn, dataset.DBNAME, Destination(client, bucket, "wedsync/", "eu-west-2"), [],
                          lambda _m: None)
    dump_seconds = time.perf_counter() - started
    archive = workdir / "archive.dump"
    client.download_file(bucket, produced.key, str(archive))
    config = {"s3": {"primary": region(moto, bucket), "read_timeout_seconds": 600},
              "production": {"url": dsn}, "scratch": {"url": scratch.dsn()},
              "drill": {"database": "bench_drill"}, "progress_interval_seconds": 3600}
    results: dict[str, Any] = {"archive_mib": produced.size / MiB, "pg_dump_seconds": dump_seconds,
                               "ours": {}, "plain": {}}
    for rep in range(reps):
        for jobs in (1, 2):
            code, _, out = run_verifier({**config, "drill": {"database": "bench_drill", "jobs": jobs}},
                                        workdir, "completeness")
            assert code == 0, out
            row = last_row(dsn, "restore")
            phases = {"rto": row["seconds"], **row["details"]["phases"]}
            results["ours"].setdefault(str(jobs), []).append(phases)
            plain = plain_restore(archive, scratch, jobs)
            results["plain"].setdefault(str(jobs), []).append(plain)
            log(f"drill rep {rep + 1}, {jobs} job(s): ours RTO {row['seconds']:.1f}s "
                f"({row['details']['phases']}), plain pg_restore {plain:.1f}s")
    return results


def facts(production: LocalCluster) -> dict[str, Any]:
    with production.connect(dataset.DBNAME) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM guests), "
                           "(SELECT count(*) FROM pg_stat_user_tables), "
                           "pg_database_size(current_database())").fetchone()
    assert row is not None
    return {"guests": row[0], "user_tables": row[1], "database_mib": cast(int, row[2]) / MiB}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--object-mib", type=int, default=None)
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "backup.json"))
    parser.add_argument("--cache-dir", default=str(REPO / "bench" / ".cache"))
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/BENCHMARKS.md")
    args = parser.parse_args()
    scale = dataset.QUICK if args.quick else dataset.FULL
    size = args.object_mib or (64 if args.quick else 2048)
    reps = args.reps or (1 if args.quick else 3)
    workdir = Path(tempfile.mkdtemp(prefix="dbhealth-bench-backup-"))
    workdir.chmod(0o755)  # the scratch cluster below runs as the postgres user
    results: dict[str, Any] = {"started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                               "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                                           "loadavg_at_start": os.getloadavg()}, "scale": scale.name}
    moto = MotoServer()
    moto.start()
    production = dataset.start_cluster(Path(args.cache_dir), scale, log)
    scratch = LocalCluster(workdir / "scratch", dataset.free_port(), extra_conf=dataset.FAST)
    scratch.initdb()
    scratch.start()
    try:
        results["dataset"] = facts(production)
        audit = production.dsn(dataset.DBNAME)
        migrate(audit, progress=lambda _m: None)
        results["integrity"] = integrity(moto, audit, size, reps, workdir)
        results["drill"] = drill(moto, production, scratch, reps, workdir)
    finally:
        results["machine"]["loadavg_at_end"] = os.getloadavg()
        scratch.stop("immediate")
        production.stop()
        moto.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2, default=str))
    if not args.no_docs:
        write_section(results, REPO / "docs" / "BENCHMARKS.md")
    log(f"results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
