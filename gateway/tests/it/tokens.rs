//! API tokens are stored as hashes, on every supported database; a retried create finds its
//! token, and revocation never leaves the installation without a global admin.

use eyrie_gateway::{
    bootstrap::generate_token,
    store::{Created, NewToken, Revoked, TokenStore, hash_token, migration::Migrator},
};
use eyrie_platform::testing::{describe, test_databases};
use sea_orm::{ConnectionTrait as _, Statement};

#[tokio::test]
async fn bootstrap_admin_is_stored_once_and_only_as_a_hash() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
            .await
            .unwrap_or_else(|err| panic!("{backend}: migrations failed: {err}"));
        let store = TokenStore::new(db.clone());
        let token = generate_token();

        store
            .ensure_global_admin(&token, "bootstrap admin")
            .await
            .unwrap();
        store
            .ensure_global_admin(&token, "bootstrap admin")
            .await
            .unwrap();

        let found = store
            .find_live(&token)
            .await
            .unwrap()
            .expect("token is live");
        assert!(found.global_admin, "{backend}");
        assert_eq!(found.token_hash, hash_token(&token), "{backend}");
        assert!(
            store.find_live(&generate_token()).await.unwrap().is_none(),
            "{backend}"
        );
        let caller = store
            .authenticate(&token)
            .await
            .unwrap()
            .expect("authenticated");
        assert_eq!(caller.token.id, found.id, "{backend}");
        assert!(caller.bindings.is_empty(), "{backend}");
        // The first use is recorded, in the database as in the answer.
        assert!(found.last_used_at.is_none(), "{backend}");
        assert!(caller.token.last_used_at.is_some(), "{backend}");
        let reread = store.get(&found.id).await.unwrap().expect("token");
        assert_eq!(
            reread.token.last_used_at.map(|t| t.timestamp()),
            caller.token.last_used_at.map(|t| t.timestamp()),
            "{backend}"
        );
        assert!(
            store
                .authenticate(&generate_token())
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );

        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT token_hash FROM api_tokens",
            ))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{backend}: the second start added a token");
        let stored: String = rows[0].try_get("", "token_hash").unwrap();
        assert!(!stored.contains(&token), "{backend}: token stored in clear");
    }
}

fn new_token(id: &str, request_id: Option<&str>, role: &str) -> NewToken {
    NewToken {
        id: id.into(),
        display_name: format!("{id} pipeline"),
        global_admin: false,
        bindings: vec![("projects/acme".into(), role.into())],
        generated_id: false,
        request_id: request_id.map(str::to_owned),
    }
}

fn global_admin(id: &str) -> NewToken {
    NewToken {
        global_admin: true,
        bindings: Vec::new(),
        ..new_token(id, None, "")
    }
}

async fn token_ids(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM api_tokens ORDER BY id",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get::<String>("", "id").unwrap())
        .collect()
}

#[tokio::test]
async fn a_retried_create_finds_its_token_and_a_reused_request_id_creates_nothing() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
            .await
            .unwrap();
        let store = TokenStore::new(db.clone());

        let secret = generate_token();
        let first = store
            .create(&new_token("ci", Some("create-ci"), "deployer"), &secret)
            .await
            .unwrap();
        let Created::New(created) = first else {
            panic!("{backend}: {first:?}")
        };
        let again = store
            .create(
                &new_token("ci", Some("create-ci"), "deployer"),
                &generate_token(),
            )
            .await
            .unwrap();
        assert_eq!(again, Created::Replayed(created.clone()), "{backend}");
        // The replay kept the first secret: it still authenticates.
        assert_eq!(
            store
                .authenticate(&secret)
                .await
                .unwrap()
                .map(|t| t.token.id.clone()),
            Some("ci".to_owned()),
            "{backend}"
        );

        // Without a token id, the service generates one per call: the retry is recognised by
        // its request id and its fields, and gets the first token.
        let generated = |id: &str| NewToken {
            id: id.into(),
            generated_id: true,
            ..new_token("", Some("create-generated"), "viewer")
        };
        let Created::New(first_generated) = store
            .create(&generated("g1"), &generate_token())
            .await
            .unwrap()
        else {
            panic!("{backend}")
        };
        assert_eq!(
            store
                .create(&generated("g2"), &generate_token())
                .await
                .unwrap(),
            Created::Replayed(first_generated),
            "{backend}"
        );
        let before = token_ids(&db).await;
        assert_eq!(before, ["ci", "g1"], "{backend}");

        // The same request id with another role, or for another token id, is another request.
        for other in [
            new_token("ci", Some("create-ci"), "admin"),
            new_token("ops", Some("create-ci"), "deployer"),
        ] {
            assert_eq!(
                store.create(&other, &generate_token()).await.unwrap(),
                Created::RequestIdReused("tokens/ci".into()),
                "{backend}"
            );
        }
        assert_eq!(
            store
                .create(&new_token("ci", None, "deployer"), &generate_token())
                .await
                .unwrap(),
            Created::IdTaken,
            "{backend}"
        );
        assert_eq!(
            token_ids(&db).await,
            before,
            "{backend}: nothing was created"
        );
    }
}

#[tokio::test]
async fn the_last_global_admin_and_the_callers_own_token_stay_live() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
            .await
            .unwrap();
        let store = TokenStore::new(db);
        let alice_secret = generate_token();
        store
            .create(&global_admin("alice"), &alice_secret)
            .await
            .unwrap();
        store
            .create(&global_admin("bob"), &generate_token())
            .await
            .unwrap();
        store
            .create(&new_token("ci", None, "deployer"), &generate_token())
            .await
            .unwrap();

        assert_eq!(
            store.revoke("alice", "alice").await.unwrap(),
            Revoked::OwnToken,
            "{backend}"
        );
        assert!(
            matches!(store.revoke("ci", "alice").await.unwrap(), Revoked::Done(ci) if ci.token.revoked_at.is_some()),
            "{backend}"
        );
        let Revoked::Done(bob) = store.revoke("bob", "alice").await.unwrap() else {
            panic!("{backend}")
        };
        assert!(bob.token.revoked_at.is_some(), "{backend}");
        // Alice is the last live admin: whoever asks, her token stays live.
        for by in ["alice", "bob"] {
            assert_eq!(
                store.revoke("alice", by).await.unwrap(),
                Revoked::LastGlobalAdmin,
                "{backend}"
            );
        }
        assert!(
            store.authenticate(&alice_secret).await.unwrap().is_some(),
            "{backend}"
        );
        // Revoking a revoked token returns it unchanged.
        assert_eq!(
            store.revoke("bob", "alice").await.unwrap(),
            Revoked::Done(bob),
            "{backend}"
        );
        assert_eq!(
            store.revoke("nobody", "alice").await.unwrap(),
            Revoked::NotFound,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn two_admins_revoking_each_other_at_once_leave_one_of_them() {
    for round in 0..10 {
        for settings in test_databases() {
            let backend = describe(&settings);
            let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
                .await
                .unwrap();
            let store = TokenStore::new(db);
            store
                .create(&global_admin("a"), &generate_token())
                .await
                .unwrap();
            store
                .create(&global_admin("b"), &generate_token())
                .await
                .unwrap();

            let (a_revokes_b, b_revokes_a) =
                tokio::join!(store.revoke("b", "a"), store.revoke("a", "b"));
            let outcomes = [a_revokes_b.unwrap(), b_revokes_a.unwrap()];
            let revoked = outcomes
                .iter()
                .filter(|outcome| matches!(outcome, Revoked::Done(_)))
                .count();
            let kept = outcomes
                .iter()
                .filter(|outcome| **outcome == Revoked::LastGlobalAdmin)
                .count();
            assert_eq!(
                (revoked, kept),
                (1, 1),
                "{backend}, round {round}: {outcomes:?}"
            );
            let live = store.list(None, 10, false).await.unwrap();
            assert_eq!(live.len(), 1, "{backend}, round {round}: one admin is left");
        }
    }
}
