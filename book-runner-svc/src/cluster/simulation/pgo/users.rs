//! PGO's user Secrets (`reconcileUsers`, `generatePostgresUserSecret` in
//! `internal/controller/postgrescluster/postgres.go`), and the revisions status reports once the
//! users and databases exist in PostgreSQL.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use super::{LABEL_CLUSTER, LABEL_PGUSER, LABEL_ROLE, Reconciler};
use crate::cluster::simulation::{
    Change,
    object::{find, hex_digits, int, namespace, new_owned, text},
};

impl Reconciler<'_> {
    /// The user Secrets, made once; users and databases exist in PostgreSQL once it is writable.
    pub(super) fn reconcile_users(&mut self, writable: bool) {
        let specified: Vec<Value> = self
            .cluster
            .pointer("/spec/users")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // Without users, PGO makes one named after the cluster, with a database of that name.
        let users = if specified.is_empty() {
            vec![json!({"name": self.name, "databases": [self.name]})]
        } else {
            specified
        };
        for user in &users {
            let user_name = text(user, "/name");
            let secret_name = format!("{}-pguser-{user_name}", self.name);
            if find(self.pass.objects, "Secret", &secret_name).is_none() {
                self.changes
                    .push(Change::Create(self.user_secret(user, &secret_name)));
            }
        }
        if writable {
            let revision = hex_digits(
                &crate::cluster::simulation::object::canonical(&json!(users)),
                10,
            );
            self.status["usersRevision"] = json!(revision);
            self.status["databaseRevision"] = json!(revision);
            if text(&self.status, "/patroni/systemIdentifier").is_empty() {
                let digits: String = hex_digits(text(self.cluster, "/metadata/uid"), 19)
                    .chars()
                    .map(|digit| {
                        char::from(
                            b'0' + u8::try_from(digit.to_digit(16).unwrap_or(0) % 10).unwrap_or(0),
                        )
                    })
                    .collect();
                self.status["patroni"]["systemIdentifier"] = json!(format!("7{}", &digits[1..]));
            }
        }
    }

    /// `generatePostgresUserSecret`: libpq keywords and URIs for the primary Service (and
    /// PgBouncer's), with a generated password and its SCRAM verifier.
    fn user_secret(&self, user: &Value, secret_name: &str) -> Value {
        let user_name = text(user, "/name");
        let host = format!("{}-primary.{}.svc", self.name, namespace(self.cluster));
        let port = int(self.cluster, "/spec/port", 5432).to_string();
        let seed = format!("{}/{user_name}", text(self.cluster, "/metadata/uid"));
        let password: String = hex_digits(&seed, 24)
            .chars()
            .enumerate()
            .map(|(index, digit)| {
                if index % 3 == 0 {
                    digit.to_ascii_uppercase()
                } else {
                    digit
                }
            })
            .collect();
        let bytes = |seed: &str, length: usize| -> Vec<u8> {
            hex_digits(seed, length * 2)
                .as_bytes()
                .chunks(2)
                .map(|pair| {
                    u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("00"), 16).unwrap_or(0)
                })
                .collect()
        };
        let verifier = format!(
            "SCRAM-SHA-256$4096:{}${}:{}",
            STANDARD.encode(bytes(&format!("{seed}/salt"), 16)),
            STANDARD.encode(bytes(&format!("{seed}/stored"), 32)),
            STANDARD.encode(bytes(&format!("{seed}/server"), 32)),
        );
        let mut data: Vec<(&str, String)> = vec![
            ("host", host.clone()),
            ("port", port.clone()),
            ("user", user_name.to_owned()),
            ("password", password.clone()),
            ("verifier", verifier),
        ];
        let database = user
            .pointer("/databases/0")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(database) = &database {
            data.push(("dbname", database.clone()));
            data.push((
                "uri",
                format!("postgresql://{user_name}:{password}@{host}:{port}/{database}"),
            ));
            data.push((
                "jdbc-uri",
                format!("jdbc:postgresql://{host}:{port}/{database}?password={password}&user={user_name}"),
            ));
        }
        if self.cluster.pointer("/spec/proxy/pgBouncer").is_some() {
            let bouncer_host = format!("{}-pgbouncer.{}.svc", self.name, namespace(self.cluster));
            let bouncer_port = int(self.cluster, "/spec/proxy/pgBouncer/port", 5432).to_string();
            data.push(("pgbouncer-host", bouncer_host.clone()));
            data.push(("pgbouncer-port", bouncer_port.clone()));
            if let Some(database) = &database {
                data.push((
                    "pgbouncer-uri",
                    format!("postgresql://{user_name}:{password}@{bouncer_host}:{bouncer_port}/{database}"),
                ));
                data.push((
                    "pgbouncer-jdbc-uri",
                    format!(
                        "jdbc:postgresql://{bouncer_host}:{bouncer_port}/{database}?password={password}&prepareThreshold=0&user={user_name}"
                    ),
                ));
            }
        }
        let mut secret_labels = self.cluster_labels();
        for (key, value) in [
            (LABEL_CLUSTER, self.name),
            (LABEL_PGUSER, user_name),
            (LABEL_ROLE, "pguser"),
        ] {
            secret_labels.insert(key.to_owned(), json!(value));
        }
        let mut secret = new_owned("v1", "Secret", secret_name, self.cluster, &secret_labels);
        secret["data"] = Value::Object(
            data.into_iter()
                .map(|(key, value)| (key.to_owned(), json!(STANDARD.encode(value))))
                .collect(),
        );
        secret
    }
}
