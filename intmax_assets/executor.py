"""The executor of the code location's runs, chosen by INTMAX_EXECUTOR."""

import dagster as dg

from intmax_core.config import Settings


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    """in_process (the default): a run's steps one after another in the run's own process. The
    multiprocess default would start a Python process per step (about 20 s each on 2 busy cores,
    measured by scripts/soak_indexing.py) to run steps that take a second or two: a tail run of four
    streams took 80-115 s instead of ~10 s. Parallelism comes from separate runs instead.

    celery: every step is a Celery task that an `intmax worker` process (on any host) executes; the
    run's process only submits the steps and follows their results. Workers load the job from the
    run's origin (this code location's module) with the settings of their own environment.

    k8s: every step in its own Kubernetes Job (dagster-k8s), configured like the run's pod by the
    K8sRunLauncher (image, env from the ConfigMap and Secret).

    Steps exchange nothing but what they write to the warehouse (assets declare `deps`, never
    inputs), so no executor needs storage shared between hosts.
    """
    if settings.executor == "celery":
        from dagster_celery import celery_executor  # imports Celery: only when it is used

        broker = settings.celery_broker_url
        # The broker URL stays in this executor definition, in this process: Dagster stores no
        # executor config in the run or its snapshots, so a password in the URL is not persisted.
        return celery_executor.configured(
            {"broker": broker, "backend": settings.celery_backend_url or broker}, name="celery"
        )
    if settings.executor == "k8s":
        from dagster_k8s import k8s_job_executor  # imports the Kubernetes client: only when used

        return k8s_job_executor
    return dg.in_process_executor
