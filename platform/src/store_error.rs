//! The one failure of a service's storage layer, shared by every service: the database failed,
//! or a row could not be read back. Domain code names it without knowing any SQL.

/// Failures of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed the operation.
    #[error("database: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored row could not be read back into the domain.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the database could not be reached, rather than refusing the operation: no
    /// connection to be had, a connection that broke, or a server shutting down or starting.
    /// A later try may succeed, so services answer `UNAVAILABLE`.
    pub fn is_unreachable(&self) -> bool {
        use sea_orm::{DbErr, RuntimeErr};
        let Self::Database(err) = self else {
            return false;
        };
        match err.downcast_ref::<DbErr>() {
            Some(DbErr::ConnectionAcquire(_)) => true,
            Some(DbErr::Conn(RuntimeErr::SqlxError(err)))
            | Some(DbErr::Exec(RuntimeErr::SqlxError(err)))
            | Some(DbErr::Query(RuntimeErr::SqlxError(err))) => sqlx_unreachable(err),
            _ => false,
        }
    }
}

/// SQLSTATE classes of a lost connection (`08`) and of a server stopping or starting (`57P`,
/// e.g. `57P01 admin_shutdown`, `57P03 cannot_connect_now`).
fn sqlx_unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(err) => err
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

impl From<sea_orm::DbErr> for StoreError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Database(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::{DbErr, RuntimeErr};

    use super::*;

    fn sqlx_failure(err: sqlx::Error) -> StoreError {
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(err))).into()
    }

    #[test]
    fn a_database_out_of_reach_is_told_from_one_that_refuses() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(sqlx_failure(sqlx::Error::Io(refused)).is_unreachable());
        assert!(sqlx_failure(sqlx::Error::PoolTimedOut).is_unreachable());
        assert!(
            StoreError::from(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout))
                .is_unreachable()
        );

        assert!(!sqlx_failure(sqlx::Error::RowNotFound).is_unreachable());
        assert!(!sqlx_failure(sqlx::Error::Protocol("bad message".into())).is_unreachable());
        assert!(!StoreError::from(DbErr::Custom("no".into())).is_unreachable());
        assert!(!StoreError::Corrupt("a row".into()).is_unreachable());
    }
}
