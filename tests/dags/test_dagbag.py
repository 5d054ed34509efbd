"""DAG integrity, in the Airflow environment (which has none of the pipeline's libraries)."""
import time
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_every_dag_imports_and_hintq_nightly_is_wired():
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(DAGS))
    print(f"parsed {len(bag.dags)} DAG(s) in {time.perf_counter() - started:.2f}s")  # measured, not asserted
    assert bag.import_errors == {}
    dag = bag.dags["hintq_nightly"]
    assert {t.task_id for t in dag.tasks} == {"wait_for_events", "wait_for_catalog", "x2q", "u2q",
                                              "export_x2q", "export_u2q", "evaluate", "train_ranker", "maintain"}
    # Think before Direct: u2q fills short lists from the day's x2q lists.
    for wait in ("wait_for_events", "wait_for_catalog"):
        assert dag.get_task(wait).downstream_task_ids == {"x2q", "evaluate", "train_ranker"}
    assert dag.get_task("x2q").downstream_task_ids == {"u2q", "export_x2q"}
    assert dag.get_task("u2q").downstream_task_ids == {"export_u2q"}
    # Snapshot expiry and orphan removal once both tables are published and served.
    assert dag.get_task("maintain").upstream_task_ids == {"export_x2q", "export_u2q"}
    assert "-m hintq.cli maintain --warehouse" in dag.get_task("maintain").bash_command
    assert dag.catchup is False and dag.max_active_runs == 1
    for table in ("x2q", "u2q"):
        job = dag.get_task(table)
        assert job.py_file == "jobs.nightly" and job.py_options == ["-m"]
        assert job.pipeline_options["table"] == table and job.pipeline_options["dt"] == "{{ ds }}"
        assert job.retries >= 1 and job.py_interpreter.endswith("python")
        assert job.depends_on_past == (table == "u2q"), "u2q reads the day before's profile memory"
        export = dag.get_task(f"export_{table}")
        assert export.py_file == "jobs.export_redis" and export.pipeline_options["table"] == table
    # Day D's events are the held-out day of D-1: the evaluation scores yesterday.
    evaluate = dag.get_task("evaluate")
    assert "-m jobs.evaluate" in evaluate.bash_command
    assert "--dt {{ macros.ds_add(ds, -1) }}" in evaluate.bash_command
    assert evaluate.skip_on_exit_code == [99], "nothing to evaluate yet is a skip, not a failure"
    # The same day's events label yesterday's candidates: the ranker of D-1, before u2q of D.
    train = dag.get_task("train_ranker")
    assert "-m jobs.train_ranker" in train.bash_command
    assert "--dt {{ macros.ds_add(ds, -1) }}" in train.bash_command
    assert train.skip_on_exit_code == [99] and train.downstream_task_ids == {"u2q"}
    # A skipped training (a first night) must not skip the night; a failed one stops it.
    assert dag.get_task("u2q").trigger_rule == "none_failed"
    assert dag.get_task("x2q").trigger_rule == "all_success"


def test_dag_file_imports_nothing_from_the_pipeline_environment():
    source = (DAGS / "hintq_nightly.py").read_text()
    for heavy in ("apache_beam", "vllm", "torch", "pipelines", "jobs.", "polars", "pandas"):
        assert f"import {heavy}" not in source and f"from {heavy}" not in source


def test_hintq_train_is_weekly_with_ds_windows():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    dag = bag.dags["hintq_train"]
    assert dag.catchup is False and dag.max_active_runs == 1
    samples = sorted((t for t in dag.tasks if t.task_id.startswith("samples_")), key=lambda t: -int(t.task_id[8:]))
    # the held-out day (ds-1) and the 7 prompt days before it, every one a ds-relative day
    assert [t.pipeline_options["dt"] for t in samples] == [
        f"{{{{ macros.ds_add(ds, -{k}) }}}}" for k in range(8, 0, -1)]
    assert all(t.py_file == "jobs.build_samples" and t.retries >= 1 for t in samples)
    assert dag.get_task("wait_for_answers").downstream_task_ids == {"samples_8"}
    assert dag.get_task("samples_1").downstream_task_ids == {"train_direct"}
    assert dag.get_task("train_direct").downstream_task_ids == {"train_think"}
    for generator in ("direct", "think"):
        job = dag.get_task(f"train_{generator}")
        assert "-m jobs.train_generator" in job.bash_command and f"--task {generator}" in job.bash_command
        assert "--holdout {{ macros.ds_add(ds, -1) }}" in job.bash_command
        assert "train.window_days=7" in job.bash_command
        assert job.skip_on_exit_code == [99] and job.retries >= 1
    source = (DAGS / "hintq_train.py").read_text()
    for heavy in ("apache_beam", "vllm", "torch", "pipelines", "jobs.", "polars", "pandas"):
        assert f"import {heavy}" not in source and f"from {heavy}" not in source


def test_the_dataflow_variant_launches_the_same_jobs_on_dataflow_and_starts_paused():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    dag = bag.dags["hintq_nightly_dataflow"]
    assert dag.is_paused_upon_creation and dag.catchup is False
    assert dag.get_task("x2q").downstream_task_ids == {"u2q"}
    for table in ("x2q", "u2q"):
        job = dag.get_task(table)
        assert job.runner == "DataflowRunner" and job.py_file == "jobs.nightly"
        assert job.pipeline_options["table"] == table and job.pipeline_options["dt"] == "{{ ds }}"
        assert job.dataflow_config.job_name.startswith(f"hintq-{table}-")
        assert job.pipeline_options["sdk_container_image"] and job.pipeline_options["number_of_worker_harness_threads"] == 1
    source = (DAGS / "hintq_nightly_dataflow.py").read_text()
    for heavy in ("apache_beam", "vllm", "torch", "pipelines", "jobs.", "polars", "pandas"):
        assert f"import {heavy}" not in source and f"from {heavy}" not in source
