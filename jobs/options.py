"""Every HintQ job flag, in one PipelineOptions class.

Beam registers each direct PipelineOptions subclass in one global parser, so two job
classes that both declare `--dt` conflict as soon as both are imported in one process
(a test session, an Airflow worker). One class for all jobs avoids that; no flag is
`required=True` for the same reason: each job checks its own with `require()`.
"""
from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.core.config import NIGHTLY_TABLES
from pipelines.core.normalize import DEFAULT_BLOCKLIST


class HintQOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        # shared
        parser.add_argument("--dt", default=None, help="partition day, YYYY-MM-DD")
        parser.add_argument("--warehouse", default=None, help="root of published tables")
        parser.add_argument("--table", default="u2q", choices=list(NIGHTLY_TABLES),
                            help="which nightly table to build, or to export")
        # nightly
        parser.add_argument("--input", default=None, help="root holding events/ and catalog/")
        # No default here: the default lives in core/config.py, and an explicit --model
        # outranks --config and --set (pipelines.core.config.resolve_config).
        parser.add_argument("--model", default=None,
                            help="generator model: the packaged default or a model folder (generate.model)")
        parser.add_argument("--config", default=None, help="JSON file of config overrides")
        parser.add_argument("--set", dest="overrides", action="append", default=[],
                            help="one config override, e.g. --set rank.k=20 (repeatable)")
        parser.add_argument("--blocklist", default=str(DEFAULT_BLOCKLIST))
        parser.add_argument("--bootstrap", action="store_true",
                            help="u2q: start from empty profile memory when the day before has none")
        # export_redis
        parser.add_argument("--redis", default="redis://127.0.0.1:6399/0")
        parser.add_argument("--namespace", default="hintq")
        parser.add_argument("--keep_days", type=float, default=7.0,
                            help="versions older than this are deleted (never current or the one before)")
        parser.add_argument("--write_batch", type=int, default=1000, help="keys per pipelined round trip")
        parser.add_argument("--lease_s", type=int, default=300,
                            help="a load silent this long is taken as dead and its keys cleaned")

    def require(self, *names: str) -> None:
        missing = [f"--{n}" for n in names if not getattr(self, n)]
        if missing:
            raise ValueError(f"missing required options: {', '.join(missing)}")
