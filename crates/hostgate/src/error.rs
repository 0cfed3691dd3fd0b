//! Compile errors and warnings, each with a line and column in the policy text.

use core::fmt;

/// How serious a diagnostic is.
///
/// ```
/// assert_eq!(hostgate::Severity::Error.as_str(), "error");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// The policy does not compile.
    Error,
    /// The policy compiles, but a rule probably does not mean what its author thinks.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem in a policy: where it is, what is wrong and, when obvious, what was meant.
///
/// Lines and columns count from 1 (columns in characters); 0 means "not from text" (rules added
/// through [`crate::EngineBuilder`]).
///
/// ```
/// let errs = hostgate::Engine::compile("allow a..b\n").unwrap_err();
/// let e = &errs.errors()[0];
/// assert_eq!((e.line, e.column), (1, 9)); // the empty label
/// assert!(e.to_string().starts_with("1:9: "));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
    /// What is wrong.
    pub message: String,
    /// What was probably meant, when that is clear.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic made outside the compiler (an importer's, positioned in its own input).
    ///
    /// ```
    /// use hostgate::{Diagnostic, Severity};
    /// let d = Diagnostic::new(Severity::Warning, 2, 7, "UDP is not reproduced");
    /// assert_eq!(d.render("a.yaml"), "a.yaml:2:7: warning: UDP is not reproduced");
    /// ```
    pub fn new(severity: Severity, line: u32, column: u32, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            line,
            column,
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn error(line: u32, column: u32, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            line,
            column,
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn warning(line: u32, column: u32, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(line, column, message)
        }
    }

    pub(crate) fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// The `FILE:LINE:COL: message` form compilers print.
    ///
    /// ```
    /// let errs = hostgate::Engine::compile("allow\n").unwrap_err();
    /// assert!(errs.errors()[0].render("p.hg").starts_with("p.hg:1:6: "));
    /// ```
    pub fn render(&self, file: &str) -> String {
        format!("{file}:{self}")
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.line, self.column)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// Every error found in a policy (compilation does not stop at the first).
///
/// ```
/// let errs = hostgate::Engine::compile("allow a..b\nallow c port 0\n").unwrap_err();
/// assert_eq!(errs.errors().len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileErrors {
    pub(crate) errors: Vec<Diagnostic>,
}

impl CompileErrors {
    /// The errors, in text order.
    pub fn errors(&self) -> &[Diagnostic] {
        &self.errors
    }

    /// Every error as `FILE:LINE:COL: message`, one per line.
    ///
    /// ```
    /// let errs = hostgate::Engine::compile("bogus\n").unwrap_err();
    /// assert!(errs.render("x.policy").starts_with("x.policy:1:1: "));
    /// ```
    pub fn render(&self, file: &str) -> String {
        let mut out = String::new();
        for e in &self.errors {
            out.push_str(&e.render(file));
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for CompileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileErrors {}
