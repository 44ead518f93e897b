//! `eyrie up`: the embedded default, every service in one process on loopback ports.
//!
//! The services still talk to each other over real gRPC through their own ports, exactly as
//! when they run apart; only the process is shared. A fresh data directory also gets a sample
//! project to try them on ([`sample`]).

mod sample;

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use clap::Args;
use eyrie_gateway::bootstrap::{generate_token, load_or_create_token};
use eyrie_platform::{
    DatabaseSettings, TelemetrySettings, config,
    internal::InternalSettings,
    shutdown,
    standalone::{Service, announce, bind},
};
use serde::Deserialize;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Options of `eyrie up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Folder holding the databases, the admin token and the `directory` cluster.
    #[arg(long, env = "EYRIE_DATA_DIR", default_value = ".eyrie")]
    data_dir: PathBuf,
    /// Port of the gateway, the one address clients use (0: any free port).
    #[arg(long, env = "EYRIE_GATEWAY_PORT", default_value_t = 50051)]
    port: u16,
    /// Do not create the sample project (scopes, a simulated cluster, a group per type) that a
    /// fresh data directory gets otherwise.
    #[arg(long, env = "EYRIE_NO_SAMPLE")]
    no_sample: bool,
}

/// What `eyrie up` reads from `EYRIE_*` variables (telemetry only: the rest is fixed).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UpSettings {
    telemetry: TelemetrySettings,
}

/// The file in the data directory that keeps the admin token.
const ADMIN_TOKEN_FILE: &str = "admin-token";

/// The services, each with its own SQLite file `<data>/<service>.sqlite`.
const DATABASES: [&str; 4] = ["deployment", "book-runner", "version", "gateway"];

/// Runs every service until Ctrl-C or SIGTERM; the first one to fail stops the others.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let settings: UpSettings = config::load(None, None)?;
    let guard = eyrie_platform::telemetry::init("eyrie", &settings.telemetry)?;
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let data_dir = std::path::absolute(&args.data_dir)?;
    // Decided before any service creates its database: no database yet means a fresh start.
    let databases = DATABASES.map(|service| database_file(&data_dir, service));
    let sample_pending = sample::plan(&data_dir, &databases, args.no_sample)?;
    let clusters_root = data_dir.join("clusters");

    let loopback = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deployment = bind(loopback(0)).await?;
    let book_runner = bind(loopback(0)).await?;
    let version = bind(loopback(0)).await?;
    let gateway = bind(loopback(args.port)).await?;
    let [
        deployment_address,
        book_runner_address,
        version_address,
        gateway_address,
    ] = [&deployment, &book_runner, &version, &gateway].map(|listener| {
        listener
            .local_addr()
            .expect("a bound listener has a local address")
    });
    // Read (or create) the token here, so it can be printed; the gateway accepts the same file.
    let admin_token_file = data_dir.join(ADMIN_TOKEN_FILE);
    let admin_token = load_or_create_token(&admin_token_file)
        .with_context(|| format!("admin token file {}", admin_token_file.display()))?;

    let url = |address: SocketAddr| format!("http://{address}");
    // Every service also listens on its own loopback port, which any local user can reach: a
    // credential shared only in this process's memory keeps them from calling the internal RPCs
    // or naming themselves as someone else in `x-eyrie-actor`. Fresh on every start, never
    // stored or printed; as strong as an API token (32 random bytes).
    let internal = InternalSettings::with_credential(generate_token());

    let gateway_settings = eyrie_gateway::Settings {
        database: sqlite(&data_dir, "gateway"),
        backends: eyrie_gateway::config::Backends {
            deployment: url(deployment_address),
            book_runner: url(book_runner_address),
            version: url(version_address),
            ..Default::default()
        },
        auth: eyrie_gateway::config::AuthSettings {
            bootstrap_token_file: Some(admin_token_file.clone()),
            ..Default::default()
        },
        internal: internal.clone(),
        ..Default::default()
    };
    let stop = CancellationToken::new();
    let mut services = JoinSet::new();
    spawn::<eyrie_deployment_svc::DeploymentSvc>(
        &mut services,
        &stop,
        eyrie_deployment_svc::Settings {
            database: sqlite(&data_dir, "deployment"),
            peers: eyrie_deployment_svc::config::Peers {
                book_runner: Some(url(book_runner_address)),
                version: Some(url(version_address)),
            },
            internal: internal.clone(),
            ..Default::default()
        },
        deployment,
    )?;
    spawn::<eyrie_book_runner_svc::BookRunnerSvc>(
        &mut services,
        &stop,
        eyrie_book_runner_svc::Settings {
            database: sqlite(&data_dir, "book-runner"),
            runner: eyrie_book_runner_svc::config::RunnerSettings {
                // Every `directory` cluster lives in `<data>/clusters`; relative paths start there.
                directory_root: clusters_root.clone(),
                // Everything runs on this machine: `http.check` may reach its loopback (never
                // its link-local or other addresses).
                http_check_allow: ["127.0.0.0/8", "::1"]
                    .into_iter()
                    .map(|allowed| allowed.parse().expect("loopback networks parse"))
                    .collect(),
                // One process, stopped with Ctrl-C: no other replica takes jobs over, and the
                // next start resumes them at once (they are handed back), so waiting is in vain.
                shutdown_grace: std::time::Duration::from_secs(1),
                ..Default::default()
            },
            peers: eyrie_book_runner_svc::config::Peers {
                deployment: Some(url(deployment_address)),
            },
            internal: internal.clone(),
            ..Default::default()
        },
        book_runner,
    )?;
    spawn::<eyrie_version_svc::VersionSvc>(
        &mut services,
        &stop,
        eyrie_version_svc::Settings {
            database: sqlite(&data_dir, "version"),
            internal,
            ..Default::default()
        },
        version,
    )?;
    spawn::<eyrie_gateway::Gateway>(&mut services, &stop, gateway_settings, gateway)?;

    let addresses = [
        deployment_address,
        book_runner_address,
        version_address,
        gateway_address,
    ];
    wait_until_serving(&addresses, &mut services).await?;
    let sample_cluster = clusters_root.join(sample::PROJECT);
    let sample_made = match sample_pending {
        Some(pending) => {
            make_sample(gateway_address, &admin_token, &sample_cluster, &pending).await
        }
        None => false,
    };
    println!("Eyrie is up.");
    println!("  gateway:     http://{gateway_address}");
    println!("  admin token: {admin_token}");
    println!("  data:        {}", data_dir.display());
    if sample_made {
        print!(
            "{}",
            sample::next_steps(gateway_address, &admin_token_file, &sample_cluster)
        );
    }
    println!("Press Ctrl-C to stop.");

    let signal_stop = stop.clone();
    tokio::spawn(async move {
        shutdown::signal().await;
        signal_stop.cancel();
    });

    let mut result = Ok(());
    while let Some(joined) = services.join_next().await {
        let outcome = joined.context("a service task panicked").and_then(|r| r);
        if let Err(err) = outcome {
            tracing::error!(
                error = format!("{err:#}"),
                "a service stopped; stopping the others"
            );
            stop.cancel();
            if result.is_ok() {
                result = Err(err);
            }
        } else if !stop.is_cancelled() {
            stop.cancel();
        }
    }
    guard.shutdown();
    result
}

/// Starts service `S` on `listener` as a task that stops when `stop` is cancelled.
fn spawn<S: Service>(
    services: &mut JoinSet<anyhow::Result<()>>,
    stop: &CancellationToken,
    settings: S::Settings,
    listener: TcpListener,
) -> anyhow::Result<()> {
    announce(
        S::NAME,
        S::server(&settings).scheme(),
        listener.local_addr()?,
    );
    let stop = stop.clone().cancelled_owned();
    services.spawn(async move {
        S::run(settings, listener, stop)
            .await
            .with_context(|| format!("{} failed", S::NAME))
    });
    Ok(())
}

/// Makes the sample project; a failure is only reported, as the services run without it, and
/// the pending file stays so that the next start tries again. Returns whether it was made.
async fn make_sample(
    gateway: SocketAddr,
    admin_token: &str,
    cluster_dir: &Path,
    pending: &Path,
) -> bool {
    let made = sample::create(gateway, admin_token, cluster_dir)
        .await
        .and_then(|()| sample::remove_pending(pending));
    match made {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(
                error = format!("{err:#}"),
                "the sample project is incomplete; the next start completes it"
            );
            false
        }
    }
}

/// Each service gets its own SQLite file, as each gets its own database in production.
fn sqlite(data_dir: &Path, service: &str) -> DatabaseSettings {
    let path = database_file(data_dir, service);
    DatabaseSettings::with_url(format!("sqlite://{}?mode=rwc", path.display()))
}

fn database_file(data_dir: &Path, service: &str) -> PathBuf {
    data_dir.join(format!("{service}.sqlite"))
}

/// Waits until every service answers health `SERVING`, or one of them fails.
async fn wait_until_serving(
    addresses: &[SocketAddr],
    services: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let all_serving = async {
        for address in addresses {
            while !is_serving(*address).await {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    tokio::select! {
        () = all_serving => Ok(()),
        Some(joined) = services.join_next() => {
            joined.context("a service task panicked")??;
            anyhow::bail!("a service stopped before Eyrie was up")
        }
    }
}

async fn is_serving(address: SocketAddr) -> bool {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://{address}")) else {
        return false;
    };
    let Ok(channel) = endpoint.connect().await else {
        return false;
    };
    let mut client = HealthClient::new(channel);
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .is_ok_and(|response| response.into_inner().status == ServingStatus::Serving as i32)
}
