"""Input contracts: behaviour events and the catalog snapshot, one `dt=` partition a day."""
import pyarrow as pa

SCHEMA_VERSION = b"1"

EVENT_TYPES = ("view", "click", "cart", "purchase", "search")

EVENTS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False, metadata={"description": b"shopper id"}),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False,
                 metadata={"description": b"event time, UTC"}),
        pa.field("event_type", pa.string(), nullable=False,
                 metadata={"description": b"one of view, click, cart, purchase, search"}),
        pa.field("item_id", pa.string(), nullable=True,
                 metadata={"description": b"catalog item; null for search"}),
        pa.field("query", pa.string(), nullable=True,
                 metadata={"description": b"typed search text; null unless search"}),
    ],
    metadata={"table": b"events", "version": SCHEMA_VERSION},
)

CATALOG_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("title", pa.string(), nullable=True),
        pa.field("category_path", pa.string(), nullable=True,
                 metadata={"description": b"e.g. 'Sports > Running > Shoes'"}),
        pa.field("brand", pa.string(), nullable=True),
        pa.field("price", pa.float64(), nullable=True),
        pa.field("first_seen", pa.date32(), nullable=True),
    ],
    metadata={"table": b"catalog", "version": SCHEMA_VERSION},
)

# Columns a file may lack: filled with nulls (documented cast, counted in the manifest).
# Any other missing column is a schema error naming the file and the column.
OPTIONAL_COLUMNS = {"events": ("item_id", "query"), "catalog": ("title", "category_path", "brand",
                                                               "price", "first_seen")}

INPUT_SCHEMAS = {"events": EVENTS_SCHEMA, "catalog": CATALOG_SCHEMA}
