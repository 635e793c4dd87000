//! First-party `git` plugin: inspect the workspace's repository and stage
//! and commit changes, through warden's `process` capability.
//!
//! Every invocation starts with the subcommand (the grant's argv pattern
//! does, and global options such as `-c` are refused by the host), passes
//! paths after `--`, and turns off external diff and textconv programs.

mod add;
mod capture;
mod commit;
mod diff;
mod log;
mod show;
mod status;
mod validate;

/// The tools as the host calls them (the SDK adds the component exports
/// when built for wasm).
pub mod component {
    use warden_sdk::ToolError;
    use warden_sdk::process::{Command, Output};

    use crate::add::{self, AddInput, AddOutput};
    use crate::capture;
    use crate::commit::{self, CommitInput, CommitOutput};
    use crate::diff::{self, DiffInput, DiffOutput};
    use crate::log::{self, LogInput, LogOutput};
    use crate::show::{self, ShowInput, ShowOutput};
    use crate::status::{self, StatusInput, StatusOutput};

    /// Run `git args…` and insist that it succeeded.
    fn git<S: Into<String>>(
        args: impl IntoIterator<Item = S>,
        env: Vec<(String, String)>,
    ) -> Result<Output, ToolError> {
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        let sub = args.first().cloned().unwrap_or_default();
        let mut cmd = Command::new("git").args(args);
        for (key, value) in env {
            cmd = cmd.env(key, value);
        }
        capture::check(&sub, cmd.run()?)
    }

    fn status(_: StatusInput) -> Result<StatusOutput, ToolError> {
        let out = git(status::ARGS, Vec::new())?;
        Ok(status::parse(&out.stdout, out.stdout_truncated))
    }

    fn diff(input: DiffInput) -> Result<DiffOutput, ToolError> {
        let out = git(diff::args(&input)?, Vec::new())?;
        Ok(diff::output(&out.stdout, out.stdout_truncated))
    }

    fn log(input: LogInput) -> Result<LogOutput, ToolError> {
        let count = log::count(&input)?;
        let out = git(log::args(&input)?, Vec::new())?;
        Ok(log::parse(&out.stdout, count, out.stdout_truncated))
    }

    fn show(input: ShowInput) -> Result<ShowOutput, ToolError> {
        let out = git(show::args(&input)?, Vec::new())?;
        Ok(show::output(input.rev, &out.stdout, out.stdout_truncated))
    }

    fn add(input: AddInput) -> Result<AddOutput, ToolError> {
        let out = git(add::args(&input)?, Vec::new())?;
        Ok(add::parse(&out.stdout, out.stdout_truncated))
    }

    fn commit(input: CommitInput) -> Result<CommitOutput, ToolError> {
        let args = commit::args(&input)?;
        let env = commit::env(&input)?;
        let made = git(args, env)?;
        // The commit exists now; failing to read its hash back is not a
        // reason to report the call as failed.
        let head = git(commit::REV_PARSE_ARGS, Vec::new()).ok();
        Ok(commit::output(
            &made.stdout,
            head.as_ref().map(|o| o.stdout.as_slice()),
        ))
    }

    warden_sdk::plugin! {
        status: status => "Show the current branch, its upstream with commits ahead/behind, and every changed, staged, untracked or unmerged path (`git status`). Each entry has `path` (and `from` for renames) plus one-letter `index` (staged) and `worktree` (unstaged) states: M modified, A added, D deleted, R renamed, C copied, T type changed, U unmerged, ? untracked, . unchanged. At most 1000 entries.",
        diff: diff => "Show changes as a unified diff (`git diff`): unstaged changes by default, staged ones with `staged: true`, optionally limited to `paths` and with `context` lines around each hunk. Cut at 128 KiB (`truncated: true`); narrow it with `paths` when that happens.",
        log: log => "List recent commits, newest first (`git log`): hash, author `Name <email>`, ISO 8601 date and subject. `max_count` 1-200 (default 20); `paths` limits the history to commits touching them; `more` says older commits exist.",
        show: show => "Show one commit with its message, diffstat and patch (`git show --stat --patch`), or a file as of a revision with `REV:path`. `rev` is e.g. HEAD, HEAD~2, a hash, branch or tag. Cut at 128 KiB (`truncated: true`).",
        add: add => "Stage files for the next commit (`git add`). `paths` lists files or directories relative to the repository root (at least one; `.` for everything); deleted files are staged as removals. Returns the paths git staged.",
        commit: commit => "Commit what is staged (`git commit -m`). Stage files first with `add`. The author and committer are `author_name` <`author_email`> when given, else warden <warden@localhost>. Returns the new commit's hash and git's summary; fails with git's message when nothing is staged.",
    }
}
