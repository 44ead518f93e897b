//! TLS between the real binaries (issue #15, part 7), with certificates made for the test: the
//! gateway serves TLS, deployment-svc serves mutual TLS and so answers only callers holding a
//! certificate of the CA, and a project created through the gateway crosses both.

use eyrie_proto::v1::{self as pb, deployment_service_client::DeploymentServiceClient};
use eyrie_tests::{ServiceConfig, ServiceProcess, auth, cli::EyrieCli, tls::TestPki};
use tonic::transport::{ClientTlsConfig, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// deployment-svc (mutual TLS) and a gateway (TLS) calling it with the client certificate.
async fn start(pki: &TestPki, dir: &std::path::Path) -> (ServiceProcess, ServiceProcess) {
    let deployment = ServiceProcess::start(
        "deployment-svc",
        ServiceConfig::for_service("deployment-svc", dir, &pki.server_toml(true)),
    )
    .await
    .unwrap();
    assert!(
        deployment.url().starts_with("https://"),
        "{}",
        deployment.url()
    );
    let gateway = ServiceProcess::start(
        "gateway",
        ServiceConfig::for_service(
            "gateway",
            dir,
            &format!(
                "[backends]\ndeployment = \"{}\"\n\n{}\n{}",
                deployment.url(),
                pki.server_toml(false),
                pki.internal_toml()
            ),
        ),
    )
    .await
    .unwrap();
    assert!(gateway.url().starts_with("https://"), "{}", gateway.url());
    (deployment, gateway)
}

/// Asserts the call failed in the transport: the server never answered it.
fn assert_unanswered(status: &tonic::Status) {
    use std::error::Error as _;
    let transport = status
        .source()
        .is_some_and(|source| source.is::<tonic::transport::Error>());
    assert!(transport, "{status:?}");
}

fn client(url: &str, tls: ClientTlsConfig) -> DeploymentServiceClient<tonic::transport::Channel> {
    let channel = Endpoint::from_shared(url.to_owned())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_lazy();
    DeploymentServiceClient::new(channel)
}

fn create_acme(token: &str) -> tonic::Request<pb::CreateProjectRequest> {
    auth::with_token(
        token,
        pb::CreateProjectRequest {
            project_id: "acme".into(),
            project: Some(pb::Project {
                display_name: "Acme".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn a_project_is_created_through_a_tls_gateway_and_a_mutual_tls_service() {
    let pki = TestPki::generate("suite").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (deployment, gateway) = start(&pki, dir.path()).await;
    let token = auth::admin_token(dir.path());

    let created = client(&gateway.url(), pki.trusting_client())
        .create_project(create_acme(&token))
        .await
        .unwrap_or_else(|status| panic!("{status:?}\n{}", gateway.logs()))
        .into_inner();
    assert_eq!(created.name, "projects/acme");

    // In plaintext, the gateway's port answers nothing.
    let plaintext = Endpoint::from_shared(format!("http://{}", gateway.address))
        .unwrap()
        .connect_lazy();
    let unanswered = DeploymentServiceClient::new(plaintext)
        .get_project(auth::with_token(
            &token,
            pb::GetProjectRequest {
                name: "projects/acme".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_unanswered(&unanswered);

    // deployment-svc asks for a client certificate: a caller that trusts its CA but has none
    // gets no answer, not even from health; one with the certificate does.
    let without_certificate = Endpoint::from_shared(deployment.url())
        .unwrap()
        .tls_config(pki.trusting_client())
        .unwrap()
        .connect_lazy();
    let refused = HealthClient::new(without_certificate)
        .check(HealthCheckRequest::default())
        .await
        .unwrap_err();
    // (The client sees the server's `CertificateRequired` alert, or the connection closed.)
    assert_unanswered(&refused);
    let with_certificate = Endpoint::from_shared(deployment.url())
        .unwrap()
        .tls_config(pki.client_with_certificate())
        .unwrap()
        .connect_lazy();
    HealthClient::new(with_certificate)
        .check(HealthCheckRequest::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_eyrie_command_reaches_a_tls_gateway_with_its_ca_file() {
    let pki = TestPki::generate("cli").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_deployment, gateway) = start(&pki, dir.path()).await;
    let cli = EyrieCli::new(gateway.url(), auth::admin_token(dir.path()));
    let ca_file = pki.ca_file.to_str().unwrap();

    cli.ok(&["project", "create", "acme", "--ca-file", ca_file])
        .await;
    let listed = cli.ok(&["project", "list", "--ca-file", ca_file]).await;
    assert!(listed.stdout.contains("acme"), "{listed}");

    // Without the CA, the gateway's certificate is not trusted: nothing is sent.
    let untrusted = cli.run(&["project", "list"]).await;
    assert_ne!(untrusted.code, Some(0), "{untrusted}");
    // A CA file with a plaintext address is a mistake, said before any call.
    let plaintext = EyrieCli::new(
        format!("http://{}", gateway.address),
        auth::admin_token(dir.path()),
    );
    let mistaken = plaintext
        .run(&["project", "list", "--ca-file", ca_file])
        .await;
    mistaken.assert_code(2);
    assert!(mistaken.stderr.contains("https://"), "{mistaken}");
}
