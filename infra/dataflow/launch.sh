#!/usr/bin/env bash
# Build the Flex Template once per release, then launch a night (what the Dataflow DAG
# variant does through Airflow). Not run here: no Google Cloud access from this machine.
#   infra/dataflow/launch.sh build TAG
#   infra/dataflow/launch.sh run x2q 2026-11-02
set -euo pipefail
PROJECT=${PROJECT:?set PROJECT}; REGION=${REGION:-us-central1}; TAG=${TAG:-latest}
REPO=$REGION-docker.pkg.dev/$PROJECT/hintq
BUCKET=${BUCKET:-gs://$PROJECT-hintq}
case "$1" in
  build)
    docker build -f infra/docker/Dockerfile.gpu -t "$REPO/worker-gpu:$TAG" . && docker push "$REPO/worker-gpu:$TAG"
    docker build -f infra/dataflow/Dockerfile.launcher --build-arg LAUNCHER_BASE="${LAUNCHER_BASE:?set LAUNCHER_BASE to a release tag of gcr.io/dataflow-templates-base/python311-template-launcher-base}" \
      -t "$REPO/launcher:$TAG" . && docker push "$REPO/launcher:$TAG"
    gcloud dataflow flex-template build "$BUCKET/templates/hintq-nightly-$TAG.json" \
      --image "$REPO/launcher:$TAG" --sdk-language PYTHON \
      --metadata-file infra/dataflow/flex_template_metadata.json ;;
  run)
    table=$2; day=$3
    gcloud dataflow flex-template run "hintq-$table-${day//-/}" --region "$REGION" \
      --template-file-gcs-location "$BUCKET/templates/hintq-nightly-$TAG.json" \
      --parameters table="$table",dt="$day",input="$BUCKET/input",warehouse="$BUCKET/warehouse" \
      --parameters sdk_container_image="$REPO/worker-gpu:$TAG" \
      --parameters experiments=use_runner_v2 \
      --parameters dataflow_service_options="worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver" \
      --parameters machine_type=g2-standard-8,max_num_workers=${WORKERS:-16},number_of_worker_harness_threads=1 ;;
  *) echo "usage: $0 build TAG | run TABLE DAY" >&2; exit 2 ;;
esac
