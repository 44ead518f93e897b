"""Offline checks of a rendered kustomize overlay (run by scripts/check-deploy).

    python3 deploy/check.py dev rendered-dev.yaml prod rendered-prod.yaml

For each overlay: every object validates against the Kubernetes OpenAPI schemas (strict: an
unknown field is an error) of the oldest and the newest Kubernetes version we support; the
PostgresCluster, which has no schema there, is checked against what Crunchy PGO's CRD requires;
then what the overlay promises: the four services and their probes, configuration, security
context, Services, NetworkPolicies, RBAC, Secrets referenced and never defined, and per
overlay one replica (dev) or replicas, disruption budgets, an autoscaler, requests and limits
and the database users (prod). The samples in kubernetes/samples/ are validated against the same
schemas. Prints one line per problem; exits 1 if there is any.
"""

import re
import sys
from pathlib import Path

import yaml
from kubernetes_validate import utils as kv

KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]

# name -> (argument of `eyrie serve`, port)
SERVICES = {
    "gateway": ("gateway", 50051),
    "deployment-svc": ("deployment", 50061),
    "book-runner-svc": ("book-runner", 50062),
    "version-svc": ("version", 50063),
}
CONFIG_DIR = "/etc/eyrie/config"

problems = []


def problem(overlay, message):
    problems.append(f"{overlay}: {message}")


def ident(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def matches(selector, labels):
    """Whether a matchLabels-only label selector selects `labels`."""
    if set(selector) - {"matchLabels"}:
        return False
    wanted = selector.get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


# --- Crunchy PGO PostgresCluster (postgres-operator.crunchydata.com/v1beta1) ---------------
# From the operator's API types: required fields, patterns, bounds, and the known fields (the
# CRD is structural: kubectl's strict field validation refuses unknown ones).

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
INSTANCE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$")
REPO_NAME = re.compile(r"^repo[1-4]")
PGO_SPEC_FIELDS = {
    "metadata", "dataSource", "backups", "customTLSSecret", "customReplicationTLSSecret",
    "databaseInitSQL", "disableDefaultPodScheduling", "image", "imagePullPolicy",
    "imagePullSecrets", "instances", "openshift", "patroni", "paused", "port",
    "postgresVersion", "postGISVersion", "proxy", "userInterface", "monitoring", "service",
    "replicaService", "shutdown", "standby", "supplementalGroups", "users", "config",
}
PGO_INSTANCE_FIELDS = {
    "metadata", "name", "affinity", "containers", "dataVolumeClaimSpec", "priorityClassName",
    "replicas", "minAvailable", "resources", "sidecars", "tolerations",
    "topologySpreadConstraints", "walVolumeClaimSpec", "tablespaceVolumes",
}
PGO_PGBACKREST_FIELDS = {
    "metadata", "configuration", "global", "image", "jobs", "repos", "repoHost", "manual",
    "restore", "sidecars",
}
PGO_REPO_FIELDS = {"name", "schedules", "azure", "gcs", "s3", "volume"}
PGO_USER_FIELDS = {"name", "databases", "options", "password"}


def validate_as(overlay, where, api_version, kind, body):
    """Validates `body` as a whole built-in object (e.g. a PVC spec wrapped in a PVC)."""
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "check"}, **body}
    for version in KUBERNETES_VERSIONS:
        try:
            kv.validate(obj, version, strict=True)
        except kv.ValidationError as err:
            path = ".".join(str(p) for p in err.path)
            problem(overlay, f"{where}: {path}: {err.message} (Kubernetes {version})")


def unknown_fields(overlay, where, mapping, known):
    for field in sorted(set(mapping) - known):
        problem(overlay, f"{where}: unknown field {field!r}")


def check_postgres_cluster(overlay, doc):
    where = ident(doc)
    if doc.get("apiVersion") != "postgres-operator.crunchydata.com/v1beta1":
        problem(overlay, f"{where}: apiVersion must be postgres-operator.crunchydata.com/v1beta1")
    name = doc.get("metadata", {}).get("name", "")
    if not DNS_LABEL.match(name):
        problem(overlay, f"{where}: metadata.name must be a DNS-1123 label")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        problem(overlay, f"{where}: spec is required")
        return
    unknown_fields(overlay, f"{where} spec", spec, PGO_SPEC_FIELDS)

    version = spec.get("postgresVersion")
    if not isinstance(version, int) or isinstance(version, bool) or not 10 <= version <= 17:
        problem(overlay, f"{where}: spec.postgresVersion is required, an integer from 10 to 17")

    instances = spec.get("instances")
    if not isinstance(instances, list) or not instances:
        problem(overlay, f"{where}: spec.instances is required, with at least one instance set")
        instances = []
    seen = set()
    for index, instance in enumerate(instances):
        at = f"{where} spec.instances[{index}]"
        if not isinstance(instance, dict):
            problem(overlay, f"{at}: must be a mapping")
            continue
        unknown_fields(overlay, at, instance, PGO_INSTANCE_FIELDS)
        set_name = instance.get("name", "")
        if not isinstance(set_name, str) or not INSTANCE_NAME.match(set_name):
            problem(overlay, f"{at}.name must be empty or a DNS-1123 label")
        elif len(name) + len(set_name) > 46:
            problem(overlay, f"{at}.name: with the cluster name, 46 characters at most")
        if set_name in seen:
            problem(overlay, f"{at}.name {set_name!r} is not unique")
        seen.add(set_name)
        replicas = instance.get("replicas", 1)
        if not isinstance(replicas, int) or replicas < 1:
            problem(overlay, f"{at}.replicas must be an integer ≥ 1")
        claim = instance.get("dataVolumeClaimSpec")
        if not isinstance(claim, dict):
            problem(overlay, f"{at}.dataVolumeClaimSpec is required")
        else:
            validate_as(overlay, f"{at}.dataVolumeClaimSpec", "v1", "PersistentVolumeClaim",
                        {"spec": claim})
            if not claim.get("resources", {}).get("requests", {}).get("storage"):
                problem(overlay, f"{at}.dataVolumeClaimSpec.resources.requests.storage is required")
        if "resources" in instance:
            validate_as(overlay, f"{at}.resources", "v1", "Pod",
                        {"spec": {"containers": [{"name": "c", "image": "i",
                                                  "resources": instance["resources"]}]}})

    # Optional in the newest PGO, required by earlier 5.x releases: we want backups anyway.
    pgbackrest = spec.get("backups", {}).get("pgbackrest")
    if not isinstance(pgbackrest, dict):
        problem(overlay, f"{where}: spec.backups.pgbackrest is required (backups, and PGO < 5.7)")
    else:
        unknown_fields(overlay, f"{where} spec.backups.pgbackrest", pgbackrest,
                       PGO_PGBACKREST_FIELDS)
        for key, value in (pgbackrest.get("global") or {}).items():
            if not isinstance(value, str):
                problem(overlay, f"{where}: spec.backups.pgbackrest.global.{key} must be a string")
        repos = pgbackrest.get("repos")
        if not isinstance(repos, list) or not repos:
            problem(overlay, f"{where}: spec.backups.pgbackrest.repos needs at least one repo")
            repos = []
        for index, repo in enumerate(repos):
            at = f"{where} spec.backups.pgbackrest.repos[{index}]"
            unknown_fields(overlay, at, repo, PGO_REPO_FIELDS)
            if not REPO_NAME.match(str(repo.get("name", ""))):
                problem(overlay, f"{at}.name must be repo1 to repo4")
            kinds = [k for k in ("volume", "s3", "gcs", "azure") if k in repo]
            if len(kinds) != 1:
                problem(overlay, f"{at}: exactly one of volume, s3, gcs, azure")
            if "volume" in repo:
                claim = repo["volume"].get("volumeClaimSpec")
                if not isinstance(claim, dict):
                    problem(overlay, f"{at}.volume.volumeClaimSpec is required")
                else:
                    validate_as(overlay, f"{at}.volume.volumeClaimSpec", "v1",
                                "PersistentVolumeClaim", {"spec": claim})
            for kind, value in (repo.get("schedules") or {}).items():
                if kind not in ("full", "differential", "incremental"):
                    problem(overlay, f"{at}.schedules: unknown backup type {kind!r}")
                if not isinstance(value, str) or len(value) < 6 or len(value.split()) not in (1, 5):
                    problem(overlay, f"{at}.schedules.{kind}: a cron schedule (5 fields)")

    users = spec.get("users", [])
    if not isinstance(users, list) or len(users) > 64:
        problem(overlay, f"{where}: spec.users is a list of at most 64 users")
        users = []
    names = set()
    for index, user in enumerate(users):
        at = f"{where} spec.users[{index}]"
        unknown_fields(overlay, at, user, PGO_USER_FIELDS)
        user_name = user.get("name", "")
        if not isinstance(user_name, str) or not DNS_LABEL.match(user_name) or len(user_name) > 63:
            problem(overlay, f"{at}.name must be a DNS-1123 label")
        if user_name in names:
            problem(overlay, f"{at}.name {user_name!r} is not unique")
        names.add(user_name)
        for database in user.get("databases", []):
            if not isinstance(database, str) or not 1 <= len(database) <= 63:
                problem(overlay, f"{at}.databases: identifiers of 1 to 63 characters")
        password = user.get("password")
        if password is not None and password.get("type") not in ("ASCII", "AlphaNumeric"):
            problem(overlay, f"{at}.password.type must be ASCII or AlphaNumeric")
    for field in ("labels", "annotations"):
        for key, value in (spec.get("metadata", {}).get(field) or {}).items():
            if not isinstance(value, str):
                problem(overlay, f"{where}: spec.metadata.{field}.{key} must be a string")


CUSTOM_CHECKS = {
    ("postgres-operator.crunchydata.com/v1beta1", "PostgresCluster"): check_postgres_cluster,
}


# --- Schemas of every object ----------------------------------------------------------------

def check_schemas(overlay, docs):
    for doc in docs:
        for version in KUBERNETES_VERSIONS:
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as err:
                path = ".".join(str(p) for p in err.path)
                problem(overlay, f"{ident(doc)}: {path}: {err.message} (Kubernetes {version})")
            except kv.SchemaNotFoundError:
                check = CUSTOM_CHECKS.get((doc.get("apiVersion"), doc.get("kind")))
                if check is None:
                    problem(overlay, f"{ident(doc)}: no schema and no check for "
                                     f"{doc.get('apiVersion')} {doc.get('kind')}")
                elif version == KUBERNETES_VERSIONS[0]:
                    check(overlay, doc)


# --- What the overlays promise ---------------------------------------------------------------

def pod_labels(doc):
    return doc.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})


def secret_refs(container):
    for env in container.get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            yield env["name"], ref


def check_services(overlay, by_kind):
    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    if set(deployments) != set(SERVICES):
        problem(overlay, f"Deployments {sorted(deployments)}, expected {sorted(SERVICES)}")
    config_maps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    images = set()
    for name, (serve, port) in SERVICES.items():
        deployment = deployments.get(name)
        if deployment is None:
            continue
        pod = deployment["spec"]["template"]["spec"]
        containers = pod.get("containers", [])
        if [c["name"] for c in containers] != [name]:
            problem(overlay, f"Deployment/{name}: one container, named {name}")
            continue
        container = containers[0]
        images.add(container.get("image"))
        expected = ["serve", serve, "--config", f"{CONFIG_DIR}/{name}.toml"]
        if container.get("args") != expected or container.get("command"):
            problem(overlay, f"Deployment/{name}: args must be {expected}")
        ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
        if ports.get("grpc") != port:
            problem(overlay, f"Deployment/{name}: container port grpc must be {port}")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            grpc = container.get(probe, {}).get("grpc")
            if not grpc or grpc.get("port") != port:
                problem(overlay, f"Deployment/{name}: {probe} must be a gRPC probe on {port}")
        # The restricted Pod Security Standard, and a read-only root.
        pod_sc, sc = pod.get("securityContext", {}), container.get("securityContext", {})
        if not (pod_sc.get("runAsNonRoot") or sc.get("runAsNonRoot")):
            problem(overlay, f"Deployment/{name}: runAsNonRoot")
        seccomp = sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            problem(overlay, f"Deployment/{name}: seccompProfile RuntimeDefault")
        if sc.get("allowPrivilegeEscalation") is not False:
            problem(overlay, f"Deployment/{name}: allowPrivilegeEscalation: false")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problem(overlay, f"Deployment/{name}: capabilities drop ALL")
        if sc.get("readOnlyRootFilesystem") is not True:
            problem(overlay, f"Deployment/{name}: readOnlyRootFilesystem")
        # The configuration file comes from a ConfigMap of this overlay.
        mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        config = [n for n, m in mounts.items() if m.get("mountPath") == CONFIG_DIR]
        cm_name = volumes.get(config[0], {}).get("configMap", {}).get("name") if config else None
        if cm_name not in config_maps:
            problem(overlay, f"Deployment/{name}: no ConfigMap of the overlay at {CONFIG_DIR}")
        elif f"{name}.toml" not in config_maps[cm_name].get("data", {}):
            problem(overlay, f"ConfigMap/{cm_name} has no {name}.toml")
        for volume in volumes.values():
            ref = volume.get("configMap", {}).get("name")
            if ref and ref not in config_maps:
                problem(overlay, f"Deployment/{name}: ConfigMap {ref} is not in the overlay")
        # Every service has its database and the internal credential from Secrets.
        refs = dict(secret_refs(container))
        for variable in ("EYRIE_DATABASE__URL", "EYRIE_INTERNAL__CREDENTIAL"):
            if variable not in refs:
                problem(overlay, f"Deployment/{name}: {variable} must come from a Secret")
        # Only book-runner-svc talks to the API server.
        automount = pod.get("automountServiceAccountToken")
        if name == "book-runner-svc":
            if automount is not True or not pod.get("serviceAccountName"):
                problem(overlay, f"Deployment/{name}: its own ServiceAccount, token mounted")
        elif automount is not False:
            problem(overlay, f"Deployment/{name}: automountServiceAccountToken: false")
    if len(images) > 1:
        problem(overlay, f"the services run different images: {sorted(images)}")

    # Every Service selects the pods of a workload, on a port they name.
    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])
    for service in by_kind.get("Service", []):
        selector = service["spec"].get("selector", {})
        targets = [w for w in workloads
                   if selector and all(pod_labels(w).get(k) == v for k, v in selector.items())]
        if not targets:
            problem(overlay, f"{ident(service)} selects no pod of the overlay")
            continue
        names = {p.get("name") for w in targets
                 for c in w["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"].get("ports", []):
            if isinstance(port.get("targetPort"), str) and port["targetPort"] not in names:
                problem(overlay, f"{ident(service)}: no container port named {port['targetPort']}")


def check_network_policies(overlay, by_kind, database_pods):
    policies = by_kind.get("NetworkPolicy", [])
    deployments = {d["metadata"]["name"]: pod_labels(d) for d in by_kind.get("Deployment", [])}
    if not any(p["spec"].get("podSelector") == {} and p["spec"].get("policyTypes") == ["Ingress"]
               and not p["spec"].get("ingress") for p in policies):
        problem(overlay, "no default-deny ingress NetworkPolicy")
    for policy in policies:
        selected = [n for n, labels in deployments.items()
                    if matches(policy["spec"].get("podSelector", {}), labels)]
        for rule in policy["spec"].get("ingress", []):
            if "from" not in rule and selected != ["gateway"]:
                problem(overlay, f"{ident(policy)} opens {selected or 'pods'} to everyone: "
                                 "only the gateway may be")
            for peer in rule.get("from", []):
                if "namespaceSelector" in peer or "ipBlock" in peer:
                    problem(overlay, f"{ident(policy)} admits traffic from outside the namespace")
    # The database: its pods are selected, and only the services' pods (and its own) get in.
    database = [p for p in policies if database_pods and matches(p["spec"]["podSelector"],
                                                                 database_pods)]
    if not database:
        problem(overlay, "no NetworkPolicy selects the database's pods")
    for policy in database:
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                selector = peer.get("podSelector", {})
                clients = [n for n, labels in deployments.items() if matches(selector, labels)]
                own = matches(selector, database_pods)
                if not own and sorted(clients) != sorted(SERVICES):
                    problem(overlay, f"{ident(policy)}: a peer selects {clients}, not the services")


def check_secrets_and_rbac(overlay, namespace, by_kind):
    for secret in by_kind.get("Secret", []):
        problem(overlay, f"{ident(secret)}: Secrets are referenced, never defined in deploy/")
    for doc in [d for docs in by_kind.values() for d in docs]:
        if doc["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            continue
        if doc.get("metadata", {}).get("namespace") != namespace:
            problem(overlay, f"{ident(doc)} is not in namespace {namespace}")
    if [n["metadata"]["name"] for n in by_kind.get("Namespace", [])] != [namespace]:
        problem(overlay, f"the overlay must define its namespace {namespace}")
    accounts = {(a["metadata"].get("namespace"), a["metadata"]["name"])
                for a in by_kind.get("ServiceAccount", [])}
    roles = {r["metadata"]["name"] for r in by_kind.get("ClusterRole", [])}
    bound = set()
    for binding in by_kind.get("ClusterRoleBinding", []) + by_kind.get("RoleBinding", []):
        if binding["roleRef"]["name"] not in roles:
            problem(overlay, f"{ident(binding)}: role {binding['roleRef']['name']} is not in the overlay")
        for subject in binding.get("subjects", []):
            key = (subject.get("namespace"), subject["name"])
            if subject["kind"] != "ServiceAccount" or key not in accounts:
                problem(overlay, f"{ident(binding)}: subject {key} is no ServiceAccount of the overlay")
            bound.add(key)
    for deployment in by_kind.get("Deployment", []):
        account = deployment["spec"]["template"]["spec"].get("serviceAccountName")
        if account and (namespace, account) not in bound:
            problem(overlay, f"{ident(deployment)}: ServiceAccount {account} has no role")


def check_dev(overlay, by_kind):
    for deployment in by_kind.get("Deployment", []):
        if deployment["spec"].get("replicas") != 1:
            problem(overlay, f"{ident(deployment)}: one replica in dev")
    postgres = [s for s in by_kind.get("StatefulSet", [])
                if any("postgres" in c.get("image", "") for c in
                       s["spec"]["template"]["spec"]["containers"])]
    if len(postgres) != 1:
        problem(overlay, "dev runs one PostgreSQL StatefulSet")
        return {}
    return pod_labels(postgres[0])


def check_prod(overlay, by_kind):
    autoscalers = {h["spec"]["scaleTargetRef"]["name"]: h
                   for h in by_kind.get("HorizontalPodAutoscaler", [])
                   if h["spec"]["scaleTargetRef"]["kind"] == "Deployment"}
    if "gateway" not in autoscalers:
        problem(overlay, "the gateway needs a HorizontalPodAutoscaler")
    budgets = by_kind.get("PodDisruptionBudget", [])
    for deployment in by_kind.get("Deployment", []):
        name = deployment["metadata"]["name"]
        replicas = deployment["spec"].get("replicas")
        if name in autoscalers:
            if replicas is not None:
                problem(overlay, f"{ident(deployment)}: its autoscaler owns replicas; set none")
            if autoscalers[name]["spec"].get("minReplicas", 1) < 2:
                problem(overlay, f"{ident(deployment)}: autoscaler minReplicas ≥ 2")
        elif not isinstance(replicas, int) or replicas < 2:
            problem(overlay, f"{ident(deployment)}: replicas ≥ 2 in prod")
        if not any(matches(b["spec"].get("selector", {}), pod_labels(deployment)) for b in budgets):
            problem(overlay, f"{ident(deployment)}: no PodDisruptionBudget")
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(bound, {}):
                        problem(overlay, f"{ident(deployment)}: {bound}.{resource} of {container['name']}")
    clusters = by_kind.get("PostgresCluster", [])
    if len(clusters) != 1:
        problem(overlay, "prod runs Eyrie's database as one PGO PostgresCluster")
        return {}
    cluster = clusters[0]
    name = cluster["metadata"]["name"]
    users = {u["name"]: u for u in cluster["spec"].get("users", [])}
    # Each service's URL is PGO's Secret of one of the cluster's users, with a database.
    for deployment in by_kind.get("Deployment", []):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            refs = dict(secret_refs(container))
            ref = refs.get("EYRIE_DATABASE__URL")
            if not ref:
                continue
            user = ref["name"].removeprefix(f"{name}-pguser-")
            if ref["name"] == user or ref.get("key") != "uri" or user not in users:
                problem(overlay, f"{ident(deployment)}: EYRIE_DATABASE__URL must be key uri of "
                                 f"{name}-pguser-<a user of {ident(cluster)}>, not {ref}")
            elif not users[user].get("databases"):
                problem(overlay, f"{ident(cluster)}: user {user} has no database")
    return {"postgres-operator.crunchydata.com/cluster": name}


def check_overlay(overlay, path):
    with open(path) as file:
        docs = [d for d in yaml.safe_load_all(file) if d]
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    namespaces = by_kind.get("Namespace", [])
    namespace = namespaces[0]["metadata"]["name"] if namespaces else None
    check_schemas(overlay, docs)
    check_services(overlay, by_kind)
    check_secrets_and_rbac(overlay, namespace, by_kind)
    if overlay == "dev":
        database_pods = check_dev(overlay, by_kind)
    elif overlay == "prod":
        database_pods = check_prod(overlay, by_kind)
    else:
        raise SystemExit(f"unknown overlay {overlay}")
    check_network_policies(overlay, by_kind, database_pods)
    kinds = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
    print(f"{overlay}: {len(docs)} objects ({kinds})")


def check_samples():
    """The samples platform teams copy (kubernetes/samples/*.yaml) validate like the overlays."""
    samples = Path(__file__).resolve().parent / "kubernetes" / "samples"
    for path in sorted(samples.glob("*.yaml")):
        with open(path) as file:
            docs = [d for d in yaml.safe_load_all(file) if d]
        check_schemas(f"samples/{path.name}", docs)
        print(f"samples/{path.name}: {len(docs)} objects")


def main(args):
    if not args or len(args) % 2:
        raise SystemExit(__doc__)
    for overlay, path in zip(args[::2], args[1::2]):
        check_overlay(overlay, path)
    check_samples()
    for line in problems:
        print(f"PROBLEM {line}")
    versions = " and ".join(KUBERNETES_VERSIONS)
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    print(f"every object valid against Kubernetes {versions} (strict), PGO's requirements, "
          "and the overlays' promises")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
