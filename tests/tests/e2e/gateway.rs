//! The gateway routes the public API, and only the public API.

use eyrie_proto::v1::{ListVersionsRequest, version_service_client::VersionServiceClient};
use eyrie_tests::{
    ServiceConfig, ServiceProcess,
    auth::{admin_token, with_token},
    version_behind_gateway,
};
use tonic::Code;

#[tokio::test]
async fn a_backend_that_is_down_gives_unavailable() {
    let data_dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there.
    let gateway = ServiceProcess::start(
        "gateway",
        ServiceConfig::for_service(
            "gateway",
            data_dir.path(),
            "[backends]\nversion = \"http://127.0.0.1:1\"",
        ),
    )
    .await
    .unwrap();
    let mut client = VersionServiceClient::new(gateway.channel().await.unwrap());
    let token = admin_token(data_dir.path());
    let status = client
        .list_versions(with_token(&token, ListVersionsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn internal_services_are_not_reachable_through_the_gateway() {
    use eyrie_proto::internal::v1::{
        RecordVersionRequest, version_recorder_client::VersionRecorderClient,
    };

    let data_dir = tempfile::tempdir().unwrap();
    let (version, gateway) = version_behind_gateway(data_dir.path(), &[]).await.unwrap();

    let mut client = VersionRecorderClient::new(gateway.channel().await.unwrap());
    let status = client
        .record_version(RecordVersionRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert!(
        !version.logs().contains("RecordVersion"),
        "the internal call reached version-svc:\n{}",
        version.logs()
    );
}

#[tokio::test]
async fn calls_need_a_live_token_and_tokens_are_managed_by_global_admins() {
    use eyrie_proto::v1::{
        CreateTokenRequest, RevokeTokenRequest, Role, RoleBinding, Token, WhoAmIRequest,
        access_service_client::AccessServiceClient,
    };

    let data_dir = tempfile::tempdir().unwrap();
    let gateway = ServiceProcess::start(
        "gateway",
        ServiceConfig::for_service("gateway", data_dir.path(), ""),
    )
    .await
    .unwrap();
    let admin = admin_token(data_dir.path());
    let mut access = AccessServiceClient::new(gateway.channel().await.unwrap());

    let missing = access.who_am_i(WhoAmIRequest {}).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated, "{missing:?}");
    let unknown = access
        .who_am_i(with_token("eyr_not-a-token", WhoAmIRequest {}))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated, "{unknown:?}");

    let me = access
        .who_am_i(with_token(&admin, WhoAmIRequest {}))
        .await
        .unwrap()
        .into_inner()
        .token
        .unwrap();
    assert!(me.global_admin);

    let created = access
        .create_token(with_token(
            &admin,
            CreateTokenRequest {
                token_id: "ci-deployer".into(),
                token: Some(Token {
                    display_name: "CI pipeline".into(),
                    role_bindings: vec![RoleBinding {
                        project: "projects/acme".into(),
                        role: Role::Deployer.into(),
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let secret = created.secret;
    let deployer = access
        .who_am_i(with_token(&secret, WhoAmIRequest {}))
        .await
        .unwrap()
        .into_inner()
        .token
        .unwrap();
    assert_eq!(deployer.name, "tokens/ci-deployer");
    assert_eq!(deployer.role_bindings[0].role(), Role::Deployer);

    // A token that is not a global admin cannot make tokens.
    let refused = access
        .create_token(with_token(
            &secret,
            CreateTokenRequest {
                token_id: "sneaky".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    access
        .revoke_token(with_token(
            &admin,
            RevokeTokenRequest {
                name: "tokens/ci-deployer".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let revoked = access
        .who_am_i(with_token(&secret, WhoAmIRequest {}))
        .await
        .unwrap_err();
    assert_eq!(
        revoked.code(),
        Code::Unauthenticated,
        "a revoked token is refused"
    );
    assert!(
        !gateway.logs().contains(&secret),
        "a token appeared in the gateway's log"
    );
}

#[tokio::test]
async fn with_an_internal_credential_services_answer_the_gateway_only() {
    let data_dir = tempfile::tempdir().unwrap();
    let credential = "internal-credential-for-this-test";
    let (version, gateway) = version_behind_gateway(
        data_dir.path(),
        &[("EYRIE_INTERNAL__CREDENTIAL", credential)],
    )
    .await
    .unwrap();
    let request = || ListVersionsRequest {
        parent: "projects/acme/groups/web/deployments/shop".into(),
        ..Default::default()
    };

    let token = admin_token(data_dir.path());
    // Through the gateway the call reaches version-svc, which holds no version of it.
    let listed = VersionServiceClient::new(gateway.channel().await.unwrap())
        .list_versions(with_token(&token, request()))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.versions.is_empty(), "{listed:?}");

    // A client that reaches the service's port directly, even with a forged actor, is refused.
    let mut direct = tonic::Request::new(request());
    direct
        .metadata_mut()
        .insert("x-eyrie-actor", "tokens/someone-else".parse().unwrap());
    let status = VersionServiceClient::new(version.channel().await.unwrap())
        .list_versions(direct)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // Health stays open to probes.
    assert_eq!(
        eyrie_tests::rpc::health(version.channel().await.unwrap(), "")
            .await
            .unwrap(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
}
