//! Crunchy PGO v5.8 (postgres-operator) for a PostgresCluster, after
//! `internal/controller/postgrescluster/{controller.go, delete.go, instance.go, pgbackrest.go,
//! pgbouncer.go, postgres.go}` at v5.8.9, and Patroni's role labels on the PostgreSQL pods.
//!
//! A pass, as one `Reconcile`:
//! - deletion: the finalizer `postgres-operator.crunchydata.com/finalizer` holds the cluster
//!   until its instances are stopped (replicas first, the primary last); without it, the first
//!   pass adds it and returns;
//! - one StatefulSet per instance, `<cluster>-<set>-<4 chars>`, with 1 replica (0 when shut down:
//!   `spec.shutdown: true` stops the replicas, then the primary, whose instance is remembered in
//!   `status.startupInstance` so that it starts first again); pods out of date with their
//!   StatefulSet (`OnDelete`) are deleted one at a time, the primary last;
//! - the pgBackRest repository host `<cluster>-repo-host` (a StatefulSet, when a repo has a
//!   volume), scaled to 0 once no instance pod is left of a shut-down cluster;
//! - the user Secrets `<cluster>-pguser-<user>` (keys host, port, user, password, verifier, and
//!   with a database dbname, uri, jdbc-uri; with PgBouncer pgbouncer-host, pgbouncer-port,
//!   pgbouncer-uri, pgbouncer-jdbc-uri), created once and kept;
//! - PgBouncer, the Deployment `<cluster>-pgbouncer`, when `spec.proxy.pgBouncer` is set;
//! - status: `observedGeneration` (every pass), `instances[]` (`name`, `replicas`,
//!   `readyReplicas`, `updatedReplicas`), `startupInstance`/`startupInstanceSet`,
//!   `pgbackrest.repoHost`, `pgbackrest.repos[]`, `proxy.pgBouncer`, `patroni.systemIdentifier`,
//!   `usersRevision`/`databaseRevision`, and the conditions `PGBackRestRepoHostReady`,
//!   `PGBackRestReplicaRepoReady`, `PGBackRestReplicaCreate` and `ProxyAvailable`.
//!
//! Not simulated: Services, PersistentVolumeClaims, certificates, ConfigMaps, backup Jobs
//! (the replica-create backup is taken as done one pass after the stanza exists).

mod patroni;
mod users;

use serde_json::{Map, Value, json};

pub use self::patroni::patroni;

use super::{
    Change, Pass,
    object::{
        condition, conditions_of, controlled, deleting, find, generated_name, generation, int,
        kind, label, name, new_owned, put_count, reference, set_condition, text,
    },
    statefulset::{REVISION_LABEL, running_and_ready, update_revision},
    status_change,
};

/// The API version of PostgresCluster.
pub const API_VERSION: &str = "postgres-operator.crunchydata.com/v1beta1";
/// The kind.
pub const KIND: &str = "PostgresCluster";
/// The finalizer PGO puts on every cluster (`naming.Finalizer`).
pub const FINALIZER: &str = "postgres-operator.crunchydata.com/finalizer";

const LABEL_CLUSTER: &str = "postgres-operator.crunchydata.com/cluster";
const LABEL_INSTANCE_SET: &str = "postgres-operator.crunchydata.com/instance-set";
const LABEL_INSTANCE: &str = "postgres-operator.crunchydata.com/instance";
const LABEL_DATA: &str = "postgres-operator.crunchydata.com/data";
const LABEL_ROLE: &str = "postgres-operator.crunchydata.com/role";
const LABEL_PATRONI: &str = "postgres-operator.crunchydata.com/patroni";
const LABEL_PGUSER: &str = "postgres-operator.crunchydata.com/pguser";
/// Patroni's role of the leader (`naming.RolePatroniLeader`) and of the others.
const ROLE_LEADER: &str = "master";
const ROLE_REPLICA: &str = "replica";

/// The images of `config/manager/manager.yaml` at v5.8.9 (`RELATED_IMAGE_*`).
const IMAGE_PREFIX: &str = "registry.developers.crunchydata.com/crunchydata/";
const PGBACKREST_IMAGE: &str =
    "registry.developers.crunchydata.com/crunchydata/crunchy-pgbackrest:ubi9-2.59.0-2633";
const PGBOUNCER_IMAGE: &str =
    "registry.developers.crunchydata.com/crunchydata/crunchy-pgbouncer:ubi9-1.25-2633";

/// One pass of PGO over `cluster`.
pub fn reconcile(cluster: &Value, pass: &Pass<'_>) -> Vec<Change> {
    let finalizers: Vec<Value> = cluster
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let finalized = finalizers.iter().any(|finalizer| finalizer == FINALIZER);
    if deleting(cluster) {
        return if finalized {
            handle_delete(cluster, pass, finalizers)
        } else {
            Vec::new()
        };
    }
    if !finalized {
        let mut updated = cluster.clone();
        let mut finalizers = finalizers;
        finalizers.push(json!(FINALIZER));
        updated["metadata"]["finalizers"] = json!(finalizers);
        return vec![Change::Update(updated)];
    }
    Reconciler::new(cluster, pass).run()
}

/// `handleDelete`: stops the instances, replicas first, then lets the cluster go.
fn handle_delete(cluster: &Value, pass: &Pass<'_>, mut finalizers: Vec<Value>) -> Vec<Change> {
    let pods = instance_pods(cluster, pass.objects);
    if pods.is_empty() {
        finalizers.retain(|finalizer| finalizer != FINALIZER);
        let mut updated = cluster.clone();
        updated["metadata"]["finalizers"] = json!(finalizers);
        return vec![Change::Update(updated)];
    }
    let stopping: Vec<&Value> = if pods.len() == 1 {
        pods
    } else {
        pods.into_iter()
            .filter(|pod| label(pod, LABEL_ROLE) != ROLE_LEADER)
            .collect()
    };
    stopping
        .into_iter()
        .filter_map(|pod| runner_of(pod, pass.objects))
        .filter(|runner| int(runner, "/spec/replicas", 1) != 0)
        .map(|runner| {
            let mut stopped = runner.clone();
            stopped["spec"]["replicas"] = json!(0);
            Change::Update(stopped)
        })
        .collect()
}

/// What one `Reconcile` of a cluster that is not being deleted works with.
struct Reconciler<'a> {
    cluster: &'a Value,
    pass: &'a Pass<'a>,
    name: &'a str,
    shutdown: bool,
    runners: Vec<&'a Value>,
    pods: Vec<&'a Value>,
    status: Value,
    changes: Vec<Change>,
    now: String,
}

impl<'a> Reconciler<'a> {
    fn new(cluster: &'a Value, pass: &'a Pass<'a>) -> Self {
        let runners: Vec<&Value> = controlled(pass.objects, cluster, "StatefulSet")
            .into_iter()
            .filter(|runner| label(runner, LABEL_DATA) == "postgres")
            .collect();
        Self {
            cluster,
            pass,
            name: name(cluster),
            shutdown: super::object::flag(cluster, "/spec/shutdown"),
            runners,
            pods: instance_pods(cluster, pass.objects),
            status: cluster
                .get("status")
                .cloned()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({})),
            changes: Vec::new(),
            now: pass.timestamp(),
        }
    }

    fn run(mut self) -> Vec<Change> {
        self.observe_instances();
        self.startup_instance();
        self.reconcile_instance_sets();
        self.rollout_instances();
        let writable = self.primary().is_some_and(running_and_ready);
        self.reconcile_repo_host(writable);
        self.reconcile_users(writable);
        self.reconcile_pgbouncer();
        self.status["observedGeneration"] = json!(generation(self.cluster));
        self.changes
            .extend(status_change(self.cluster, self.status));
        self.changes
    }

    /// The instance sets of the spec: `(name, replicas)`.
    fn sets(&self) -> Vec<(String, i64)> {
        self.cluster
            .pointer("/spec/instances")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|set| (text(set, "/name").to_owned(), int(set, "/replicas", 1)))
            .collect()
    }

    /// `observeInstances`: `status.instances`, sorted by set name.
    fn observe_instances(&mut self) {
        let mut set_names: Vec<String> = self.sets().into_iter().map(|(set, _)| set).collect();
        for runner in &self.runners {
            set_names.push(label(runner, LABEL_INSTANCE_SET).to_owned());
        }
        set_names.sort();
        set_names.dedup();
        let instances: Vec<Value> = set_names
            .iter()
            .map(|set| {
                let pods: Vec<&&Value> = self
                    .pods
                    .iter()
                    .filter(|pod| label(pod, LABEL_INSTANCE_SET) == set)
                    .collect();
                let count = |keep: &dyn Fn(&Value) -> bool| {
                    i64::try_from(pods.iter().filter(|pod| keep(pod)).count()).unwrap_or(0)
                };
                let mut status = json!({"name": set});
                put_count(&mut status, "replicas", count(&|_| true));
                put_count(
                    &mut status,
                    "readyReplicas",
                    count(&|pod: &Value| super::object::condition_true(pod, "Ready")),
                );
                put_count(
                    &mut status,
                    "updatedReplicas",
                    count(&|pod: &Value| self.matches_template(pod)),
                );
                status
            })
            .collect();
        if instances.is_empty() {
            self.status.as_object_mut().map(|s| s.remove("instances"));
        } else {
            self.status["instances"] = json!(instances);
        }
    }

    /// `PodMatchesPodTemplate`: the pod is of its StatefulSet's current revision, as far as a
    /// StatefulSet that observed its latest spec can tell.
    fn matches_template(&self, pod: &Value) -> bool {
        runner_of(pod, self.pass.objects).is_some_and(|runner| {
            int(runner, "/status/observedGeneration", 0) == generation(runner)
                && label(pod, REVISION_LABEL) == text(runner, "/status/updateRevision")
        })
    }

    fn primary(&self) -> Option<&'a Value> {
        self.pods
            .iter()
            .copied()
            .find(|pod| label(pod, LABEL_ROLE) == ROLE_LEADER)
    }

    /// The primary is remembered while the cluster shuts down, and forgotten once it runs again.
    fn startup_instance(&mut self) {
        let Some(primary) = self.primary() else {
            return;
        };
        if self.shutdown {
            self.status["startupInstance"] = json!(label(primary, LABEL_INSTANCE));
            self.status["startupInstanceSet"] = json!(label(primary, LABEL_INSTANCE_SET));
        } else if let Some(fields) = self.status.as_object_mut() {
            fields.remove("startupInstance");
            fields.remove("startupInstanceSet");
        }
    }

    /// `scaleUpInstances`, `scaleDownInstances` and each instance's StatefulSet intent.
    fn reconcile_instance_sets(&mut self) {
        let instance_pods = self.pods.len();
        let startup = text(&self.status, "/startupInstance").to_owned();
        let primary_instance = self
            .primary()
            .map(|pod| label(pod, LABEL_INSTANCE).to_owned());
        let mut names: Vec<String> = self.runners.iter().map(|r| name(r).to_owned()).collect();
        for (set, replicas) in self.sets() {
            let mut existing: Vec<&Value> = self
                .runners
                .iter()
                .copied()
                .filter(|runner| label(runner, LABEL_INSTANCE_SET) == set)
                .collect();
            // The primary is kept first when a set shrinks.
            existing.sort_by_key(|runner| {
                (
                    primary_instance.as_deref() != Some(name(runner)),
                    name(runner).to_owned(),
                )
            });
            let keep = usize::try_from(replicas).unwrap_or(0);
            for surplus in existing.iter().skip(keep) {
                self.changes.push(Change::Delete(reference(surplus)));
            }
            for runner in existing.iter().take(keep) {
                let wanted = self.instance_replicas(name(runner), &startup, instance_pods);
                let image = self.postgres_image();
                let mut updated = (*runner).clone();
                updated["spec"]["replicas"] = json!(wanted);
                set_images(
                    &mut updated,
                    &[("postgres-startup", &image), ("database", &image)],
                );
                if updated != **runner {
                    self.changes.push(Change::Update(updated));
                }
            }
            for index in existing.len()..keep {
                let seed = format!(
                    "{}/{}/{set}/{index}",
                    self.name,
                    text(self.cluster, "/metadata/uid")
                );
                let instance = generated_name(&format!("{}-{set}-", self.name), &seed, 4, |n| {
                    names.iter().any(|taken| taken == n)
                });
                names.push(instance.clone());
                let wanted = self.instance_replicas(&instance, &startup, instance_pods);
                self.changes.push(Change::Create(
                    self.instance_runner(&set, &instance, wanted),
                ));
            }
        }
    }

    /// Replicas of an instance's StatefulSet: 1, or 0 when it is not the one to start first, or
    /// when it is the last one of a cluster shutting down (`generateInstanceStatefulSetIntent`).
    fn instance_replicas(&self, instance: &str, startup: &str, instance_pods: usize) -> i64 {
        if startup.is_empty() {
            1
        } else if startup != instance || (self.shutdown && instance_pods <= 1) {
            0
        } else {
            1
        }
    }

    fn postgres_image(&self) -> String {
        match text(self.cluster, "/spec/image") {
            "" => match int(self.cluster, "/spec/postgresVersion", 17) {
                15 => format!("{IMAGE_PREFIX}crunchy-postgres:ubi9-15.19-2633"),
                16 => format!("{IMAGE_PREFIX}crunchy-postgres:ubi9-16.15-2633"),
                18 => format!("{IMAGE_PREFIX}crunchy-postgres:ubi9-18.6-2633"),
                _ => format!("{IMAGE_PREFIX}crunchy-postgres:ubi9-17.11-2633"),
            },
            image => image.to_owned(),
        }
    }

    fn pgbackrest_image(&self) -> String {
        match text(self.cluster, "/spec/backups/pgbackrest/image") {
            "" => PGBACKREST_IMAGE.to_owned(),
            image => image.to_owned(),
        }
    }

    /// The StatefulSet of a new instance (`generateInstanceStatefulSetIntent`).
    fn instance_runner(&self, set: &str, instance: &str, replicas: i64) -> Value {
        let mut pod_labels = self.cluster_labels();
        for (key, value) in [
            (LABEL_CLUSTER, self.name),
            (LABEL_INSTANCE_SET, set),
            (LABEL_INSTANCE, instance),
            (LABEL_DATA, "postgres"),
        ] {
            pod_labels.insert(key.to_owned(), json!(value));
        }
        let mut runner = new_owned(
            "apps/v1",
            "StatefulSet",
            instance,
            self.cluster,
            &pod_labels,
        );
        let image = self.postgres_image();
        runner["spec"] = json!({
            "replicas": replicas,
            "serviceName": format!("{}-pods", self.name),
            "revisionHistoryLimit": 0,
            "updateStrategy": {"type": "OnDelete"},
            "selector": {"matchLabels": {
                LABEL_CLUSTER: self.name, LABEL_INSTANCE_SET: set, LABEL_INSTANCE: instance,
            }},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {"kubectl.kubernetes.io/default-container": "database"},
                },
                "spec": {
                    "restartPolicy": "Always",
                    "shareProcessNamespace": true,
                    "enableServiceLinks": false,
                    "initContainers": [{"name": "postgres-startup", "image": image}],
                    "containers": [
                        {
                            "name": "database",
                            "image": image,
                            "ports": [{"name": "postgres", "containerPort": 5432, "protocol": "TCP"}],
                            "readinessProbe": {"httpGet": {"path": "/readiness", "port": 8008, "scheme": "HTTPS"}},
                        },
                        {"name": "pgbackrest", "image": self.pgbackrest_image()},
                    ],
                },
            },
        });
        runner
    }

    /// `cluster.spec.metadata.labels`, which PGO puts on everything it makes.
    fn cluster_labels(&self) -> Map<String, Value> {
        self.cluster
            .pointer("/spec/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// `rolloutInstances`: once every instance is available, deletes one pod that is out of
    /// date with its StatefulSet, replicas before the primary.
    fn rollout_instances(&mut self) {
        if self.shutdown
            || self.pods.is_empty()
            || !self.pods.iter().all(|pod| running_and_ready(pod))
        {
            return;
        }
        let mut outdated: Vec<&Value> = self
            .pods
            .iter()
            .copied()
            .filter(|pod| {
                runner_of(pod, self.pass.objects).is_some_and(|runner| {
                    int(runner, "/status/observedGeneration", 0) == generation(runner)
                        && label(pod, REVISION_LABEL) != update_revision(runner)
                })
            })
            .collect();
        outdated.sort_by_key(|pod| (label(pod, LABEL_ROLE) == ROLE_LEADER, name(pod).to_owned()));
        if let Some(pod) = outdated.first() {
            self.changes.push(Change::Delete(reference(pod)));
        }
    }

    /// The dedicated repository host, and what status says of it and of the stanza.
    fn reconcile_repo_host(&mut self, writable: bool) {
        let repos: Vec<Value> = self
            .cluster
            .pointer("/spec/backups/pgbackrest/repos")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !repos.iter().any(|repo| repo.get("volume").is_some()) {
            return;
        }
        let host_name = format!("{}-repo-host", self.name);
        let wanted = i64::from(!(self.shutdown && self.pods.is_empty()));
        let existing = find(self.pass.objects, "StatefulSet", &host_name);
        match existing {
            Some(host) => {
                let mut updated = host.clone();
                updated["spec"]["replicas"] = json!(wanted);
                set_images(&mut updated, &[("pgbackrest", &self.pgbackrest_image())]);
                if updated != *host {
                    self.changes.push(Change::Update(updated));
                }
            }
            None => self
                .changes
                .push(Change::Create(self.repo_host(&host_name, wanted))),
        }
        let ready = existing.is_some_and(|host| int(host, "/status/readyReplicas", 0) > 0);
        self.status["pgbackrest"]["repoHost"] =
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "ready": ready});
        let (status, reason, message) = if ready {
            (
                "True",
                "RepoHostReady",
                "pgBackRest dedicated repository host is ready",
            )
        } else {
            (
                "False",
                "RepoHostNotReady",
                "pgBackRest dedicated repository host is not ready",
            )
        };
        self.set_condition("PGBackRestRepoHostReady", status, reason, message);
        // The stanza is created once both the primary and the repository host run; the backup
        // for replica creation is taken as done on the next pass.
        let previous: Vec<Value> = self.status["pgbackrest"]["repos"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let repo_statuses: Vec<Value> = repos
            .iter()
            .map(|repo| {
                let repo_name = text(repo, "/name");
                let before = previous.iter().find(|status| status["name"] == repo_name);
                let stanza =
                    before.is_some_and(|b| b["stanzaCreated"] == true) || (writable && ready);
                let mut status = json!({"name": repo_name, "stanzaCreated": stanza});
                if before.is_some_and(|b| b["stanzaCreated"] == true) {
                    status["replicaCreateBackupComplete"] = json!(true);
                }
                status
            })
            .collect();
        let first = repo_statuses.first().cloned().unwrap_or_default();
        self.status["pgbackrest"]["repos"] = json!(repo_statuses);
        if first["stanzaCreated"] == true {
            self.set_condition(
                "PGBackRestReplicaRepoReady",
                "True",
                "StanzaCreated",
                "pgBackRest replica create repo is ready for backups",
            );
        } else {
            self.set_condition(
                "PGBackRestReplicaRepoReady",
                "False",
                "StanzaNotCreated",
                "pgBackRest replica create repo is not ready for backups",
            );
        }
        if first["replicaCreateBackupComplete"] == true {
            self.set_condition(
                "PGBackRestReplicaCreate",
                "True",
                "RepoBackupComplete",
                "pgBackRest replica creation is now possible",
            );
        } else {
            self.set_condition(
                "PGBackRestReplicaCreate",
                "False",
                "RepoBackupNotComplete",
                "pgBackRest replica creation is not currently possible",
            );
        }
    }

    fn repo_host(&self, host_name: &str, replicas: i64) -> Value {
        let mut host_labels = self.cluster_labels();
        for (key, value) in [
            (LABEL_CLUSTER, self.name),
            ("postgres-operator.crunchydata.com/pgbackrest", ""),
            ("postgres-operator.crunchydata.com/pgbackrest-dedicated", ""),
            (LABEL_DATA, "pgbackrest"),
        ] {
            host_labels.insert(key.to_owned(), json!(value));
        }
        let mut host = new_owned(
            "apps/v1",
            "StatefulSet",
            host_name,
            self.cluster,
            &host_labels,
        );
        host["spec"] = json!({
            "replicas": replicas,
            "serviceName": format!("{}-pods", self.name),
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": {
                LABEL_CLUSTER: self.name,
                "postgres-operator.crunchydata.com/pgbackrest": "",
                "postgres-operator.crunchydata.com/pgbackrest-dedicated": "",
            }},
            "template": {
                "metadata": {
                    "labels": host_labels,
                    "annotations": {"kubectl.kubernetes.io/default-container": "pgbackrest"},
                },
                "spec": {
                    "restartPolicy": "Always",
                    "shareProcessNamespace": true,
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "containers": [{"name": "pgbackrest", "image": self.pgbackrest_image()}],
                },
            },
        });
        host
    }

    /// PgBouncer's Deployment, and `ProxyAvailable` from its `Available` condition.
    fn reconcile_pgbouncer(&mut self) {
        let Some(bouncer) = self.cluster.pointer("/spec/proxy/pgBouncer") else {
            self.remove_condition("ProxyAvailable");
            return;
        };
        let deployment_name = format!("{}-pgbouncer", self.name);
        let wanted = if self.shutdown {
            0
        } else {
            int(bouncer, "/replicas", 1)
        };
        let image = match text(bouncer, "/image") {
            "" => PGBOUNCER_IMAGE.to_owned(),
            image => image.to_owned(),
        };
        let existing = find(self.pass.objects, "Deployment", &deployment_name);
        match existing {
            Some(deployment) => {
                let mut updated = deployment.clone();
                updated["spec"]["replicas"] = json!(wanted);
                set_images(&mut updated, &[("pgbouncer", &image)]);
                if updated != *deployment {
                    self.changes.push(Change::Update(updated));
                }
            }
            None => {
                let mut bouncer_labels = self.cluster_labels();
                bouncer_labels.insert(LABEL_CLUSTER.to_owned(), json!(self.name));
                bouncer_labels.insert(LABEL_ROLE.to_owned(), json!("pgbouncer"));
                let mut deployment = new_owned(
                    "apps/v1",
                    "Deployment",
                    &deployment_name,
                    self.cluster,
                    &bouncer_labels,
                );
                deployment["spec"] = json!({
                    "replicas": wanted,
                    "selector": {"matchLabels": {LABEL_CLUSTER: self.name, LABEL_ROLE: "pgbouncer"}},
                    "template": {
                        "metadata": {"labels": bouncer_labels},
                        "spec": {
                            "enableServiceLinks": false,
                            "containers": [{
                                "name": "pgbouncer",
                                "image": image,
                                "ports": [{"name": "pgbouncer", "containerPort": 5432, "protocol": "TCP"}],
                            }],
                        },
                    },
                });
                self.changes.push(Change::Create(deployment));
            }
        }
        let mut proxy = json!({});
        if let Some(deployment) = existing {
            put_count(
                &mut proxy,
                "replicas",
                int(deployment, "/status/replicas", 0),
            );
            put_count(
                &mut proxy,
                "readyReplicas",
                int(deployment, "/status/readyReplicas", 0),
            );
        }
        self.status["proxy"]["pgBouncer"] = proxy;
        match existing.and_then(|deployment| condition(deployment, "Available")) {
            Some(available) => {
                let mut conditions = conditions_of(&self.status);
                conditions.retain(|c| c["type"] != "ProxyAvailable");
                conditions.push(json!({
                    "type": "ProxyAvailable",
                    "status": available["status"],
                    "reason": available["reason"],
                    "message": available["message"],
                    "lastTransitionTime": available["lastTransitionTime"],
                    "observedGeneration": generation(self.cluster),
                }));
                self.status["conditions"] = json!(conditions);
            }
            None => self.remove_condition("ProxyAvailable"),
        }
    }

    /// `meta.SetStatusCondition`, with the cluster's generation.
    fn set_condition(&mut self, condition_type: &str, status: &str, reason: &str, message: &str) {
        let mut conditions = conditions_of(&self.status);
        set_condition(
            &mut conditions,
            json!({
                "type": condition_type,
                "status": status,
                "reason": reason,
                "message": message,
                "observedGeneration": generation(self.cluster),
            }),
            &self.now,
        );
        self.status["conditions"] = json!(conditions);
    }

    fn remove_condition(&mut self, condition_type: &str) {
        let mut conditions = conditions_of(&self.status);
        conditions.retain(|c| c["type"] != condition_type);
        if conditions.is_empty() {
            self.status.as_object_mut().map(|s| s.remove("conditions"));
        } else {
            self.status["conditions"] = json!(conditions);
        }
    }
}

/// The instance pods of `cluster`: labelled with it and an instance set.
fn instance_pods<'a>(cluster: &Value, objects: &'a [Value]) -> Vec<&'a Value> {
    let mut pods: Vec<&Value> = objects
        .iter()
        .filter(|object| {
            kind(object) == "Pod"
                && label(object, LABEL_CLUSTER) == name(cluster)
                && !label(object, LABEL_INSTANCE_SET).is_empty()
        })
        .collect();
    pods.sort_by(|a, b| name(a).cmp(name(b)));
    pods
}

/// The StatefulSet that controls `pod`.
fn runner_of<'a>(pod: &Value, objects: &'a [Value]) -> Option<&'a Value> {
    let owner = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|owner| owner["controller"] == true && owner["kind"] == "StatefulSet")?;
    find(objects, "StatefulSet", owner["name"].as_str()?)
}

/// Sets the image of the named containers (and init containers) of a workload's template,
/// leaving every other field as stored (an API server adds defaults a rebuilt template lacks).
fn set_images(workload: &mut Value, images: &[(&str, &str)]) {
    for field in ["containers", "initContainers"] {
        if let Some(containers) = workload
            .pointer_mut(&format!("/spec/template/spec/{field}"))
            .and_then(Value::as_array_mut)
        {
            for container in containers {
                if let Some((_, image)) = images.iter().find(|(n, _)| container["name"] == *n) {
                    container["image"] = json!(image);
                }
            }
        }
    }
}
