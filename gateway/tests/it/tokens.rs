//! API tokens are stored as hashes, on every supported database.

use eyrie_gateway::{
    bootstrap::generate_token,
    store::{TokenStore, hash_token, migration::Migrator},
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
