"""Rejected rows: every input row that is not used, with the stage and reason that set it aside."""
import pyarrow as pa

REJECTED_SCHEMA = pa.schema(
    [
        pa.field("table", pa.string(), nullable=False, metadata={"description": b"events | catalog"}),
        pa.field("stage", pa.string(), nullable=False, metadata={"description": b"validate | sessionize"}),
        pa.field("reason", pa.string(), nullable=False, metadata={"description": b"snake_case code"}),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_row", pa.int64(), nullable=False),
        pa.field("detail", pa.string(), nullable=True),
        pa.field("original", pa.string(), nullable=False,
                 metadata={"description": b"the original row as JSON (bytes backslash-escaped)"}),
    ],
    metadata={"table": b"rejected", "version": b"1"},
)
