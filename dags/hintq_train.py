"""hintq_train: every week, fine-tune both generators on the shop's own logs (IL-SFT).

For the run of `ds`, the held-out day is ds-1 (its answers are the behaviour of ds). The
samples of the WINDOW prompt days before it and of the held-out day itself are (re)built
from the published nights and the raw events (`samples_<k>`: prompt day ds-k, answers of
ds-k+1); then `train_direct` and `train_think` fine-tune on the window, register a new
version each, and promote it only if it beats the served one on the held-out day. Nights
that run with `generate.model=registry:promoted` serve the promoted versions from the
next night on.

Thin by design, like hintq_nightly: the schedule, `{{ ds }}`-based windows, retries; the
jobs run in the pipeline environment's interpreter; this file imports nothing of it.
Settings (besides hintq_nightly's HINTQ_INPUT, HINTQ_WAREHOUSE, HINTQ_PIPELINE_PYTHON,
HINTQ_RUNNER, HINTQ_CONFIG):
    HINTQ_TRAIN_WINDOW_DAYS  prompt days a version learns from (7); passed to the job as
                             train.window_days, so the samples built and read agree
    HINTQ_TRAIN_DEVICE       cpu or cuda (cpu)
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
CONFIG = os.environ.get("HINTQ_CONFIG", "")
WINDOW = int(os.environ.get("HINTQ_TRAIN_WINDOW_DAYS", "7"))
DEVICE = os.environ.get("HINTQ_TRAIN_DEVICE", "cpu")


@dag(
    dag_id="hintq_train",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["hintq"],
    default_args={"retries": 1, "retry_delay": timedelta(minutes=10)},
    doc_md=__doc__,
)
def hintq_train():
    @task.sensor(poke_interval=300, timeout=12 * 3600, mode="reschedule")
    def wait_for_answers(ds: str | None = None) -> bool:
        """The held-out day's answers: `<input>/events/dt=<ds>/` holds a Parquet file."""
        return any((Path(INPUT) / "events" / f"dt={ds}").glob("*.parquet"))

    def samples(days_back: int):
        options = {"dt": f"{{{{ macros.ds_add(ds, -{days_back}) }}}}", "input": INPUT, "warehouse": WAREHOUSE}
        if CONFIG:
            options["config"] = CONFIG
        return BeamRunPythonPipelineOperator(
            task_id=f"samples_{days_back}", py_file="jobs.build_samples", py_options=["-m"],
            py_interpreter=PIPELINE_PYTHON, runner=RUNNER, pipeline_options=options,
            retries=1, execution_timeout=timedelta(hours=4))

    def train(generator: str):
        args = [PIPELINE_PYTHON, "-m", "jobs.train_generator", "--task", generator, "--warehouse", WAREHOUSE,
                "--device", DEVICE, "--set", f"train.window_days={WINDOW}", *(["--config", CONFIG] if CONFIG else [])]
        return BashOperator(
            task_id=f"train_{generator}",
            bash_command=" ".join(shlex.quote(a) for a in args) + " --holdout {{ macros.ds_add(ds, -1) }}",
            cwd=str(REPO),
            skip_on_exit_code=99,  # no samples in the window yet
            retries=1,
            execution_timeout=timedelta(hours=12),
        )

    # The held-out day (1 day back) and the window before it; one at a time on a small
    # machine (each job's engine binds the cores), in date order.
    built = [samples(k) for k in range(WINDOW + 1, 0, -1)]
    wait_for_answers() >> built[0]
    for earlier, later in zip(built, built[1:]):
        earlier >> later
    # One trainer at a time for the same reason.
    built[-1] >> train("direct") >> train("think")


hintq_train()
