"""deploy/kubernetes/ agrees with the code it deploys (docs/deployment.md).

Every manifest parses; every `python -m` command is a real command line that accepts its arguments; every
environment variable set is one the code reads; every secret bot/config.py requires reaches each process
that checks it; ports, paths and Services line up; the ingress routes only the webhook paths to Rasa; the
network policies let only the ingress controller reach Rasa and only Rasa reach the action server; the
purge CronJob is the one docs/data-protection.md shows; docs/deployment.md names every file.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from bot import PROJECT_ROOT, config
from bot.channels.twilio.settings import STATUS_PATH, WEBHOOK_PATH

KUBE = PROJECT_ROOT / "deploy" / "kubernetes"
RASA_VALUES_FILE = KUBE / "rasa-values.yaml"
SECRET_EXAMPLE_FILE = KUBE / "assistant-env.example.yaml"
KUSTOMIZATION_FILE = KUBE / "kustomization.yaml"
NOT_MANIFESTS = {RASA_VALUES_FILE.name, KUSTOMIZATION_FILE.name}
DOC = PROJECT_ROOT / "docs" / "deployment.md"
NAMESPACE = "perinatal-assistant"
# Where the chart mounts the files it writes from applicationSettings (templates/_containers-volumes.yaml).
CHART_ENDPOINTS_PATH, CHART_CREDENTIALS_PATH = "/app/endpoints.yml", "/app/credentials.yml"
# Settings a production deployment must provide beyond bot/config.py SECRETS.
CONNECTION_SECRETS = {"DATABASE_URL", "TRACKER_STORE_URL", "LOCK_STORE_URL", "TWILIO_ACCOUNT_SID",
                      "TWILIO_AUTH_TOKEN", "SMTP_URL"}
SECRET_ENVS = {spec.env for spec in config.SECRETS.values()}


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def manifest_files() -> list[Path]:
    return sorted(p for p in KUBE.glob("*.yaml") if p.name not in NOT_MANIFESTS)


@lru_cache(maxsize=1)
def manifests() -> tuple[dict, ...]:  # read once: no test changes them
    return tuple(doc for path in manifest_files() for doc in documents(path))


def the(kind: str, name: str) -> dict:
    found = [m for m in manifests() if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_template(workload: dict) -> dict:
    spec = workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"]
    return spec["template"]


def workloads() -> list[dict]:
    return [m for m in manifests() if m["kind"] in ("Deployment", "Job", "CronJob")]


def containers() -> list[tuple[str, dict]]:
    return [(w["metadata"]["name"], c) for w in workloads() for c in pod_template(w)["spec"]["containers"]]


def container_of(kind: str, name: str) -> dict:
    (container,) = pod_template(the(kind, name))["spec"]["containers"]
    return container


def port_named(container: dict, name: str) -> int:
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name)


RASA = yaml.safe_load(RASA_VALUES_FILE.read_text(encoding="utf-8"))
SETTINGS = the("ConfigMap", "assistant-settings")["data"]
SECRET_EXAMPLE = documents(SECRET_EXAMPLE_FILE)[0]
RASA_ENV = {entry["name"]: entry for entry in RASA["extraEnv"]}


def rasa_cli():
    from rasa.__main__ import create_argument_parser
    return create_argument_parser().parse_args(RASA["args"])


# --- parsing and commands -------------------------------------------------------------------------------

def test_every_file_parses_and_every_manifest_names_its_kind():
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in documents(path):
            assert isinstance(doc, dict), path.name
            if path.name != RASA_VALUES_FILE.name:
                assert doc.get("apiVersion") and doc.get("kind"), path.name
    assert manifests(), "no manifests found"


class ArgumentsParsed(Exception):
    """Raised in place of running a command, once its arguments have parsed."""


def parse_command_line(module_name: str, args: list[str], monkeypatch) -> argparse.Namespace:
    """Parse `python -m module_name *args` exactly as the command would (SystemExit if it refuses them)."""
    spec = importlib.util.find_spec(module_name)
    assert spec is not None, f"no module {module_name}"
    if spec.submodule_search_locations:  # a package runs its __main__
        module_name += ".__main__"
        spec = importlib.util.find_spec(module_name)
        assert spec is not None, f"{module_name} does not exist: `python -m` would fail"
    source = Path(spec.origin).read_text(encoding="utf-8")
    assert 'if __name__ == "__main__":' in source, f"`python -m {module_name}` would exit 0 having done nothing"
    module = importlib.import_module(module_name)
    if hasattr(module, "build_parser"):
        return module.build_parser().parse_args(args)
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, arguments=None, namespace=None):
        raise ArgumentsParsed(original(self, arguments, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    with pytest.raises(ArgumentsParsed) as parsed:
        module.main(args)
    return parsed.value.args[0]


PYTHON_COMMANDS = [(name, c) for name, c in containers() if c["command"][:2] == ["python", "-m"]]


@pytest.mark.parametrize("workload, container", PYTHON_COMMANDS, ids=[name for name, _ in PYTHON_COMMANDS])
def test_every_python_command_is_a_real_command_line_that_accepts_its_arguments(workload, container,
                                                                                 monkeypatch):
    parsed = parse_command_line(container["command"][2], container["command"][3:], monkeypatch)
    if "port" in vars(parsed):  # a server: it listens on the port its container declares, on every interface
        assert parsed.port == port_named(container, "http")
        assert parsed.host == "0.0.0.0"


def test_every_workload_runs_a_python_module_from_the_one_image():
    assert {name for name, _ in PYTHON_COMMANDS} == {name for name, _ in containers()}
    assert {c["image"] for _, c in containers()} == {"perinatal-assistant:latest"}
    kustomization = yaml.safe_load(KUSTOMIZATION_FILE.read_text(encoding="utf-8"))
    (image,) = kustomization["images"]
    assert image["name"] == "perinatal-assistant"
    assert (RASA["image"]["repository"], RASA["image"]["tag"]) == (image["newName"], image["newTag"])


def test_rasa_runs_with_its_api_behind_our_token_and_the_chart_files():
    assert RASA["command"] == ["rasa"]
    parsed = rasa_cli()
    assert parsed.enable_api and parsed.auth_token == "$(RASA_AUTH_TOKEN)"
    assert parsed.jwt_secret is None, "the chart's default JWT secret is the literal 'UNSET'"
    assert (parsed.endpoints, parsed.credentials) == (CHART_ENDPOINTS_PATH, CHART_CREDENTIALS_PATH)
    assert set(parsed.cors) == set(SETTINGS["WEBCHAT_ORIGINS"].split(",")) and "*" not in parsed.cors
    assert parsed.port == RASA["applicationSettings"]["port"] == RASA["service"]["port"]


# --- the Rasa chart ---------------------------------------------------------------------------------------

def repository_yaml(name: str) -> dict:
    return yaml.safe_load((PROJECT_ROOT / name).read_text(encoding="utf-8"))


def test_the_chart_writes_our_endpoints_with_the_action_server_service():
    endpoints = RASA["applicationSettings"]["endpoints"]
    for chart_entry in ("trackerStore", "lockStore", "eventBroker", "models"):  # else rendered beside ours
        assert endpoints[chart_entry]["enabled"] is False
    ours, local = dict(endpoints["additionalEndpoints"]), repository_yaml("endpoints.yml")
    action, local_action = ours.pop("action_endpoint"), local.pop("action_endpoint")
    assert ours == local
    assert action["token"] == local_action["token"]
    assert action["url"] == "${ACTION_SERVER_URL}"
    url = urlsplit(RASA_ENV["ACTION_SERVER_URL"]["value"])
    service = the("Service", url.hostname)
    (service_port,) = service["spec"]["ports"]
    assert url.port == service_port["port"]
    assert service_port["targetPort"] == "http"
    assert url.path == urlsplit(local_action["url"]).path
    assert service["spec"]["selector"].items() <= pod_template(the("Deployment", url.hostname))["metadata"][
        "labels"].items()


def test_the_chart_writes_our_channels():
    local = {channel: settings or {} for channel, settings in repository_yaml("credentials.yml").items()}
    assert RASA["applicationSettings"]["credentials"]["additionalChannelCredentials"] == local


def test_the_chart_installs_nothing_of_its_own_and_downloads_no_model():
    settings = RASA["applicationSettings"]
    assert settings["initialModel"] == "" and settings["trainInitialModel"] is False
    assert settings["telemetry"]["enabled"] is False
    for bundled in ("postgresql", "redis", "rabbitmq", "rasa-action-server", "duckling"):
        assert RASA[bundled]["install"] is False, bundled
    for own in ("nginx", "ingress", "networkPolicy"):  # ours are ingress.yaml and network-policies.yaml
        assert RASA[own]["enabled"] is False, own


def test_several_rasa_and_action_server_pods_but_exactly_one_alert_worker():
    assert RASA["replicaCount"] >= 2
    assert the("Deployment", "action-server")["spec"]["replicas"] >= 2
    worker = the("Deployment", "alert-worker")["spec"]
    # It claims alerts and follow-ups without row locks: two workers could send one twice, so no overlap
    # during a rollout either.
    assert worker["replicas"] == 1 and worker["strategy"]["type"] == "Recreate"
    assert container_of("Deployment", "alert-worker")["command"][3:] == ["deliver", "--loop"]


# --- environment and secrets ------------------------------------------------------------------------------

# os.environ and bot/config.py's readers (text, number, _int, _csv), called with a literal name.
QUOTED_NAME = r"""\s*["']([A-Z][A-Z0-9_]*)["']"""
ENV_READS = (re.compile(r"(?:os\.environ\.get|os\.getenv|\btext|\bnumber|\b_int|\b_csv)\(" + QUOTED_NAME),
             re.compile(r"os\.environ\[" + QUOTED_NAME + r"\s*\]"))
ENDPOINT_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def variables_the_code_reads() -> set[str]:
    names = set(SECRET_ENVS)
    for path in [*(PROJECT_ROOT / "bot").rglob("*.py"), *(PROJECT_ROOT / "actions").rglob("*.py")]:
        source = path.read_text(encoding="utf-8")
        for pattern in ENV_READS:
            names.update(pattern.findall(source))
    # Rasa expands ${NAME} in the endpoints and credentials it reads: ours, and those the chart writes.
    for path in [*PROJECT_ROOT.glob("endpoints*.yml"), PROJECT_ROOT / "credentials.yml"]:
        names.update(ENDPOINT_VARIABLE.findall(path.read_text(encoding="utf-8")))
    names.update(ENDPOINT_VARIABLE.findall(yaml.safe_dump(RASA["applicationSettings"]["endpoints"])))
    return names


def test_the_code_reading_check_finds_what_bot_config_reads():
    # A sample the patterns above must find, or the next test would pass on nothing.
    assert {"DATABASE_URL", "WEBCHAT_ORIGINS", "RETENTION_DAYS", "TWILIO_AUTH_TOKEN", "WEBCHAT_SERVER_URL",
            "TWILIO_SEND_ATTEMPTS", "ACTION_SERVER_TOKEN"} <= variables_the_code_reads()


def test_every_variable_set_is_one_the_code_reads():
    set_here = set(SETTINGS) | set(SECRET_EXAMPLE["stringData"]) | set(RASA_ENV)
    for _, container in containers():
        set_here |= {entry["name"] for entry in container.get("env", [])}
    assert set_here - variables_the_code_reads() == set()


def test_the_secret_holds_every_secret_and_connection_and_no_value():
    keys = SECRET_EXAMPLE["stringData"]
    assert SECRET_ENVS | CONNECTION_SECRETS <= set(keys)
    assert set(keys.values()) == {""}, "real values belong in the secret store, never in the repository"
    kustomization = yaml.safe_load(KUSTOMIZATION_FILE.read_text(encoding="utf-8"))
    assert SECRET_EXAMPLE_FILE.name not in kustomization["resources"], "applying it would blank the real one"


def environment_sources(container: dict) -> set[tuple[str, str]]:
    return {("secret", e["secretRef"]["name"]) if "secretRef" in e else ("configmap", e["configMapRef"]["name"])
            for e in container.get("envFrom", [])}


def test_every_process_that_checks_production_gets_every_secret():
    everything = {("configmap", "assistant-settings"), ("secret", SECRET_EXAMPLE["metadata"]["name"])}
    for name, container in containers():
        if name == "web":  # the page server needs no secret, so it is given none
            assert environment_sources(container) == {("configmap", "assistant-settings")}
        else:
            assert environment_sources(container) == everything, name
    # Rasa, through the chart: every setting and every secret by name, from the same objects.
    expected = {**{key: ("configMapKeyRef", "assistant-settings") for key in SETTINGS},
                **{key: ("secretKeyRef", SECRET_EXAMPLE["metadata"]["name"]) for key in SECRET_EXAMPLE["stringData"]}}
    for key, (reference, source) in expected.items():
        named = {k: v for k, v in RASA_ENV[key]["valueFrom"][reference].items() if k != "optional"}
        assert named == {"name": source, "key": key}, key
    for key in SECRET_ENVS | {"DATABASE_URL", "TRACKER_STORE_URL", "LOCK_STORE_URL"}:
        assert not RASA_ENV[key]["valueFrom"]["secretKeyRef"].get("optional"), f"Rasa must not start without {key}"
    for reference in re.findall(r"\$\(([A-Z][A-Z0-9_]*)\)", " ".join(RASA["args"])):
        assert reference in RASA_ENV, f"$({reference}) in Rasa's arguments would stay unexpanded"


def test_the_settings_pass_production_checks_only_once_the_secrets_are_set(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "VAR_DIR", tmp_path)  # no development secret files to fall back on
    for key, value in {**SETTINGS, **SECRET_EXAMPLE["stringData"]}.items():
        monkeypatch.setenv(key, value)
    problems = config.production_problems()
    for env in SECRET_ENVS:
        assert any(env in problem for problem in problems), env
    for env in SECRET_ENVS:
        monkeypatch.setenv(env, secrets.token_urlsafe(48))
    assert config.production_problems() == []
    assert SETTINGS["LOCK_STORE_PREFIX"].isalnum(), "Rasa ignores a lock-store prefix that is not alphanumeric"


def test_the_public_urls_are_the_ingress_host():
    ingress = the("Ingress", "assistant")["spec"]
    (rule,) = ingress["rules"]
    (tls,) = ingress["tls"]
    assert rule["host"] in tls["hosts"]
    for key in ("PUBLIC_BASE_URL", "WEBCHAT_SERVER_URL"):
        assert SETTINGS[key] == f"https://{rule['host']}", key
    assert f"https://{rule['host']}" in SETTINGS["WEBCHAT_ORIGINS"].split(",")  # its own page embeds the chat


# --- routing ----------------------------------------------------------------------------------------------

def routed_to(path: str) -> tuple[str, int]:
    """The Service and port the Ingress sends a request path to (Exact first, then the longest Prefix)."""
    (rule,) = the("Ingress", "assistant")["spec"]["rules"]
    best, best_length = None, -1
    for entry in rule["http"]["paths"]:
        backend = entry["backend"]["service"]
        if entry["pathType"] == "Exact":
            if path == entry["path"]:
                return backend["name"], backend["port"]["number"]
            continue
        assert entry["pathType"] == "Prefix", entry
        elements = [e for e in entry["path"].split("/") if e]
        if [e for e in path.split("/") if e][:len(elements)] == elements and len(elements) > best_length:
            best, best_length = backend, len(elements)
    return best["name"], best["port"]["number"]


def widget_socketio_path() -> str:
    source = (PROJECT_ROOT / "web" / "src" / "widget.js").read_text(encoding="utf-8")
    return re.search(r'io\(config\.server, \{ path: "([^"]+)"', source).group(1)


def test_only_the_webhooks_and_the_widget_reach_rasa():
    rasa = ("rasa", RASA["service"]["port"])
    socketio = repository_yaml("credentials.yml")["bot.channels.rest.GuardedSocketIOInput"].get(
        "socketio_path", "/socket.io")
    assert widget_socketio_path() == socketio
    for path in (WEBHOOK_PATH, STATUS_PATH, socketio + "/", socketio + "/?EIO=4&transport=polling"):
        assert routed_to(path.split("?")[0]) == rasa, path
    (web_port,) = the("Service", "web")["spec"]["ports"]
    for path in ("/conversations/someone/tracker", "/model", "/status", "/webhooks/rest/webhook",
                 "/webhooks/twilio/", "/", "/help", "/widget.js"):
        assert routed_to(path) == ("web", web_port["port"]), path
    annotations = the("Ingress", "assistant")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/upstream-hash-by"] == "$remote_addr"  # sticky for socket.io


def test_probes_ask_each_server_on_its_own_port():
    for name, container in containers():
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["port"] in [p["name"] for p in container["ports"]], name
    assert container_of("Deployment", "action-server")["readinessProbe"]["httpGet"]["path"] == "/health"
    for probe in ("readinessProbe", "livenessProbe"):
        assert RASA[probe]["httpGet"] == {"path": "/", "port": "http", "scheme": "HTTP"}  # the chart's port name


# --- network policies --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pod:
    labels: dict = field(hash=False)
    namespace: str = NAMESPACE

    @property
    def namespace_labels(self) -> dict:
        return {"kubernetes.io/metadata.name": self.namespace}


def pod_of(kind: str, name: str) -> Pod:
    return Pod(pod_template(the(kind, name))["metadata"]["labels"])


def selects(selector: dict, labels: dict) -> bool:
    assert set(selector) <= {"matchLabels"}, "the evaluator below reads matchLabels only"
    return selector.get("matchLabels", {}).items() <= labels.items()


def peer_matches(peer: dict, source: Pod) -> bool:
    assert "ipBlock" not in peer
    in_namespace = (selects(peer["namespaceSelector"], source.namespace_labels) if "namespaceSelector" in peer
                    else source.namespace == NAMESPACE)
    return in_namespace and ("podSelector" not in peer or selects(peer["podSelector"], source.labels))


def port_matches(ports: list | None, port: int) -> bool:
    return ports is None or any(p["port"] == port and p.get("protocol", "TCP") == "TCP" for p in ports)


def allowed(direction: str, pod: Pod, port: int, peer: Pod | None = None) -> bool:
    """Whether the namespace's policies let `pod` take (Ingress, from `peer`) or make (Egress) a connection."""
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    policies = [p["spec"] for p in manifests() if p["kind"] == "NetworkPolicy"
                and direction in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], pod.labels)]
    if pod.namespace != NAMESPACE or not policies:
        return True
    return any(port_matches(rule.get("ports"), port)
               and (peer is None or rule.get(peers_key) is None or any(peer_matches(x, peer) for x in rule[peers_key]))
               for policy in policies for rule in policy.get(rules_key, []))


CONTROLLER = Pod({"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
                 namespace="ingress-nginx")


def rasa_pod() -> Pod:
    return Pod(RASA["podLabels"])


def test_only_the_ingress_controller_reaches_rasa_and_the_page_server():
    rasa_port = RASA["applicationSettings"]["port"]
    web, web_port = pod_of("Deployment", "web"), port_named(container_of("Deployment", "web"), "http")
    assert allowed("Ingress", rasa_pod(), rasa_port, CONTROLLER)
    assert allowed("Ingress", web, web_port, CONTROLLER)
    for other in (pod_of("Deployment", "action-server"), web, pod_of("Deployment", "alert-worker")):
        assert not allowed("Ingress", rasa_pod(), rasa_port, other), "Rasa's API stays internal"
    assert not allowed("Ingress", web, web_port, rasa_pod())


def test_only_rasa_reaches_the_action_server():
    action_server = pod_of("Deployment", "action-server")
    port = port_named(container_of("Deployment", "action-server"), "http")
    assert allowed("Ingress", action_server, port, rasa_pod())
    elsewhere = Pod(RASA["podLabels"], namespace="somewhere-else")  # labelled like Rasa, in another namespace
    for other in (CONTROLLER, pod_of("Deployment", "web"), pod_of("Deployment", "alert-worker"), elsewhere):
        assert not allowed("Ingress", action_server, port, other)


def test_the_workers_take_no_connections_and_the_quiet_pods_make_few():
    for kind, name in (("Deployment", "alert-worker"), ("CronJob", "privacy-purge"), ("Job", "assistant-migrate")):
        for source in (CONTROLLER, rasa_pod()):
            assert not allowed("Ingress", pod_of(kind, name), 8080, source), name
    action_server, web = pod_of("Deployment", "action-server"), pod_of("Deployment", "web")
    assert allowed("Egress", action_server, 5432) and allowed("Egress", action_server, 53)
    assert not allowed("Egress", action_server, 443)
    assert not any(allowed("Egress", web, port) for port in (53, 443, 5432))


# --- consistency with the other documents -----------------------------------------------------------------

def test_the_purge_cronjob_is_the_one_the_data_protection_summary_shows():
    text = (PROJECT_ROOT / "docs" / "data-protection.md").read_text(encoding="utf-8")
    (snippet,) = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)
                  if "kind: CronJob" in block]
    ours = the("CronJob", snippet["metadata"]["name"])
    assert ours["spec"]["schedule"] == snippet["spec"]["schedule"]
    assert ours["spec"]["concurrencyPolicy"] == snippet["spec"]["concurrencyPolicy"]
    shown = pod_template(snippet)["spec"]
    assert pod_template(ours)["spec"]["restartPolicy"] == shown["restartPolicy"]
    (shown_container,) = shown["containers"]
    (container,) = pod_template(ours)["spec"]["containers"]
    for key in ("name", "image", "command"):
        assert container[key] == shown_container[key], key
    assert all(source in container["envFrom"] for source in shown_container["envFrom"])


def test_kustomization_applies_every_manifest_but_the_secret_example():
    kustomization = yaml.safe_load(KUSTOMIZATION_FILE.read_text(encoding="utf-8"))
    assert kustomization["namespace"] == NAMESPACE
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in manifest_files() if p != SECRET_EXAMPLE_FILE)
    assert the("Namespace", NAMESPACE)


def test_the_deployment_guide_names_every_file():
    text = DOC.read_text(encoding="utf-8")
    for path in sorted(KUBE.glob("*.yaml")):
        assert path.name in text, path.name
