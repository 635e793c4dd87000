//! First-party `exec` plugin: run a granted build, test or lint command
//! (cargo, npm, pytest, make, go) and give the model the end of its output.
//!
//! The command runs through warden's `process` capability as an argv list:
//! no shell is involved, the child starts from an empty environment, and the
//! host checks it against the user's grant and confines it.

mod report;
mod request;
mod tail;

/// The tools as the host calls them (the SDK adds the component exports
/// when built for wasm).
pub mod component {
    use warden_sdk::ToolError;
    use warden_sdk::process::Command;

    use crate::report::{self, RunOutput};
    use crate::request::{self, RunInput};

    fn run(input: RunInput) -> Result<RunOutput, ToolError> {
        request::validate(&input)?;
        let (program, args) = input
            .cmd
            .split_first()
            .ok_or_else(|| ToolError::invalid("cmd is empty"))?;
        let mut cmd = Command::new(program).args(args);
        if let Some(cwd) = &input.cwd {
            cmd = cmd.cwd(cwd);
        }
        if let Some(ms) = input.timeout_ms {
            cmd = cmd.timeout_ms(ms);
        }
        for (key, value) in input.env.iter().flatten() {
            cmd = cmd.env(key, value);
        }
        let output = cmd.run()?;
        Ok(report::summarize(&input.cmd, output))
    }

    warden_sdk::plugin! {
        run: run => "Run one build, test or lint command in the workspace and return how it ended plus the last 200 lines / 16 KiB of stdout and of stderr. `cmd` is the program then its arguments, e.g. [\"cargo\", \"test\", \"-p\", \"fs\"]; no shell is used, so pipes, `&&`, globs and `$VAR` are not expanded. Allowed programs (as granted by the user): cargo test|build|check|clippy|fmt|run|nextest, npm test|ci|run, pytest, make, go test|build|vet. `ok` is true when the exit code is 0 and it did not time out; `stdout_cut`/`stderr_cut` count earlier lines not shown; `truncated` means the host stopped capturing output at its limit. The command has no network access.",
    }
}
