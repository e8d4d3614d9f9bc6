"""The read-only view of a rendered RayService (model/rayservice.py) and DB_CONFIG's one parser (model/dbconfig.py)."""
from __future__ import annotations

import json

import pytest
import yaml

from raygitops.generate.serveconfig import read_serve_config_text
from raygitops.model.dbconfig import exact_db_config, is_postgres, parse_db_config, password_variable
from raygitops.model.rayservice import RayServiceView

SERVE = """\
applications:
  - name: main
    runtime_env:
      working_dir: https://example.com/apps-0123456789ab.zip
      env_vars:
        DB_CONFIG: '{"datastore_type": "postgresql", "datastore_config": {"host": "pg", "port": ${PG_PORT}}}'
    deployments:
      - name: Gateway
        num_replicas: 3
        ray_actor_options: {num_cpus: 2, runtime_env: {env_vars: {API_SERVICE_DB_CONFIG: '[]'}}}
  - name: stats
    deployments:
      - name: Stats
        autoscaling_config: {max_replicas: 5}
"""

RAYSERVICE = f"""\
apiVersion: ray.io/v1
kind: RayService
metadata: {{name: aana, namespace: aana-prod}}
spec:
  serveConfigV2: |
{''.join('    ' + line + chr(10) for line in SERVE.splitlines())}\
  rayClusterConfig:
    enableInTreeAutoscaling: true
    autoscalerOptions:
      image: rayproject/ray:2.46.0
      env: [{{name: TOKEN, value: abc}}]
    workerGroupSpecs:
      - groupName: gpu
        replicas: 9
        minReplicas: 1
        maxReplicas: 2
        numOfHosts: 2
        rayStartParams: {{num-gpus: "1"}}
        template:
          spec:
            initContainers: [{{name: init, image: busybox}}]
            containers:
              - {{name: ray-worker, image: rayproject/ray:2.46.0-gpu, resources: {{limits: {{cpu: 3500m}}}}}}
              - {{name: logs, image: fluent-bit}}
      - groupName: cpu
        template: {{spec: {{containers: [{{image: rayproject/ray:2.46.0}}]}}}}
    headGroupSpec:
      template:
        spec:
          containers: [{{name: ray-head, image: rayproject/ray:2.46.0, resources: {{limits: {{cpu: "0"}}}}}}]
"""


@pytest.fixture
def view() -> RayServiceView:
    return RayServiceView(yaml.safe_load(RAYSERVICE), yaml.compose(RAYSERVICE))


def test_groups_are_the_head_then_the_workers_in_order(view):
    assert [(g.name, g.path, g.is_head) for g in view.groups] == [
        ("head", "spec.rayClusterConfig.headGroupSpec", True),
        ("gpu", "spec.rayClusterConfig.workerGroupSpecs[gpu]", False),
        ("cpu", "spec.rayClusterConfig.workerGroupSpecs[cpu]", False)]
    assert view.worker_names == ["gpu", "cpu"]


def test_containers_by_path_with_the_autoscaler_sidecar_of_the_head(view):
    head, gpu, cpu = view.groups
    assert [c.path for c in view.containers] == [
        "spec.rayClusterConfig.headGroupSpec.template.spec.containers[ray-head]",
        "spec.rayClusterConfig.autoscalerOptions",
        "spec.rayClusterConfig.workerGroupSpecs[gpu].template.spec.initContainers[init]",
        "spec.rayClusterConfig.workerGroupSpecs[gpu].template.spec.containers[ray-worker]",
        "spec.rayClusterConfig.workerGroupSpecs[gpu].template.spec.containers[logs]",
        "spec.rayClusterConfig.workerGroupSpecs[cpu].template.spec.containers[0]"]
    [sidecar] = [c for c in view.containers if c.sidecar]
    assert sidecar.name == "autoscaler" and sidecar.env["TOKEN"]["value"] == "abc" and head.autoscaler is sidecar
    # the Ray containers: the first, and any running a Ray image; never the sidecar or init containers
    assert [c.name for c in gpu.ray_containers] == ["ray-worker"] and gpu.main_container["name"] == "ray-worker"
    assert [c.path.rsplit(".", 1)[1] for c in cpu.ray_containers] == ["containers[0]"]


def test_no_sidecar_without_in_tree_autoscaling(view):
    view.resource["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] = False
    fresh = RayServiceView(view.resource)
    assert fresh.groups[0].autoscaler is None and not any(c.sidecar for c in fresh.containers)


def test_pods_and_resources_as_kuberay_and_ray_count_them(view):
    head, gpu, cpu = view.groups
    # replicas 9 is clamped to maxReplicas 2, times numOfHosts 2; an unset maxReplicas is the CRD's 2^31-1
    assert (gpu.pod_count(at_max=False), gpu.pod_count(at_max=True)) == (4, 4)
    assert (cpu.pod_count(at_max=False), cpu.pod_count(at_max=True)) == (0, 2147483647)
    assert head.pod_count(at_max=True) == 1
    # num-gpus from rayStartParams; CPUs from the limit, rounded up; a zero limit is skipped; none: Ray guesses
    assert (gpu.ray_resource("gpu"), gpu.ray_resource("cpu")) == (1.0, 4.0)
    assert (head.ray_resource("cpu"), cpu.ray_resource("cpu"), cpu.ray_resource("gpu")) == (None, None, 0.0)


def test_the_serve_config_is_parsed_once_and_shared(view):
    other = RayServiceView(yaml.safe_load(RAYSERVICE))
    assert view.serve_config is other.serve_config is read_serve_config_text(SERVE).data
    assert [(a.name, a.path) for a in view.apps] == [
        ("main", "spec.serveConfigV2:applications[main]"), ("stats", "spec.serveConfigV2:applications[stats]")]
    main, stats = view.apps
    assert [(d.name, d.max_replicas, d.actor_resource("cpu")) for d in main.deployments + stats.deployments] == [
        ("Gateway", 3, 2.0), ("Stats", 5, 1.0)]   # Serve reserves 1 CPU when num_cpus is unset


def test_runtime_envs_and_db_configs_with_their_paths(view):
    assert [r.path for r in view.runtime_envs] == [
        "spec.serveConfigV2:applications[main].runtime_env",
        "spec.serveConfigV2:applications[main].deployments[Gateway].ray_actor_options.runtime_env"]
    app_db, actor_db = view.db_configs
    assert (app_db.var, app_db.path) == (
        "DB_CONFIG", "spec.serveConfigV2:applications[main].runtime_env.env_vars.DB_CONFIG")
    assert app_db.parsed.data == {"datastore_type": "postgresql", "datastore_config": {"host": "pg", "port": 0}}
    assert (actor_db.var, actor_db.parsed.error) == ("API_SERVICE_DB_CONFIG", "is not a JSON object")


def test_paths_have_the_lines_of_the_file(view):
    assert view.line_of("spec.rayClusterConfig.workerGroupSpecs[gpu].template.spec.containers[ray-worker]") == 36
    assert view.line_of("spec.rayClusterConfig.autoscalerOptions.env[TOKEN]") == 24
    assert view.line_of("spec.serveConfigV2:applications[main]") == 5   # a step into the string: its key
    assert RayServiceView(view.resource).line_of("spec") is None      # rendered by kustomize: no lines


@pytest.mark.parametrize("resource, paths", [
    ({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}},
     ["spec.template.spec.containers[a]"]),
    ({"kind": "CronJob",
      "spec": {"jobTemplate": {"spec": {"template": {"spec": {"initContainers": [{"name": "i"}]}}}}}},
     ["spec.jobTemplate.spec.template.spec.initContainers[i]"]),
    ({"kind": "Pod", "spec": {"ephemeralContainers": [{"name": "debug"}]}}, ["spec.ephemeralContainers[debug]"]),
    ({"kind": "ConfigMap", "data": {"a": "b"}}, []),
    ({"kind": "RayService", "spec": "junk"}, []),
])
def test_workloads_have_pod_templates_too_and_junk_reads_as_absent(resource, paths):
    view = RayServiceView(resource)
    assert [c.path for c in view.containers] == paths
    assert view.groups == () and view.serve_config is None and view.db_configs == ()


# --- DB_CONFIG -------------------------------------------------------------------------------------

def test_db_config_reads_an_unquoted_reference_as_a_placeholder():
    parsed = parse_db_config('{"datastore_type": "postgresql", "datastore_config": {"port": ${PG_PORT}}}')
    assert (parsed.data["datastore_config"], parsed.error, parsed.placeholders) == ({"port": 0}, None, True)
    assert parsed.datastore_type == "postgresql"
    quoted = parse_db_config('{"datastore_config": {"password": "${PW}"}}')
    assert (quoted.placeholders, quoted.datastore_type, quoted.datastore_config) == (
        False, "sqlite", {"password": "${PW}"})


@pytest.mark.parametrize("value, error", [
    ("{'datastore_type': 'postgresql'}", "is not JSON (Expecting property name enclosed in double quotes: "
                                         "line 1 column 2 (char 1))"),
    ("[1, 2]", "is not a JSON object"),
    ("", "is not JSON (Expecting value: line 1 column 1 (char 0))"),
])
def test_db_config_that_aana_cannot_read_says_why(value, error):
    parsed = parse_db_config(value)
    assert (parsed.data, parsed.error, parsed.datastore_type, parsed.datastore_config) == (None, error, None, {})


def test_tools_up_gets_a_db_config_of_its_own_only_when_exact():
    text = json.dumps({"datastore_type": "PostgreSQL", "datastore_config": {"host": "pg"}})
    mine = exact_db_config(text)
    mine["datastore_config"]["host"] = "127.0.0.1"
    assert parse_db_config(text).datastore_config == {"host": "pg"}   # the shared parse is untouched
    assert is_postgres(mine)
    assert exact_db_config('{"datastore_config": {"port": ${P}}}') is None and exact_db_config(None) is None


@pytest.mark.parametrize("db, var, expected", [
    ({"datastore_config": {"password": "${AANA_DB_PASSWORD}"}}, "DB_CONFIG", "AANA_DB_PASSWORD"),
    ({"datastore_config": {"user": "aana"}}, "DB_CONFIG", "DB_CONFIG__DATASTORE_CONFIG__PASSWORD"),
    ({"datastore_config": {"password": "${A}${B}"}}, "API_SERVICE_DB_CONFIG",
     "API_SERVICE_DB_CONFIG__DATASTORE_CONFIG__PASSWORD"),
    (None, "DB_CONFIG", "DB_CONFIG__DATASTORE_CONFIG__PASSWORD"),
])
def test_the_password_variable(db, var, expected):
    assert password_variable(db, var) == expected


# --- the serve config text: one parse ---------------------------------------------------------------

def test_a_serve_config_text_is_read_once_with_its_problems():
    assert read_serve_config_text(SERVE) is read_serve_config_text(SERVE)
    repeated = read_serve_config_text("applications: []\nproxy_location: EveryNode\napplications: [{}]\n")
    assert (repeated.data, repeated.problem, repeated.duplicate) == (
        {"applications": [{}], "proxy_location": "EveryNode"}, None, ("applications", 3, 1))
    broken = read_serve_config_text("applications: [\n")
    assert broken.data is None and broken.problem.startswith("is not valid YAML: ")
    assert broken.problem.endswith("(line 2 of the string)")
    assert read_serve_config_text("a: 1\n---\nb: 2\n").problem.startswith("is not valid YAML: ")
