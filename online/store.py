"""What readers of the online store can see: partition checks, load verification, the
pointer flip, rollback, retention and cleanup of partial loads. Plain redis-py; no Beam."""
from __future__ import annotations

import logging
import time

from pipelines.core.serving import (decode_list, encode_list, entity_id, history_key, list_key, loading_key,
                                    loads_key, pointer_key, pointer_missing, rows_key, served_columns,
                                    version_prefix, version_problem)
from pipelines.core.text import stable_hash
from warehouse.files import read_published, read_rows, sha256_file
from warehouse.iceberg import CatalogError
from warehouse.manifest import ManifestError

log = logging.getLogger(__name__)


class ExportError(RuntimeError):
    """The export cannot go on; the pointer still names the previous version."""


def connect(url: str):
    """A client that fails fast: no silent retries, so a dropped server fails the load."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30,
                                  retry=Retry(NoBackoff(), 0))
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        raise ExportError(f"Redis at {url} is unreachable: {exc}") from exc
    return client


def verified_partition(warehouse: str, table: str, day: str) -> tuple[dict, list[str]]:
    """The manifest and file paths of a published day (its current Iceberg snapshot), after
    checking every file's checksum against the manifest. Raises ExportError otherwise."""
    try:
        found = read_published(warehouse, table, day)
    except (CatalogError, ManifestError) as exc:
        raise ExportError(f"{table}/dt={day} cannot be read: {exc}") from None
    if found is None:
        raise ExportError(f"{table}/dt={day} is not published in {warehouse}; refusing to export it")
    manifest, paths = found
    for f, path in zip(manifest["files"], paths):
        if not path.exists() or sha256_file(path) != f["sha256"]:
            raise ExportError(f"{path} does not match its manifest checksum; refusing to export")
    return manifest, [str(path) for path in paths]


def _delete_prefix(client, prefix: str) -> int:
    deleted = 0
    batch = []
    for key in client.scan_iter(match=prefix + "*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.unlink(*batch)
            batch = []
    if batch:
        deleted += client.unlink(*batch)
    return deleted


def count_version_keys(client, ns: str, table: str, version: str) -> int:
    return sum(1 for _ in client.scan_iter(match=version_prefix(ns, table, version) + "*", count=1000))


def begin_load(client, ns: str, table: str, version: str, lease_s: int) -> list[str]:
    """Cleans versions whose load died (no lease, never made current), then takes a lease
    for `version`. Returns the versions it cleaned."""
    cleaned = []
    history = {v.decode() for v in client.zrange(history_key(ns, table), 0, -1)}
    for raw in client.smembers(loads_key(ns, table)):
        other = raw.decode()
        if other in history or other == version or client.exists(loading_key(ns, table, other)):
            continue
        n = _delete_prefix(client, version_prefix(ns, table, other))
        client.srem(loads_key(ns, table), other)
        client.hdel(rows_key(ns, table), other)
        log.warning("removed %d keys of the partial load %s", n, other)
        cleaned.append(other)
    client.sadd(loads_key(ns, table), version)
    client.set(loading_key(ns, table, version), "1", ex=lease_s)
    return cleaned


def sample_rows(files: list[str], table: str, sample: int, total_rows: int):
    """A stable sample of about `sample` rows spread over every file: the rows whose id
    hashes to 0 modulo total/sample (every row of a table smaller than the sample)."""
    modulus = max(1, total_rows // max(1, sample))
    for path in files:
        for row in read_rows(path, served_columns(table)):
            if stable_hash(entity_id(table, row)) % modulus == 0:
                yield row


def verify_load(client, ns: str, table: str, version: str, expected_rows: int, files: list[str],
                sample: int = 500) -> dict:
    """Key count == manifest rows, and a stable sample of rows (about `sample`, from every
    file) round-trips exactly. Raises ExportError naming what is wrong."""
    n = count_version_keys(client, ns, table, version)
    if n != expected_rows:
        raise ExportError(f"version {version} holds {n} keys, the manifest says {expected_rows}")
    checked, missing = 0, []
    for row in sample_rows(files, table, sample, expected_rows):
        row_id = entity_id(table, row)
        value = client.get(list_key(ns, table, version, row_id))
        if value is None:
            missing.append(row_id)
        elif value != encode_list(row["queries"]) or \
                [s.query for s in decode_list(value)] != [q["query"] for q in row["queries"]]:
            raise ExportError(f"row {row_id} did not round-trip in version {version}")
        checked += 1
    if missing:
        raise ExportError(f"version {version}: {len(missing)} of {checked} sampled rows have no key "
                          f"(e.g. {missing[0]})")
    return {"keys": n, "sampled": checked}


def served_version(client, ns: str, table: str) -> str:
    """The version readers use. Raises ExportError saying what happened when the pointer
    is gone: nothing was ever exported, or the pointer was deleted while versions remain
    (and how to recover)."""
    value = client.get(pointer_key(ns, table))
    if value is not None:
        return value.decode()
    history = [v.decode() for v in client.zrange(history_key(ns, table), 0, -1)]
    if not history:
        raise ExportError(f"{pointer_key(ns, table)} is not set: nothing exported yet")
    raise ExportError(pointer_missing(ns, table, history))


def check_version(client, ns: str, table: str, version: str) -> dict:
    """How a version stands against the rows its manifest promised (recorded when it
    became current): {"version", "expected_rows", "keys", "problem"}; problem is None
    for a complete version."""
    expected = client.hget(rows_key(ns, table), version)
    keys = count_version_keys(client, ns, table, version)
    expected = int(expected) if expected is not None else None
    return {"version": version, "expected_rows": expected, "keys": keys,
            "problem": version_problem(table, version, keys, expected)}


def flip(client, ns: str, table: str, version: str, rows: int) -> str | None:
    """Points readers at `version` with one SET (in a transaction with the history entry
    and the row count its manifest promised). Returns the version it replaced."""
    previous = client.get(pointer_key(ns, table))
    tx = client.pipeline(transaction=True)
    tx.set(pointer_key(ns, table), version)
    tx.hset(rows_key(ns, table), version, rows)
    tx.zadd(history_key(ns, table), {version: time.time()})
    tx.delete(loading_key(ns, table, version))
    tx.srem(loads_key(ns, table), version)
    tx.execute()
    return previous.decode() if previous else None


def rollback(client, ns: str, table: str, to: str | None = None) -> str:
    """Flips the pointer back to the version that was current before this one, or to the
    exported version `to` (also the way back when the pointer itself was deleted). The
    target must still hold every list its manifest promised."""
    current = client.get(pointer_key(ns, table))
    history = [v.decode() for v in client.zrange(history_key(ns, table), 0, -1)]
    current = current.decode() if current is not None else None
    if to is None:
        if current is None:
            if history:
                raise ExportError(pointer_missing(ns, table, history))
            raise ExportError(f"{pointer_key(ns, table)} is not set: nothing exported yet, nothing to roll back")
        older = history[: history.index(current)] if current in history else []
        if not older:
            raise ExportError(f"no version older than {current} to roll back to")
        to = older[-1]
    elif to not in history:
        raise ExportError(f"version {to} was never made current here; exported versions: {history or 'none'}")
    health = check_version(client, ns, table, to)
    if health["keys"] == 0 or (health["problem"] and health["expected_rows"] is not None):
        raise ExportError(f"cannot roll back to {to}: {health['problem'] or 'it has no keys left'}")
    tx = client.pipeline(transaction=True)
    tx.set(pointer_key(ns, table), to)
    if current is not None and current != to and current in history \
            and history.index(current) > history.index(to):
        tx.zrem(history_key(ns, table), current)  # a rolled-back version is not 'the one before'
        tx.sadd(loads_key(ns, table), current)  # its keys are cleaned like any partial load
    tx.execute()
    return to


def apply_retention(client, ns: str, table: str, keep_days: float, now: float | None = None) -> list[str]:
    """Deletes versions older than `keep_days`, never the current one or the one before it."""
    now = time.time() if now is None else now
    history = [(v.decode(), score) for v, score in client.zrange(history_key(ns, table), 0, -1, withscores=True)]
    current = (client.get(pointer_key(ns, table)) or b"").decode()
    versions = [v for v, _ in history]
    protected = {current}
    if current in versions and versions.index(current) > 0:
        protected.add(versions[versions.index(current) - 1])
    removed = []
    for version, became_current in history:
        if version in protected or now - became_current < keep_days * 86400:
            continue
        _delete_prefix(client, version_prefix(ns, table, version))
        client.zrem(history_key(ns, table), version)
        client.hdel(rows_key(ns, table), version)
        removed.append(version)
    return removed
