//! The process exit status an error stands for: Docker's 125 (hako itself failed), 126
//! (the command cannot be run), 127 (not found), or a container's own code.

/// An error that carries the process exit code it should produce (`docker run`'s 125,
/// 126, 127).
#[derive(Debug)]
pub struct ExitCode(pub i32);

impl std::error::Error for ExitCode {}

impl std::fmt::Display for ExitCode {
    fn fmt(&self, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Empty: the code is for the process exit status, not for the message.
        let _ = self.0;
        Ok(())
    }
}

/// The error chain on one line, outermost context first.
pub fn describe(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

pub fn exit_code_for(e: &anyhow::Error) -> i32 {
    e.downcast_ref::<ExitCode>().map_or(1, |x| x.0)
}
