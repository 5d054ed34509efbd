"""The Beam stage tests run on the runner the jobs give `--runner=DirectRunner`
(jobs.runner.EmbeddedRunner), not on Beam's DirectRunner, which tries Prism first."""
from apache_beam.testing.test_pipeline import TestPipeline

# Beam's hook for pytest: the options every TestPipeline() is built with.
TestPipeline.pytest_test_pipeline_options = "--runner=jobs.runner.EmbeddedRunner"
