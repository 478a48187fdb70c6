"""The deployment files: Dagster instance profiles for Kubernetes and Docker, the Helm values, the Dockerfile.

Each file is checked by the code that will read it: Dagster's own instance-config validation and
launcher loading (the profiles), a real PostgreSQL-backed DagsterInstance built from each profile,
Dagster's Kubernetes Job construction (what a run pod gets), the Helm chart's JSON schema (vendored,
tests/data/helm/SOURCE.md) over the chart's defaults merged with our values, and `dagster api
grpc`'s own option parser for the code location's command. No cluster and no Docker daemon.
"""

from __future__ import annotations

import functools
import importlib
import json
import tomllib
from pathlib import Path
from typing import Any

import dagster as dg
import jsonschema_rs
import pytest
import yaml
from dagster._cli.api import api_cli
from dagster._config import process_config, resolve_to_config_type
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.utils import parse_env_var
from dagster_docker import DockerRunLauncher
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import construct_dagster_k8s_job

from tests.conftest import PROJECT_ROOT
from tests.deployment_files import (
    copy_sources,
    dockerfile_instructions,
    dockerignore_patterns,
    helm_merge,
    intmax_variables,
    is_ignored,
    load_json,
    load_yaml,
    setting_variables,
    without_remote_refs,
)

DAGSTER_HOME = PROJECT_ROOT / "dagster_home"
HELM_VALUES = PROJECT_ROOT / "deploy" / "helm" / "values.yaml"
CHART = PROJECT_ROOT / "tests" / "data" / "helm"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
PROFILES: dict[str, type] = {"dagster.k8s.yaml": K8sRunLauncher, "dagster.docker.yaml": DockerRunLauncher}
# Read by the instance YAMLs, not by the pipeline's settings (dagster_home/dagster.postgres.yaml).
INSTANCE_VARIABLES = {"INTMAX_DAGSTER_POSTGRES_URL"}
CODE_LOCATION_PORT = 3030


def _profile(name: str) -> dict[str, Any]:
    return load_yaml(DAGSTER_HOME / name)


def _instance_dir(tmp_path: Path, config: dict[str, Any]) -> str:
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    return str(tmp_path)


def _outside_the_cluster(config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The K8s profile with a kubeconfig instead of the in-cluster service account, so the launcher
    can be built here; it names a cluster that is never contacted."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "test", "user": {}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
                "current-context": "test",
            }
        )
    )
    launcher = config["run_launcher"]["config"]
    launcher.update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    return config


def _loadable(name: str, tmp_path: Path) -> dict[str, Any]:
    config = _profile(name)
    return _outside_the_cluster(config, tmp_path) if name == "dagster.k8s.yaml" else config


# --- instance profiles ------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROFILES)
def test_profile_passes_dagsters_instance_validation(name: str, tmp_path: Path) -> None:
    config, custom_instance_class = dagster_instance_config(_instance_dir(tmp_path, _profile(name)))

    assert custom_instance_class is None
    # The secret URL stays an env reference, resolved by each process from its own environment.
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "INTMAX_DAGSTER_POSTGRES_URL"}
    launcher = config["run_launcher"]
    assert getattr(importlib.import_module(launcher["module"]), launcher["class"]) is PROFILES[name]


@pytest.mark.parametrize("name", PROFILES)
def test_launcher_config_passes_the_launchers_own_schema(name: str) -> None:
    launcher_config = _profile(name)["run_launcher"]["config"]
    result = process_config(resolve_to_config_type(PROFILES[name].config_type()), launcher_config)
    assert result.success, [error.message for error in result.errors or []]


@pytest.mark.parametrize(("name", "key"), [("dagster.k8s.yaml", "env_secrets"), ("dagster.docker.yaml", "env_vars")])
def test_a_misspelled_launcher_key_is_rejected_when_the_instance_loads(name: str, key: str, tmp_path: Path) -> None:
    config = _profile(name)
    launcher_config = config["run_launcher"]["config"]
    launcher_config[key[:-1]] = launcher_config.pop(key)
    ref = InstanceRef.from_dir(_instance_dir(tmp_path, config))

    with pytest.raises(DagsterInvalidConfigError) as error:
        ref.run_launcher  # noqa: B018 - building the launcher is what validates its config
    assert key[:-1] in " ".join(problem.message for problem in error.value.errors)


def test_a_misspelled_instance_key_is_rejected(tmp_path: Path) -> None:
    config = _profile("dagster.k8s.yaml")
    config["run_launchr"] = config.pop("run_launcher")
    with pytest.raises(DagsterInvalidConfigError, match="run_launchr"):
        dagster_instance_config(_instance_dir(tmp_path, config))


@pytest.mark.parametrize("name", PROFILES)
def test_profile_builds_a_postgres_instance_with_its_launcher_and_limits(
    name: str, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dagster-postgres uses psycopg2; the bare postgresql:// would select psycopg 3 (SQLAlchemy 2.1).
    monkeypatch.setenv(
        "INTMAX_DAGSTER_POSTGRES_URL", postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    )
    config = _loadable(name, tmp_path)

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(_instance_dir(tmp_path, config))) as instance:
        assert isinstance(instance.run_launcher, PROFILES[name])
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        limits = instance.get_concurrency_config()
        assert limits.run_queue_config is not None
        assert limits.run_queue_config.max_concurrent_runs == config["concurrency"]["runs"]["max_concurrent_runs"]
        # The rpc_l1 / rpc_l2 pools keep the RPC providers' limit of the embedded instance.
        embedded = _profile("dagster.yaml")["concurrency"]["pools"]["default_limit"]
        assert limits.pool_config.default_pool_limit == embedded
        assert instance.run_monitoring_enabled
        assert instance.get_runs() == []  # the storage answers


def test_k8s_run_pod_gets_settings_from_the_configmap_and_secret_never_inline(tmp_path: Path) -> None:
    launcher = InstanceRef.from_dir(_instance_dir(tmp_path, _loadable("dagster.k8s.yaml", tmp_path))).run_launcher
    assert isinstance(launcher, K8sRunLauncher)
    run = DagsterRun(job_name="l1_indexing", run_id="0" * 32)

    # As K8sRunLauncher.launch_run builds the run's Job.
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=True)
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(
            job_image="registry.example.com/intmax-pipeline:0.1.0", run_launcher=launcher
        ),
        args=["dagster", "api", "execute_run"],
        job_name="dagster-run-0",
        pod_name="dagster-run-0",
        component="run_worker",
        user_defined_k8s_config=context.run_k8s_config,
    )

    pod = job.spec.template.spec
    container = pod.containers[0]
    assert {source.secret_ref.name for source in container.env_from if source.secret_ref} == {"intmax-pipeline-secrets"}
    assert {source.config_map_ref.name for source in container.env_from if source.config_map_ref} == {
        "intmax-pipeline-config"
    }
    assert not [variable.name for variable in container.env or [] if variable.name.startswith("INTMAX_")]
    assert container.resources.limits["memory"] and container.resources.requests["cpu"]
    assert pod.service_account_name == "intmax-dagster"
    assert context.namespace == "intmax"


def test_docker_launcher_passes_secrets_by_name_from_the_daemons_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launcher = InstanceRef.from_dir(_instance_dir(tmp_path, _profile("dagster.docker.yaml"))).run_launcher
    assert isinstance(launcher, DockerRunLauncher)
    assert launcher.networks == ["intmax"]

    # Names only: a NAME=value entry would put the value into this file.
    assert not [entry for entry in launcher.env_vars if "=" in entry]
    # Without these a run container would read a SQLite file of its own instead of the warehouse,
    # or fail to load the instance.
    assert {"INTMAX_DAGSTER_POSTGRES_URL", "INTMAX_DATABASE_URL"} <= set(launcher.env_vars)
    for name in launcher.env_vars:
        monkeypatch.setenv(name, f"value-of-{name}")
    # What the launcher does for each name when it creates a run's container.
    assert dict(parse_env_var(name) for name in launcher.env_vars) == {
        name: f"value-of-{name}" for name in launcher.env_vars
    }


# --- Helm values -------------------------------------------------------------------------------


@functools.cache
def _helm_validator(schema_path: Path) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(without_remote_refs(load_json(schema_path)), offline=True)


def _merged_values() -> dict[str, Any]:
    """What `helm install -f values.yaml` validates: the chart's defaults with ours over them."""
    return helm_merge(load_yaml(CHART / "values.yaml"), load_yaml(HELM_VALUES))


def _helm_errors(values: dict[str, Any]) -> list[str]:
    validator = _helm_validator(CHART / "values.schema.json")
    return [f"{'/'.join(map(str, error.instance_path))}: {error.message}" for error in validator.iter_errors(values)]


def test_helm_values_pass_the_charts_schema() -> None:
    assert _helm_errors(_merged_values()) == []


def test_helm_values_pass_the_user_deployments_subcharts_schema() -> None:
    parent = _merged_values()
    subchart_defaults = load_yaml(CHART / "dagster-user-deployments" / "values.yaml")
    values = helm_merge(subchart_defaults, parent["dagster-user-deployments"])
    values["global"] = helm_merge(subchart_defaults["global"], parent["global"])  # Helm passes globals down

    validator = _helm_validator(CHART / "dagster-user-deployments" / "values.schema.json")
    assert [error.message for error in validator.iter_errors(values)] == []


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["runLauncher", "config", "k8sRunLauncher", "envSecret"], [], "runLauncher/config/k8sRunLauncher"),
        (["dagsterDaemon", "runCoordinator", "type"], "QueuedRunCordinator", "dagsterDaemon/runCoordinator/type"),
        (["concurrency", "runs", "maxConcurrentRuns"], "eight", "concurrency/runs/maxConcurrentRuns"),
        (["dagster-user-deployments", "deployments", 0, "port"], "3030", "dagster-user-deployments/deployments/0/port"),
    ],
)
def test_the_charts_schema_rejects_invalid_values(path: list[str | int], value: object, where: str) -> None:
    values = json.loads(json.dumps(_merged_values()))  # a deep copy
    node: Any = values
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value

    assert any(error.startswith(where) for error in _helm_errors(values)), _helm_errors(values)


def test_helm_values_keep_the_password_out_and_match_the_profiles_and_the_image() -> None:
    values = load_yaml(HELM_VALUES)
    assert values["postgresql"]["enabled"] is False
    assert values["generatePostgresqlPasswordSecret"] is False  # the Secret is made by hand
    assert values["postgresql"]["postgresqlPassword"] == ""

    deployment = values["dagster-user-deployments"]["deployments"][0]
    k8s_launcher = _profile("dagster.k8s.yaml")["run_launcher"]["config"]
    assert [source["name"] for source in deployment["envSecrets"]] == k8s_launcher["env_secrets"]
    assert [source["name"] for source in deployment["envConfigMaps"]] == k8s_launcher["env_config_maps"]
    assert deployment["port"] == CODE_LOCATION_PORT
    # The chart runs `dagster api grpc -h 0.0.0.0 -p <port> --fixed-server-id <id> <our args>`.
    grpc = api_cli.commands["grpc"].make_context(
        "grpc",
        ["-h", "0.0.0.0", "-p", str(deployment["port"]), "--fixed-server-id", "x", *deployment["dagsterApiGrpcArgs"]],
    )
    assert (grpc.params["module_name"], grpc.params["attribute"]) == _dockerfile_code_location()[1:]


# --- Dockerfile --------------------------------------------------------------------------------


def _dockerfile_code_location() -> tuple[int, str, str]:
    """Port, module and attribute of the Dockerfile's CMD, as `dagster api grpc` parses them."""
    (cmd,) = [instruction for instruction in dockerfile_instructions(DOCKERFILE) if instruction.keyword == "CMD"]
    argv = json.loads(cmd.arguments)  # exec form: signals reach the server, not a shell
    assert argv[:3] == ["dagster", "api", "grpc"]
    params = api_cli.commands["grpc"].make_context("grpc", argv[3:]).params
    # Bound to every interface: on 127.0.0.1 no other container or pod could reach it.
    assert params["host"] == "0.0.0.0"
    return params["port"], params["module_name"], params["attribute"]


def test_dockerfile_serves_the_code_location_that_exists() -> None:
    port, module, attribute = _dockerfile_code_location()
    instructions = dockerfile_instructions(DOCKERFILE)

    assert port == CODE_LOCATION_PORT
    assert [i.arguments for i in instructions if i.keyword == "EXPOSE"] == [str(port)]
    assert isinstance(getattr(importlib.import_module(module), attribute), dg.Definitions)


def test_dockerfile_installs_the_lock_before_the_code_and_runs_as_a_created_user() -> None:
    instructions = dockerfile_instructions(DOCKERFILE)
    assert instructions[0].keyword == "FROM" and instructions[0].arguments.startswith("python:3.11-slim")
    syncs = [index for index, i in enumerate(instructions) if i.keyword == "RUN" and "uv sync" in i.arguments]
    assert syncs and all("--frozen" in instructions[index].arguments for index in syncs)
    assert all("--no-dev" in instructions[index].arguments for index in syncs)

    # Layer caching: the dependencies are installed from pyproject.toml and uv.lock alone, before
    # any source is copied, so a code change does not reinstall them.
    copies = [(index, copy_sources(i)) for index, i in enumerate(instructions) if i.keyword == "COPY"]
    first_index, first_sources = copies[0]
    assert sorted(first_sources) == ["pyproject.toml", "uv.lock"]
    assert first_index < syncs[0] < copies[1][0]

    users = [i.arguments for i in instructions if i.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert any(i.keyword == "RUN" and "useradd" in i.arguments and users[-1] in i.arguments for i in instructions)


def test_dockerfile_copies_every_package_and_nothing_dockerignore_drops() -> None:
    sources = [source for i in dockerfile_instructions(DOCKERFILE) if i.keyword == "COPY" for source in copy_sources(i)]
    patterns = dockerignore_patterns(PROJECT_ROOT / ".dockerignore")

    assert [source for source in sources if not (PROJECT_ROOT / source).exists()] == []
    assert [source for source in sources if is_ignored(source, patterns)] == []
    # The wheel build (`uv sync` installs the project) needs every package pyproject.toml lists.
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert set(packages) <= {source.strip("/") for source in sources}
    # Local state and secrets stay out of the build context.
    assert is_ignored(".env", patterns) and is_ignored(".intmax/warehouse.db", patterns)


# --- settings named in the files ---------------------------------------------------------------


def test_every_intmax_variable_the_deployment_files_name_is_a_setting() -> None:
    files = [
        DAGSTER_HOME / "dagster.k8s.yaml",
        DAGSTER_HOME / "dagster.docker.yaml",
        HELM_VALUES,
        PROJECT_ROOT / "deploy" / "helm" / "README.md",
        DOCKERFILE,
    ]
    postgres_profile = _profile("dagster.postgres.yaml")
    assert postgres_profile["storage"]["postgres"]["postgres_url"]["env"] in INSTANCE_VARIABLES
    known = setting_variables() | INSTANCE_VARIABLES

    unknown = {path.name: sorted(intmax_variables(path) - known) for path in files}
    assert unknown == {path.name: [] for path in files}
