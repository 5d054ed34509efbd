"""pyarrow schemas of every table HintQ reads or writes, declared once.

Readers, writers and tests import these constants; nothing infers a schema.
"""
from schemas.candidates import CANDIDATES_SCHEMA
from schemas.history_counts import HISTORY_PAIRS_SCHEMA, HISTORY_SEARCHED_SCHEMA
from schemas.inputs import CATALOG_SCHEMA, EVENTS_SCHEMA
from schemas.profiles import PROFILES_SCHEMA
from schemas.real_queries import REAL_QUERIES_SCHEMA
from schemas.rejected import REJECTED_SCHEMA
from schemas.samples import SAMPLES_SCHEMA, SAMPLES_SET_ASIDE_SCHEMA
from schemas.u2q import SUGGESTION_TYPE, U2Q_SCHEMA
from schemas.x2q import X2Q_SCHEMA

__all__ = ["CANDIDATES_SCHEMA", "HISTORY_PAIRS_SCHEMA", "HISTORY_SEARCHED_SCHEMA", "CATALOG_SCHEMA", "EVENTS_SCHEMA", "PROFILES_SCHEMA", "REAL_QUERIES_SCHEMA", "REJECTED_SCHEMA", "SAMPLES_SCHEMA", "SAMPLES_SET_ASIDE_SCHEMA", "SUGGESTION_TYPE", "U2Q_SCHEMA", "X2Q_SCHEMA"]
