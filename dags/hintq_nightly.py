"""hintq_nightly: every day, wait for the day's inputs, run the x2q (Think) and then the u2q
(Direct) Beam jobs, export both tables to Redis, then expire old Iceberg snapshots
(`maintain`). Once the day's events are there, it also evaluates yesterday's tables
against them (`evaluate`, writing eval/dt=<ds - 1>/) and trains the learned ranker on
yesterday's u2q candidates labelled by them (`train_ranker`, writing
models/ranker/dt=<ds - 1>/), which the night's u2q then ranks with.

u2q runs after x2q because it fills short lists from the day's x2q lists, and after
train_ranker because it ranks with the newest ranker trained before its day. A skipped
train_ranker (no candidates of yesterday: a first night) lets u2q run with the newest
older ranker, or the hand-weighted order; a failed one stops the night, visibly.

Thin by design: the schedule, the `{{ ds }}` partition, retries. The job runs in the
pipeline environment's interpreter (HINTQ_PIPELINE_PYTHON), as a production scheduler
launches jobs on workers it shares no libraries with; this file imports nothing of it.

Settings come from the environment of the Airflow worker, with these defaults:
    HINTQ_INPUT            root holding events/ and catalog/   (data/input)
    HINTQ_WAREHOUSE        root of published tables            (data/warehouse)
    HINTQ_PIPELINE_PYTHON  interpreter of the pipeline venv    (.venv/pipeline/bin/python)
    HINTQ_RUNNER           Beam runner                         (DirectRunner)
    HINTQ_REDIS_URL        online store                        (redis://127.0.0.1:6399/0)
    HINTQ_CONFIG           JSON file of config overrides for the nightly jobs (none)
"""
from __future__ import annotations

import os
import shlex
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag, task

REPO = Path(__file__).resolve().parent.parent
INPUT = os.environ.get("HINTQ_INPUT", str(REPO / "data" / "input"))
WAREHOUSE = os.environ.get("HINTQ_WAREHOUSE", str(REPO / "data" / "warehouse"))
PIPELINE_PYTHON = os.environ.get("HINTQ_PIPELINE_PYTHON", str(REPO / ".venv" / "pipeline" / "bin" / "python"))
RUNNER = os.environ.get("HINTQ_RUNNER", "DirectRunner")
REDIS_URL = os.environ.get("HINTQ_REDIS_URL", "redis://127.0.0.1:6399/0")
CONFIG = os.environ.get("HINTQ_CONFIG", "")


def _beam_job(task_id: str, module: str, options: dict, retries: int, timeout: timedelta,
              depends_on_past: bool = False, trigger_rule: str = "all_success"):
    """One Beam job, launched as `python -m <module>` in the pipeline environment."""
    return BeamRunPythonPipelineOperator(
        depends_on_past=depends_on_past,
        trigger_rule=trigger_rule,
        task_id=task_id,
        py_file=module,
        py_options=["-m"],
        py_interpreter=PIPELINE_PYTHON,
        runner=RUNNER,
        pipeline_options=options,
        retries=retries,
        execution_timeout=timeout,
    )


@dag(
    dag_id="hintq_nightly",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["hintq"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    doc_md=__doc__,
)
def hintq_nightly():
    @task.sensor(poke_interval=60, timeout=6 * 3600, mode="reschedule")
    def wait_for_input(table: str, ds: str | None = None) -> bool:
        """True once `<input>/<table>/dt=<ds>/` holds at least one Parquet file."""
        return any((Path(INPUT) / table / f"dt={ds}").glob("*.parquet"))

    def nightly(table: str):
        # u2q of day D reads the profile memory u2q of D-1 published, so it waits for it:
        # a backfill (`airflow backfill create`) then runs the days in date order.
        # u2q: a skipped train_ranker (nothing to learn from yet) does not skip the night.
        options = {"table": table, "dt": "{{ ds }}", "input": INPUT, "warehouse": WAREHOUSE}
        if CONFIG:
            options["config"] = CONFIG
        return _beam_job(table, "jobs.nightly", options,
                         retries=1, timeout=timedelta(hours=6), depends_on_past=table == "u2q",
                         trigger_rule="none_failed" if table == "u2q" else "all_success")

    def export(table: str):
        return _beam_job(f"export_{table}", "jobs.export_redis",
                         {"table": table, "dt": "{{ ds }}", "warehouse": WAREHOUSE, "redis": REDIS_URL},
                         retries=2, timeout=timedelta(hours=2))

    # Day D's events are the held-out behaviour of D-1's lists. Not a Beam job: one day's
    # lists and two days of events are scored in one process. Exit 99 (skipped) when
    # D-1 has no published u2q yet, e.g. the first scheduled day.
    def yesterday(task_id: str, module: str):
        return BashOperator(
            task_id=task_id,
            bash_command=" ".join(shlex.quote(a) for a in (
                PIPELINE_PYTHON, "-m", module, "--input", INPUT, "--warehouse", WAREHOUSE))
            + " --dt {{ macros.ds_add(ds, -1) }}",
            cwd=str(REPO),
            skip_on_exit_code=99,
            retries=1,
            execution_timeout=timedelta(hours=2),
        )

    # Day D's events label the candidates of D-1: the ranker of D-1 (the night of D uses it).
    train_ranker = yesterday("train_ranker", "jobs.train_ranker")
    evaluate = yesterday("evaluate", "jobs.evaluate")

    x2q, u2q = nightly("x2q"), nightly("u2q")
    inputs = [wait_for_input.override(task_id="wait_for_events")("events"),
              wait_for_input.override(task_id="wait_for_catalog")("catalog")]
    # Labels and targets need the day's catalog too: an engaged item is known by it.
    inputs >> x2q >> u2q
    inputs >> train_ranker >> u2q
    inputs >> evaluate
    # After both exports: expire the tables' old Iceberg snapshots and remove the files no
    # kept snapshot needs (publish.snapshot_retention_days, publish.orphan_min_age_hours).
    maintain = BashOperator(
        task_id="maintain",
        bash_command=" ".join(shlex.quote(a) for a in (
            PIPELINE_PYTHON, "-m", "hintq.cli", "maintain", "--warehouse", WAREHOUSE,
            *(("--config", CONFIG) if CONFIG else ()))),
        cwd=str(REPO),
        retries=1,
        execution_timeout=timedelta(hours=1),
    )
    x2q >> export("x2q") >> maintain
    u2q >> export("u2q") >> maintain


hintq_nightly()
