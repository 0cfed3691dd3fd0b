//! Loading `--policy` through the core's one loading path, and choosing the policy to ask.

use hostgate::{Engine, LoadErrorKind, PolicyId, PolicySource};

use crate::{Failure, QueryArgs};

pub struct Loaded {
    pub engine: Engine,
    pub policy: PolicyId,
}

impl Loaded {
    pub fn policy_name(&self) -> &str {
        self.engine.policy_name(self.policy).unwrap_or("")
    }
}

/// Compiles `--policy`, prints its warnings to stderr, and resolves `--policy-name`.
pub fn load(args: &QueryArgs) -> Result<Loaded, Failure> {
    let loaded = PolicySource::read(&args.policy)
        .and_then(|source| source.compile())
        .map_err(failure)?;
    for w in loaded.warnings() {
        eprintln!("{w}");
    }
    let policy = loaded
        .select(args.policy_name.as_deref())
        .map_err(failure)?;
    Ok(Loaded {
        engine: loaded.into_engine(),
        policy,
    })
}

/// Positioned errors print as compilers print them; the others as `hostgate: message`.
fn failure(e: hostgate::LoadError) -> Failure {
    match e.kind() {
        LoadErrorKind::Compile(_) | LoadErrorKind::NotUtf8 { .. } => Failure(format!("{e}\n")),
        _ => Failure::msg(e.to_string()),
    }
}
