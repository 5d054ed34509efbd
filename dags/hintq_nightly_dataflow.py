"""hintq_nightly_dataflow: the production variant of hintq_nightly. The same nightly jobs,
launched on Google Cloud Dataflow (Beam provider operator with a DataflowConfiguration),
GPU workers running the image of infra/docker/Dockerfile.gpu. Paused when created: enable
this DAG or hintq_nightly, not both. Export, evaluation and ranker training are the tasks
of hintq_nightly (they run where the warehouse is readable); this variant runs the two
Beam jobs, which are what needs GPUs.

Settings from the Airflow worker's environment (no defaults that could reach a real project):
    HINTQ_GCP_PROJECT, HINTQ_GCP_REGION (us-central1)
    HINTQ_GCS_ROOT         gs://bucket/prefix holding input/ and warehouse/
    HINTQ_WORKER_IMAGE     the worker container (infra/dataflow/launch.sh build)
    HINTQ_PIPELINE_PYTHON  interpreter with the pipeline package installed (the launcher side)
    HINTQ_MAX_WORKERS      (16)
"""
from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator
from airflow.providers.google.cloud.operators.dataflow import DataflowConfiguration
from airflow.sdk import dag

PROJECT = os.environ.get("HINTQ_GCP_PROJECT", "set-HINTQ_GCP_PROJECT")
REGION = os.environ.get("HINTQ_GCP_REGION", "us-central1")
ROOT = os.environ.get("HINTQ_GCS_ROOT", "gs://set-HINTQ_GCS_ROOT")
IMAGE = os.environ.get("HINTQ_WORKER_IMAGE", "set-HINTQ_WORKER_IMAGE")
PIPELINE_PYTHON = os.environ.get("HINTQ_PIPELINE_PYTHON", "python3")
MAX_WORKERS = int(os.environ.get("HINTQ_MAX_WORKERS", "16"))


@dag(
    dag_id="hintq_nightly_dataflow",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    tags=["hintq", "dataflow"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    doc_md=__doc__,
)
def hintq_nightly_dataflow():
    def nightly(table: str):
        return BeamRunPythonPipelineOperator(
            task_id=table,
            py_file="jobs.nightly",
            py_options=["-m"],
            py_interpreter=PIPELINE_PYTHON,
            runner="DataflowRunner",
            pipeline_options={
                "table": table, "dt": "{{ ds }}", "input": f"{ROOT}/input", "warehouse": f"{ROOT}/warehouse",
                "temp_location": f"{ROOT}/tmp", "staging_location": f"{ROOT}/staging",
                "sdk_container_image": IMAGE, "experiments": ["use_runner_v2"],
                "dataflow_service_options": ["worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"],
                "machine_type": "g2-standard-8", "max_num_workers": MAX_WORKERS,
                # one SDK process per worker VM: one vLLM engine per GPU
                "number_of_worker_harness_threads": 1,
            },
            dataflow_config=DataflowConfiguration(
                job_name=f"hintq-{table}-{{{{ ds_nodash }}}}", project_id=PROJECT, location=REGION,
                wait_until_finished=True, drain_pipeline=False),
            depends_on_past=table == "u2q",
            retries=1,
            execution_timeout=timedelta(hours=6),
        )

    nightly("x2q") >> nightly("u2q")


hintq_nightly_dataflow()
