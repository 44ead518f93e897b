//! AccessService as a global admin uses it (issue 15, part 5): CreateToken honours its request
//! id, and RevokeToken never revokes the caller's own token or the last global admin.

use eyrie_proto::v1::{self as pb, access_service_client::AccessServiceClient};
use eyrie_tests::auth::with_token;
use tonic::{Code, Status, transport::Channel};

use crate::fixture::Fixture;

fn create_request(token_id: &str, role: pb::Role, request_id: &str) -> pb::CreateTokenRequest {
    pb::CreateTokenRequest {
        token_id: token_id.into(),
        token: Some(pb::Token {
            display_name: "CI pipeline".into(),
            role_bindings: vec![pb::RoleBinding {
                project: "projects/acme".into(),
                role: role.into(),
            }],
            ..Default::default()
        }),
        request_id: request_id.into(),
    }
}

async fn token_names(access: &mut AccessServiceClient<Channel>, token: &str) -> Vec<String> {
    let request = pb::ListTokensRequest {
        show_revoked: true,
        ..Default::default()
    };
    let mut names: Vec<String> = access
        .list_tokens(with_token(token, request))
        .await
        .unwrap()
        .into_inner()
        .tokens
        .into_iter()
        .map(|token| token.name)
        .collect();
    names.sort();
    names
}

fn names_field(status: &Status, field: &str) -> bool {
    status.code() == Code::InvalidArgument && status.message().contains(field)
}

#[tokio::test]
async fn a_retried_create_token_returns_the_first_token_without_its_secret() {
    let fixture = Fixture::start(|_| {}).await;
    let mut access = AccessServiceClient::new(fixture.channel().await);
    let admin = &fixture.token;

    let first = access
        .create_token(with_token(
            admin,
            create_request("", pb::Role::Deployer, "create-ci"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.secret.is_empty());
    let created = first.token.unwrap();
    let tokens = token_names(&mut access, admin).await;

    let retried = access
        .create_token(with_token(
            admin,
            create_request("", pb::Role::Deployer, "create-ci"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried.token.as_ref(), Some(&created), "the first token");
    assert_eq!(retried.secret, "", "a secret is shown once");
    // The first secret is the token's: the retry did not replace it.
    let whoami = with_token(&first.secret, pb::WhoAmIRequest {});
    let me = access
        .who_am_i(whoami)
        .await
        .unwrap()
        .into_inner()
        .token
        .unwrap();
    assert_eq!(me.name, created.name);

    let reused = access
        .create_token(with_token(
            admin,
            create_request("", pb::Role::Admin, "create-ci"),
        ))
        .await
        .unwrap_err();
    assert!(names_field(&reused, "request_id"), "{reused:?}");
    assert!(reused.message().contains(&created.name), "{reused:?}");

    let bad = [
        create_request("ops", pb::Role::Viewer, "has space"),
        create_request("ops", pb::Role::Viewer, &"x".repeat(65)),
    ];
    for request in bad {
        let refused = access
            .create_token(with_token(admin, request))
            .await
            .unwrap_err();
        assert!(names_field(&refused, "request_id"), "{refused:?}");
    }
    let mut twice = create_request("ops", pb::Role::Viewer, "");
    let bindings = &mut twice.token.as_mut().unwrap().role_bindings;
    bindings.push(pb::RoleBinding {
        project: "projects/acme".into(),
        role: pb::Role::Admin.into(),
    });
    let refused = access
        .create_token(with_token(admin, twice))
        .await
        .unwrap_err();
    assert!(
        names_field(&refused, "token.role_bindings[1].project"),
        "{refused:?}"
    );
    assert_eq!(
        token_names(&mut access, admin).await,
        tokens,
        "the refused requests created nothing"
    );
}

async fn revoke(
    access: &mut AccessServiceClient<Channel>,
    token: &str,
    name: &str,
) -> Result<pb::Token, Status> {
    let request = pb::RevokeTokenRequest {
        name: name.into(),
        ..Default::default()
    };
    access
        .revoke_token(with_token(token, request))
        .await
        .map(tonic::Response::into_inner)
}

fn refused_for(status: &Status, reason: &str, name: &str) -> bool {
    status.code() == Code::FailedPrecondition
        && status.message().contains(name)
        && status.message().contains(reason)
}

#[tokio::test]
async fn neither_the_callers_own_token_nor_the_last_global_admin_can_be_revoked() {
    let fixture = Fixture::start(|_| {}).await;
    let mut access = AccessServiceClient::new(fixture.channel().await);
    let bootstrap = fixture.token.clone();
    let bootstrap_name = access
        .who_am_i(with_token(&bootstrap, pb::WhoAmIRequest {}))
        .await
        .unwrap()
        .into_inner()
        .token
        .unwrap()
        .name;

    let alone = revoke(&mut access, &bootstrap, &bootstrap_name)
        .await
        .unwrap_err();
    assert!(
        refused_for(&alone, "last live global admin", &bootstrap_name),
        "{alone:?}"
    );

    let second = access
        .create_token(with_token(
            &bootstrap,
            pb::CreateTokenRequest {
                token_id: "second-admin".into(),
                token: Some(pb::Token {
                    display_name: "Second admin".into(),
                    global_admin: true,
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .secret;
    let own = revoke(&mut access, &bootstrap, &bootstrap_name)
        .await
        .unwrap_err();
    assert!(
        refused_for(&own, "the token this call is made with", &bootstrap_name),
        "{own:?}"
    );
    access
        .who_am_i(with_token(&bootstrap, pb::WhoAmIRequest {}))
        .await
        .expect("the refused revocations left the token live");

    let revoked = revoke(&mut access, &second, &bootstrap_name).await.unwrap();
    assert!(revoked.revoke_time.is_some());
    let locked_out = access
        .who_am_i(with_token(&bootstrap, pb::WhoAmIRequest {}))
        .await
        .unwrap_err();
    assert_eq!(locked_out.code(), Code::Unauthenticated);
    // Idempotent: the revoked token comes back unchanged.
    assert_eq!(
        revoke(&mut access, &second, &bootstrap_name).await.unwrap(),
        revoked
    );

    let last = revoke(&mut access, &second, "tokens/second-admin")
        .await
        .unwrap_err();
    assert!(
        refused_for(&last, "last live global admin", "tokens/second-admin"),
        "{last:?}"
    );
    let missing = revoke(&mut access, &second, "tokens/missing")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}
