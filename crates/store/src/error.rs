//! The storage error kinds. Callers see database-neutral kinds, never diesel's errors, so the
//! server maps them to gRPC codes in one place whatever the backend.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What went wrong in the storage layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A value that must be unique already exists. `what` is a complete sentence for a person.
    #[error("{what}")]
    UniqueViolation { what: String },
    /// A record references another that does not exist. `what` is a complete sentence.
    #[error("{what}")]
    ForeignKeyViolation { what: String },
    /// The record an operation needs does not exist (e.g. finishing an unknown job).
    #[error("{what} does not exist")]
    NotFound { what: String },
    /// The database URL cannot be used at all.
    #[error("invalid database URL '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The database cannot be reached or opened; the message names the URL (password masked).
    #[error("{0}")]
    Connection(String),
    /// Applying the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The database stayed busy (locked, or no writer free) for longer than allowed.
    #[error("database is busy: {0}")]
    Busy(String),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(String),
    /// Data read back that this version cannot understand (e.g. an unknown enum word).
    #[error("unexpected data in the database: {0}")]
    Corrupt(String),
    /// A batch for a job that is no longer RUNNING (interrupted meanwhile): not written.
    #[error("import job {id} is no longer running; the batch was not written")]
    JobNotRunning { id: i64 },
    /// Batches of a running job that had committed are gone: the job row holds an older
    /// watermark than its writer saw commit (PostgreSQL crashed before flushing them). What
    /// is stored is consistent (rows and watermark went together), and the import resumes
    /// from it.
    #[error(
        "PostgreSQL lost batches of import job {id} that had committed (the database crashed \
         before flushing them: the rows after source row {stored}, up to {expected}, are not stored); running the \
         same import again continues after row {stored}"
    )]
    BatchesLost { id: i64, stored: u64, expected: u64 },
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::DatabaseError(kind, info) => {
                let message = info.message().trim().to_owned();
                match kind {
                    DatabaseErrorKind::UniqueViolation => StoreError::UniqueViolation {
                        what: format!("a record with the same key already exists ({message})"),
                    },
                    DatabaseErrorKind::ForeignKeyViolation => StoreError::ForeignKeyViolation {
                        what: format!("a referenced record does not exist ({message})"),
                    },
                    DatabaseErrorKind::SerializationFailure => StoreError::Busy(message),
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                        StoreError::Connection(format!("the database connection was closed: {message}"))
                    }
                    _ if is_busy_message(&message) => StoreError::Busy(message),
                    _ if is_connection_lost_message(&message) => {
                        StoreError::Connection(format!("the database connection was lost: {message}"))
                    }
                    _ => StoreError::Database(message),
                }
            }
            DieselError::DeserializationError(e) => StoreError::Corrupt(e.to_string()),
            DieselError::NotFound => StoreError::NotFound {
                what: "the requested record".to_owned(),
            },
            // A COMMIT cut off by a lost connection fails, and so does the rollback diesel then
            // tries: the commit's error is the one that says what happened.
            DieselError::RollbackErrorOnCommit { commit_error, .. } => StoreError::from(*commit_error),
            // diesel marks the transaction state broken when a connection dies inside a
            // transaction; the pool discards such a connection, so this is a lost connection too.
            DieselError::BrokenTransactionManager => {
                StoreError::Connection("the database connection was lost inside a transaction".to_owned())
            }
            other => StoreError::Database(other.to_string()),
        }
    }
}

/// SQLite reports SQLITE_BUSY/SQLITE_LOCKED only through its message; PostgreSQL's lock
/// timeouts and deadlocks are retryable in the same way.
/// libpq reports a connection that broke mid-query (a restart, a cut network) with these, as
/// an error of unknown kind.
fn is_connection_lost_message(message: &str) -> bool {
    [
        "server closed the connection unexpectedly",
        "SSL SYSCALL error",
        "could not receive data from server",
        "could not send data to server",
        "no connection to the server",
        "terminating connection",
        "connection to server",
    ]
    .iter()
    .any(|m| message.contains(m))
}

fn is_busy_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("database is locked")
        || m.contains("database table is locked")
        || m.contains("database is busy")
        || m.contains("deadlock detected")
        || m.contains("could not obtain lock")
        || m.contains("lock timeout")
}

pub(crate) type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_messages_are_recognised() {
        assert!(is_busy_message("database is locked"));
        assert!(is_busy_message("ERROR: deadlock detected"));
        assert!(!is_busy_message("no such table: customers"));
    }

    /// A connection cut during COMMIT (the rollback after it fails too) or leaving diesel's
    /// transaction state broken interrupts a job (it is retryable), not fails it.
    #[test]
    fn a_connection_lost_at_commit_is_a_connection_error() {
        let lost = || {
            DieselError::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new("server closed the connection unexpectedly".to_owned()),
            )
        };
        let at_commit = DieselError::RollbackErrorOnCommit {
            rollback_error: Box::new(lost()),
            commit_error: Box::new(lost()),
        };
        assert!(matches!(StoreError::from(at_commit), StoreError::Connection(_)));
        assert!(matches!(
            StoreError::from(DieselError::BrokenTransactionManager),
            StoreError::Connection(_)
        ));
        let unsent = DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("another command is already in progress".to_owned()),
        );
        assert!(matches!(StoreError::from(unsent), StoreError::Connection(_)));
    }
}
