"""Stage 10, export: a published partition into Redis under a versioned prefix.

The Beam part only loads keys. Everything that decides what readers see (refusing an
unpublished partition, cleaning partial loads, verifying the load, the pointer flip,
retention) runs in the job's launcher, in `online/store.py`.
"""
from __future__ import annotations

import apache_beam as beam

from online.store import connect
from pipelines.beam.progress import stage_timer
from pipelines.core.serving import encode_list, entity_id, list_key, loading_key, served_columns
from warehouse.files import read_rows


class _WriteBatch(beam.DoFn):
    def __init__(self, url: str, ns: str, table: str, version: str, lease_s: int):
        self.url, self.ns, self.table, self.version, self.lease_s = url, ns, table, version, lease_s

    def setup(self):
        self.client = connect(self.url)

    def process(self, rows):
        with stage_timer("export"):
            pipe = self.client.pipeline(transaction=False)
            for row in rows:
                pipe.set(list_key(self.ns, self.table, self.version, entity_id(self.table, row)),
                         encode_list(row["queries"]))
            # The lease says "being loaded": cleanup of partial versions leaves it alone. SET
            # (not EXPIRE) so a lease that ran out during a slow batch is taken again.
            pipe.set(loading_key(self.ns, self.table, self.version), "1", ex=self.lease_s)
            pipe.execute()
        yield len(rows)

    def teardown(self):
        client = getattr(self, "client", None)
        if client is not None:
            client.close()


class LoadPartition(beam.PTransform):
    """Parquet files of a published partition → keys of one version; returns the row count."""

    def __init__(self, files: list[str], url: str, ns: str, table: str, version: str, batch_size: int,
                 lease_s: int):
        super().__init__()
        self.files, self.url, self.ns, self.table = files, url, ns, table
        self.version, self.batch_size, self.lease_s = version, batch_size, lease_s

    def expand(self, pbegin):
        return (
            pbegin
            | "Files" >> beam.Create(self.files)
            | "ReadRows" >> beam.FlatMap(read_rows, served_columns(self.table))
            | "Batch" >> beam.BatchElements(min_batch_size=self.batch_size, max_batch_size=self.batch_size)
            | "WriteBatches" >> beam.ParDo(_WriteBatch(self.url, self.ns, self.table, self.version,
                                                       self.lease_s))
            | "CountRows" >> beam.CombineGlobally(sum)
        )
