//! # hostgate
//!
//! Decide, at line rate, whether a workload may talk to a destination *name*.
//!
//! A policy (the language is documented in `docs/policy-language.md`) is compiled into one
//! immutable [`Engine`] whose single matcher serves every policy in the file. A lookup normalizes
//! the name once ([`normalize`]), walks its label suffixes right to left through one hash table,
//! and answers with a [`Verdict`]: allow or deny, why, and which rule.
//!
//! ```
//! use hostgate::{Action, Engine, Query, Via};
//!
//! let engine = Engine::compile(
//!     "default deny\n\
//!      allow api.kadath.io\n\
//!      allow **.stripe.com port 443 via tls\n\
//!      deny  api.leng.com id block-leng\n",
//! )
//! .expect("policy compiles");
//! let policy = engine.policy("default").unwrap();
//!
//! let v = engine.check(policy, &Query::new("checkout.stripe.com").port(443).via(Via::Tls));
//! assert_eq!(v.action, Action::Allow);
//! assert_eq!(v.rule.unwrap().line(), 3);
//!
//! let v = engine.check(policy, &Query::new("API.LENG.COM."));
//! assert_eq!(v.action, Action::Deny);
//! assert_eq!(v.rule.unwrap().id(), "block-leng");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod builder;
mod compile;
mod diff;
mod engine;
mod error;
mod file;
pub mod inspect;
mod load;
mod matcher;
mod name;
mod pages;
mod pattern;
mod policy_text;
mod swar;
mod verdict;

pub use builder::{EngineBuilder, PolicySpec, RuleSpec};
pub use diff::{diff, Diff, DiffOptions, Witness};
pub use engine::{Engine, ExplainedRule, Explanation, MatchedRule, RuleId, RuleInfo};
pub use error::{CompileErrors, Diagnostic, Severity};
pub use file::{is_engine_file, EngineFileError, EngineFileInfo, FORMAT_VERSION, MAGIC};
pub use load::{Format, LoadError, LoadErrorKind, LoadedPolicy, PolicySource};
pub use name::{normalize, InvalidName, Name, NameKind, MAX_LABEL_LEN, MAX_NAME_LEN};
pub use pages::SharedBytes;
pub use pattern::{Pattern, PatternError};
pub use verdict::{Action, ParseEnumError, PolicyId, Precedence, Query, Reason, Verdict, Via};
