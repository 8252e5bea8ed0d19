//! The engine's typed failures: the kinds a caller acts on differently
//! (a watcher stops on [`EngineError::NotFound`]; a retry makes no sense on
//! [`EngineError::Exists`]). They travel inside `anyhow::Error` with their
//! context; [`EngineError::of`] finds them. Other typed failures live with
//! what raises them: `UnknownHost`/`ChangedHostKey` in `transport/host_keys.rs`
//! (told apart by `transport::is_refused_host_key`), `transport::Stopped` (an
//! interrupted command), `AwsError` in `aws/ec2` (EC2's error codes).

/// A failure of a kind callers tell apart without reading its message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No job or server of that name (the message names the closest ones).
    #[error("{0}")]
    NotFound(String),
    /// A job or server of that name exists already.
    #[error("{0}")]
    Exists(String),
    /// A request this server cannot honour as asked (an option of another kind).
    #[error("{0}")]
    Usage(String),
}

impl EngineError {
    /// The typed failure in `err`'s chain, if it has one.
    pub fn of(err: &anyhow::Error) -> Option<&EngineError> {
        err.chain().find_map(|cause| cause.downcast_ref())
    }

    /// The name a notebook shows for it (`ename`).
    pub fn name(&self) -> &'static str {
        match self {
            EngineError::NotFound(_) => "NotFound",
            EngineError::Exists(_) => "AlreadyExists",
            EngineError::Usage(_) => "UsageError",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_kind_is_found_under_added_context() {
        let err = Err::<(), _>(EngineError::NotFound("no job \"a\"".into()))
            .context("watching job a")
            .unwrap_err();
        assert!(matches!(
            EngineError::of(&err),
            Some(EngineError::NotFound(_))
        ));
        assert_eq!(format!("{err:#}"), "watching job a: no job \"a\"");
        assert!(EngineError::of(&anyhow::anyhow!("plain")).is_none());
    }
}
