//! The sample project `eyrie up` creates on a fresh data directory, so that a first run has
//! something to deploy: scopes Dev (drop allowed) and Production, a simulated `directory`
//! cluster, and one deployment group per type.
//!
//! Made through the gateway with the admin token, the public API every client uses. Whether to
//! make it is decided before the services start: a data directory without any of the services'
//! databases is fresh, and gets a [`PENDING_FILE`] that stays until the sample is complete. A
//! start that finds the file (the previous one stopped midway) makes what is missing, a resource
//! that already exists counting as made; a start that does not find it makes nothing, so a
//! sample the user changed is never made again.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use eyrie_proto::v1::{
    self as pb, cluster::Connection as ClusterConnection,
    deployment_service_client::DeploymentServiceClient,
};
use tonic::{
    Code, Request, Status, metadata::AsciiMetadataValue, service::interceptor::InterceptedService,
    transport::Endpoint,
};

/// The file in the data directory saying the sample is still to be made (or completed).
pub const PENDING_FILE: &str = "sample-pending";

/// The sample project's id.
pub const PROJECT: &str = "sample";

/// The simulated cluster's id; its folder is `<directory root>/sample`.
pub const CLUSTER: &str = "simulated";

/// The groups, one per deployment type: id, display name, type.
const GROUPS: [(&str, &str, pb::DeploymentType); 4] = [
    ("erp", "Odoo servers", pb::DeploymentType::Odoo),
    ("db", "PostgreSQL (Crunchy PGO)", pb::DeploymentType::Pgo),
    (
        "mysql",
        "MySQL (Percona XtraDB Cluster)",
        pb::DeploymentType::Pxc,
    ),
    ("web", "Any container image", pb::DeploymentType::None),
];

/// Decides at start, before any database exists, whether this start makes the sample:
/// `Some(pending file)` when it does. A fresh data directory (none of `databases` exists) gets
/// the pending file now; `--no-sample` removes one left by an earlier start.
pub fn plan(
    data_dir: &Path,
    databases: &[PathBuf],
    no_sample: bool,
) -> anyhow::Result<Option<PathBuf>> {
    let pending = data_dir.join(PENDING_FILE);
    if no_sample {
        remove_pending(&pending)?;
        return Ok(None);
    }
    let fresh = !databases.iter().any(|database| database.exists());
    if fresh {
        std::fs::write(
            &pending,
            "eyrie up makes the sample project while this file exists (see eyrie up --help)\n",
        )
        .with_context(|| format!("cannot write {}", pending.display()))?;
    }
    Ok(pending.exists().then_some(pending))
}

/// Removes the pending file, once the sample is complete (or not wanted).
pub fn remove_pending(pending: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(pending) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot remove {}", pending.display())),
    }
}

/// Makes what is missing of the sample through the gateway at `gateway` as the admin `token`;
/// the cluster's folder is `cluster_dir`.
pub async fn create(gateway: SocketAddr, token: &str, cluster_dir: &Path) -> anyhow::Result<()> {
    let channel = Endpoint::from_shared(format!("http://{gateway}"))?
        .connect()
        .await
        .context("cannot reach the gateway")?;
    let bearer: AsciiMetadataValue = format!("Bearer {token}")
        .parse()
        .context("the admin token is not ASCII")?;
    let mut client = DeploymentServiceClient::new(InterceptedService::new(
        channel,
        move |mut request: Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
            Ok(request)
        },
    ));
    let project = format!("projects/{PROJECT}");

    made(
        "project",
        client
            .create_project(pb::CreateProjectRequest {
                project_id: PROJECT.to_owned(),
                project: Some(pb::Project {
                    display_name: "Sample".to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await,
    )?;
    for (id, display_name, allow_drop) in
        [("dev", "Dev", true), ("production", "Production", false)]
    {
        made(
            "scope",
            client
                .create_scope(pb::CreateScopeRequest {
                    parent: project.clone(),
                    scope_id: id.to_owned(),
                    scope: Some(pb::Scope {
                        display_name: display_name.to_owned(),
                        allow_drop,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await,
        )?;
    }
    made(
        "cluster",
        client
            .create_cluster(pb::CreateClusterRequest {
                parent: project.clone(),
                cluster_id: CLUSTER.to_owned(),
                cluster: Some(pb::Cluster {
                    display_name: "Simulated cluster".to_owned(),
                    connection: Some(ClusterConnection::Directory(pb::DirectoryConnection {
                        path: cluster_dir.display().to_string(),
                        simulated: true,
                    })),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await,
    )?;
    for (id, display_name, deployment_type) in GROUPS {
        made(
            "deployment group",
            client
                .create_deployment_group(pb::CreateDeploymentGroupRequest {
                    parent: project.clone(),
                    deployment_group_id: id.to_owned(),
                    deployment_group: Some(pb::DeploymentGroup {
                        display_name: display_name.to_owned(),
                        r#type: deployment_type.into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await,
        )?;
    }
    Ok(())
}

/// A creation succeeded, or found its resource already there (made by a start that stopped
/// midway).
fn made<T>(what: &str, outcome: Result<T, Status>) -> anyhow::Result<()> {
    match outcome {
        Ok(_) => Ok(()),
        Err(status) if status.code() == Code::AlreadyExists => Ok(()),
        Err(status) => Err(anyhow::anyhow!(
            "cannot create the sample {what}: {} ({:?})",
            status.message(),
            status.code()
        )),
    }
}

/// What `eyrie up` prints after making the sample: what it holds, and three commands to try,
/// preceded by the `export` lines a client needs when the gateway is not at the client's
/// default address or the admin token not in `./.eyrie` (`token_file`).
pub fn next_steps(gateway: SocketAddr, token_file: &Path, cluster_dir: &Path) -> String {
    let groups = GROUPS
        .iter()
        .map(|(id, _, deployment_type)| format!("{id} ({})", type_name(*deployment_type)))
        .collect::<Vec<_>>()
        .join(", ");
    let mut text = format!(
        "Sample project projects/{PROJECT}:\n  \
         scopes:  dev (drop allowed), production\n  \
         cluster: {CLUSTER}, simulated in the folder {}\n  \
         groups:  {groups}\n",
        cluster_dir.display()
    );
    text.push_str("Try it, in another terminal:\n");
    let default_gateway = SocketAddr::from(([127, 0, 0, 1], 50051));
    if gateway != default_gateway {
        text.push_str(&format!("  export EYRIE_SERVER=http://{gateway}\n"));
    }
    let default_token_file = std::path::absolute(Path::new(".eyrie").join("admin-token")).ok();
    if default_token_file.as_deref() != Some(token_file) {
        text.push_str(&format!(
            "  export EYRIE_TOKEN=$(cat {})\n",
            token_file.display()
        ));
    }
    let hello = format!("{PROJECT}/web/hello");
    text.push_str(&format!("  eyrie group show {PROJECT}/web\n"));
    text.push_str(&format!(
        "  eyrie deployment create {hello} --scope dev --cluster {CLUSTER} --image nginx:1.27\n"
    ));
    text.push_str(&format!("  eyrie deployment deploy {hello} --watch\n"));
    text
}

fn type_name(deployment_type: pb::DeploymentType) -> &'static str {
    match deployment_type {
        pb::DeploymentType::Odoo => "odoo",
        pb::DeploymentType::Pgo => "pgo",
        pb::DeploymentType::Pxc => "pxc",
        pb::DeploymentType::None | pb::DeploymentType::Unspecified => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty folder of its own under the system's temporary folder.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("eyrie-up-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_fresh_directory_plans_the_sample_until_it_is_complete() {
        let data_dir = scratch("fresh");
        let databases = [data_dir.join("deployment.sqlite")];

        let pending = plan(&data_dir, &databases, false).unwrap();
        assert_eq!(pending, Some(data_dir.join(PENDING_FILE)));
        // The databases exist from now on; a start that stopped midway leaves the file.
        std::fs::write(&databases[0], "").unwrap();
        assert_eq!(plan(&data_dir, &databases, false).unwrap(), pending);

        remove_pending(pending.as_deref().unwrap()).unwrap();
        assert_eq!(plan(&data_dir, &databases, false).unwrap(), None);
        std::fs::remove_dir_all(&data_dir).unwrap();
    }

    #[test]
    fn no_sample_plans_nothing_and_drops_a_pending_sample() {
        let data_dir = scratch("no-sample");
        let databases = [data_dir.join("deployment.sqlite")];
        assert_eq!(plan(&data_dir, &databases, true).unwrap(), None);
        assert!(!data_dir.join(PENDING_FILE).exists());

        plan(&data_dir, &databases, false).unwrap();
        std::fs::write(&databases[0], "").unwrap();
        assert_eq!(plan(&data_dir, &databases, true).unwrap(), None);
        assert_eq!(plan(&data_dir, &databases, false).unwrap(), None);
        std::fs::remove_dir_all(&data_dir).unwrap();
    }

    #[test]
    fn next_steps_export_only_what_differs_from_the_client_defaults() {
        let token_file = std::path::absolute(".eyrie/admin-token").unwrap();
        let cluster = Path::new("/data/clusters/sample");
        let local = next_steps("127.0.0.1:50051".parse().unwrap(), &token_file, cluster);
        assert!(!local.contains("export"), "{local}");
        assert_eq!(
            local.lines().filter(|l| l.starts_with("  eyrie ")).count(),
            3
        );

        let elsewhere = next_steps(
            "127.0.0.1:40000".parse().unwrap(),
            Path::new("/tmp/data/admin-token"),
            cluster,
        );
        assert!(
            elsewhere.contains("  export EYRIE_SERVER=http://127.0.0.1:40000\n")
                && elsewhere.contains("  export EYRIE_TOKEN=$(cat /tmp/data/admin-token)\n"),
            "{elsewhere}"
        );
    }
}
