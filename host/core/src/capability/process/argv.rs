//! What a granted program may be run with: its arguments, flags and
//! environment (THREATS.md, P2).
//!
//! Four decisions, each a pure function of trusted tables and the call:
//! - [`ArgvPattern`]: do the arguments fit the grant's positional pattern?
//! - [`FlagPolicy`]: is any argument a spelling of a flag that lets the
//!   program run other code or read other config (`find -exec`, `rg --pre`,
//!   `git -c`)? Refused whatever the pattern says, because `**` patterns are
//!   common and a user granting `git log **` did not mean `git log --output`.
//! - [`check_env_key`]: may the plugin pass this environment key at all?
//! - [`forced_env`]: what warden sets last, so a plugin cannot undo it.
//!
//! Programs are chosen by file name, lower-cased (`/usr/bin/GIT.exe` →
//! `git`): profiles must not depend on `PATH`, and a case-insensitive file
//! system runs `GIT` as git. The caller should apply the checks for both the
//! granted name and the resolved (symlink-free) name when they differ.
//!
//! # How flags are matched
//! A denied flag is refused in every spelling the common option parsers
//! accept, so `--pre=x`, `--pre x` and `--pr` get the same decision:
//! - `--name` matches a token `--xyz` or `--xyz=value` when `xyz` is `name`
//!   or any non-empty prefix of it, because glibc `getopt_long`, GNU argp
//!   and git's parse-options all take unambiguous abbreviations — git takes
//!   even one letter (`git clone --u=<cmd>` is `--upload-pack`). A profile
//!   lists the tool's real options that happen to be such prefixes (git's
//!   `--text`), since an exact option name wins over an abbreviation.
//!   It also matches `-name` and `-name=value`, the spelling of Go's flag
//!   package and of `getopt_long_only`.
//! - `-c` (one letter) matches any token that starts with a single `-` and
//!   has `c` anywhere after it: clusters (`-vc`), attached values (`-cfoo`).
//!   This knows nothing of which letters take values, so it also refuses
//!   harmless tokens whose attached value happens to hold the letter
//!   (`git log -Sprocess` for `-p` and `-c`, `rg -efooz` for `-z`). Long
//!   spellings of the harmless options stay available, and the refusal text
//!   names them where it helps.
//! - `-word` (one dash, several letters, like find's `-exec`) matches the
//!   token `-word` or `--word`, alone or with `=value`, and nothing longer:
//!   `-executable` is a different find test.
//! - An entry without a leading dash (`difftool`) matches an argument equal
//!   to it, wherever it is.
//! - Tokens after `--` are checked too. `--` ends options only for the
//!   program's own parser; many tools hand later arguments to another parser
//!   or program (`cargo test -- …`, `npm run x -- …`), and knowing which
//!   would take a model of every tool.
//! - For tar, whose first argument may be a dash-less letter cluster
//!   (`tar xIf prog a.tar`), that argument is checked like `-xIf`.
//!
//! Response files (`@file`) are not read: no profiled tool takes options
//! from them.

use std::borrow::Cow;
use std::fmt;

use crate::escape::escape;

/// Most tokens an argv pattern may have; manifests are plugin-controlled.
pub const MAX_PATTERN_TOKENS: usize = 64;
/// Most literal alternatives in one pattern token.
pub const MAX_ALTERNATIVES: usize = 64;
/// Longest literal in a pattern, in bytes.
pub const MAX_LITERAL_BYTES: usize = 256;
/// Longest environment key a plugin may pass, in bytes.
pub const MAX_ENV_KEY_BYTES: usize = 128;

/// A positional argv pattern. Tokens: `a|b|c` = one argument equal to one of
/// the literal alternatives; `*` = exactly one argument, any value; `**` =
/// any number (0+) of remaining arguments, allowed only as the last token.
/// A literal may not contain whitespace or be empty. The pattern does not
/// include the program name.
///
/// Literals also may not contain `*` (patterns have no globs, and a literal
/// `*.rs` would silently never match what its author meant) nor control or
/// invisible characters (the pattern is shown to people when granting).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct ArgvPattern {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    OneOf(Vec<String>),
    Any,
    Rest,
}

/// Why an argv pattern (in a manifest or a grant) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Over [`MAX_PATTERN_TOKENS`].
    #[error("an argv pattern has at most {MAX_PATTERN_TOKENS} tokens; this one has {0}")]
    TooManyTokens(usize),
    /// `**` before the end.
    #[error(
        "token {0} `**` must be the last token of the pattern: it takes all remaining arguments"
    )]
    RestNotLast(usize),
    /// `""`.
    #[error("token {0} of the argv pattern is empty")]
    EmptyToken(usize),
    /// Over [`MAX_ALTERNATIVES`] in one token.
    #[error("token {n} has {count} alternatives; at most {MAX_ALTERNATIVES} are allowed")]
    TooManyAlternatives { n: usize, count: usize },
    /// `a||b`, `|a` or `a|`.
    #[error(
        "token {n} {raw:?} has an empty alternative: write `a|b`, with no `|` doubled or at either end"
    )]
    EmptyAlternative { n: usize, raw: String },
    /// A literal over [`MAX_LITERAL_BYTES`].
    #[error("token {n} has a literal of {len} bytes; at most {MAX_LITERAL_BYTES} are allowed")]
    LongLiteral { n: usize, len: usize },
    /// A `*` inside a literal: patterns have no globs.
    #[error(
        "token {n} {raw:?} contains `*`: `*` and `**` must stand alone as tokens, and patterns have no globs"
    )]
    Glob { n: usize, raw: String },
    /// Whitespace inside a literal.
    #[error("token {n} {raw:?} contains whitespace ({c:?}): give each argument as its own token")]
    Whitespace { n: usize, raw: String, c: char },
    /// A control or invisible character.
    #[error("token {n} {raw:?} contains a control or invisible character")]
    Invisible { n: usize, raw: String },
}

/// Why a call's arguments do not fit a pattern; arguments are counted from
/// 1 after the program name and shown escaped with `{:?}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// Fewer arguments than the pattern needs.
    #[error("argument {n} is missing: the grant `{pattern}` expects {expected} there")]
    Missing {
        n: usize,
        pattern: String,
        expected: String,
    },
    /// An argument other than the pattern allows there.
    #[error("argument {n} {arg:?} does not fit the grant `{pattern}`: expected {expected} there")]
    DoesNotFit {
        n: usize,
        arg: String,
        pattern: String,
        expected: String,
    },
    /// Any argument, where the pattern allows none.
    #[error("argument 1 {arg:?} is not allowed: the grant allows no arguments")]
    NoneAllowed { arg: String },
    /// More arguments than the pattern takes.
    #[error(
        "argument {n} {arg:?} is extra: the grant `{pattern}` takes exactly {takes} argument{plural}"
    )]
    Extra {
        n: usize,
        arg: String,
        pattern: String,
        takes: usize,
        plural: &'static str,
    },
}

/// A flag warden refuses for a program, whatever the grant says; `arg`
/// and `program` are escaped for display.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{arg}` is refused for {program}: {why}")]
pub struct FlagRefused {
    /// The argument as given.
    pub arg: String,
    /// The program's name.
    pub program: String,
    /// Why it is refused.
    pub why: &'static str,
}

/// Why an environment key cannot be passed to a program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvKeyError {
    /// `""`.
    #[error("an environment key cannot be empty")]
    Empty,
    /// Over [`MAX_ENV_KEY_BYTES`].
    #[error("an environment key of {0} bytes is longer than the limit of {MAX_ENV_KEY_BYTES}")]
    TooLong(usize),
    /// `=` ends a key.
    #[error("`{0}` cannot be an environment key: it contains `=`, which ends a key")]
    Equals(String),
    /// NUL ends a C string.
    #[error("`{0}` cannot be an environment key: it contains NUL")]
    Nul(String),
    /// Anything but printable ASCII.
    #[error("`{0}` cannot be an environment key: only printable ASCII without spaces is allowed")]
    NotPrintable(String),
    /// A key that changes what the program runs or reads.
    #[error("`{key}` cannot be granted to a program: {why}")]
    Refused { key: String, why: &'static str },
}

impl ArgvPattern {
    /// Parse manifest tokens (`["test|build", "**"]`).
    pub fn parse(tokens: &[String]) -> Result<Self, PatternError> {
        if tokens.len() > MAX_PATTERN_TOKENS {
            return Err(PatternError::TooManyTokens(tokens.len()));
        }
        let mut parsed = Vec::with_capacity(tokens.len());
        for (i, raw) in tokens.iter().enumerate() {
            let n = i + 1;
            parsed.push(match raw.as_str() {
                "**" if n == tokens.len() => Token::Rest,
                "**" => return Err(PatternError::RestNotLast(n)),
                "*" => Token::Any,
                "" => return Err(PatternError::EmptyToken(n)),
                _ => Token::OneOf(parse_alternatives(n, raw)?),
            });
        }
        Ok(Self { tokens: parsed })
    }

    /// Parse a command-line grant spec such as `"test|check **"`: tokens
    /// separated by whitespace. An empty spec allows no arguments.
    pub fn parse_spec(spec: &str) -> Result<Self, PatternError> {
        let tokens: Vec<String> = spec.split_whitespace().map(str::to_owned).collect();
        Self::parse(&tokens)
    }

    /// Ok, or Err naming the first argument (counted from 1 after the
    /// program name, value escaped with `{:?}`) that does not fit and what
    /// was expected there, or that arguments were missing or extra.
    pub fn check(&self, args: &[String]) -> Result<(), Mismatch> {
        for (i, token) in self.tokens.iter().enumerate() {
            let n = i + 1;
            if *token == Token::Rest {
                return Ok(());
            }
            let Some(arg) = args.get(i) else {
                return Err(Mismatch::Missing {
                    n,
                    pattern: self.to_string(),
                    expected: token.expected(),
                });
            };
            if let Token::OneOf(alternatives) = token
                && !alternatives.iter().any(|a| a == arg)
            {
                return Err(Mismatch::DoesNotFit {
                    n,
                    arg: arg.clone(),
                    pattern: self.to_string(),
                    expected: token.expected(),
                });
            }
        }
        match args.get(self.tokens.len()) {
            None => Ok(()),
            Some(arg) if self.tokens.is_empty() => Err(Mismatch::NoneAllowed { arg: arg.clone() }),
            Some(arg) => Err(Mismatch::Extra {
                n: self.tokens.len() + 1,
                arg: arg.clone(),
                pattern: self.to_string(),
                takes: self.tokens.len(),
                plural: if self.tokens.len() == 1 { "" } else { "s" },
            }),
        }
    }
}

fn parse_alternatives(n: usize, raw: &str) -> Result<Vec<String>, PatternError> {
    let alternatives: Vec<&str> = raw.split('|').collect();
    if alternatives.len() > MAX_ALTERNATIVES {
        return Err(PatternError::TooManyAlternatives {
            n,
            count: alternatives.len(),
        });
    }
    let raw = raw.to_string();
    for alt in &alternatives {
        if alt.is_empty() {
            return Err(PatternError::EmptyAlternative { n, raw });
        }
        if alt.len() > MAX_LITERAL_BYTES {
            return Err(PatternError::LongLiteral { n, len: alt.len() });
        }
        if alt.contains('*') {
            return Err(PatternError::Glob { n, raw });
        }
        if let Some(c) = alt.chars().find(|c| c.is_whitespace()) {
            return Err(PatternError::Whitespace { n, raw, c });
        }
        if escape(alt) != *alt {
            return Err(PatternError::Invisible { n, raw });
        }
    }
    Ok(alternatives.into_iter().map(str::to_owned).collect())
}

impl Token {
    fn expected(&self) -> String {
        match self {
            Token::OneOf(alts) if alts.len() == 1 => format!("`{}`", alts[0]),
            Token::OneOf(alts) => {
                let quoted: Vec<String> = alts.iter().map(|a| format!("`{a}`")).collect();
                format!("one of {}", quoted.join(", "))
            }
            Token::Any => "an argument".to_owned(),
            Token::Rest => "any arguments".to_owned(),
        }
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::OneOf(alts) => f.write_str(&alts.join("|")),
            Token::Any => f.write_str("*"),
            Token::Rest => f.write_str("**"),
        }
    }
}

impl fmt::Display for ArgvPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, token) in self.tokens.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{token}")?;
        }
        Ok(())
    }
}

impl TryFrom<Vec<String>> for ArgvPattern {
    type Error = PatternError;
    fn try_from(tokens: Vec<String>) -> Result<Self, PatternError> {
        Self::parse(&tokens)
    }
}

impl From<ArgvPattern> for Vec<String> {
    fn from(pattern: ArgvPattern) -> Self {
        pattern.tokens.iter().map(Token::to_string).collect()
    }
}

/// The file name a program is known by: the last path component, ASCII
/// lower-cased, without `.exe`.
fn program_name(program: &str) -> String {
    let base = program.rsplit(['/', '\\']).next().unwrap_or(program);
    let lower = base.to_ascii_lowercase();
    match lower.strip_suffix(".exe") {
        Some(stem) if !stem.is_empty() => stem.to_owned(),
        _ => lower,
    }
}

/// Why a program must not be granted at all: each exists to run another
/// program (or itself later, elsewhere), so a grant for it would not say what
/// runs, and the other program's flag profile would not apply. Grant the
/// program it would run instead. Shells are not here: a shell is grantable
/// on purpose, and granting one says plainly that anything may run.
pub fn program_refusal(basename: &str) -> Option<&'static str> {
    let name = program_name(basename);
    // ld.so, ld-linux-x86-64.so.2, ld-musl-x86_64.so.1, ld-2.31.so, ld64.so.2
    if (name.starts_with("ld.") || name.starts_with("ld-") || name.starts_with("ld64."))
        && name.contains(".so")
    {
        return Some("the dynamic loader runs any binary, around the program grant");
    }
    REFUSED_PROGRAMS
        .iter()
        .find(|(names, _)| names.contains(&name.as_str()))
        .map(|(_, why)| *why)
}

const RUNS_ANOTHER: &str = "it exists to run another program named in its arguments, so the grant would not say what runs; grant that program instead";

#[rustfmt::skip]
const REFUSED_PROGRAMS: &[(&[&str], &str)] = &[
    (&["env", "nohup", "timeout", "nice", "ionice", "chrt", "taskset", "stdbuf", "prlimit",
       "numactl", "flock", "time", "watch", "unbuffer", "faketime", "setarch", "linux32",
       "linux64", "script"], RUNS_ANOTHER),
    (&["xargs", "parallel"], "it runs commands built from its arguments and input"),
    (&["setsid", "daemonize", "start-stop-daemon"],
        "it starts a program detached from the call, to outlive it"),
    (&["sudo", "doas", "su", "runuser", "pkexec", "sg", "newgrp"],
        "it runs programs as another user or group"),
    (&["strace", "ltrace", "gdb", "lldb", "valgrind", "rr", "perf"],
        "it runs another program under its control (and can change what it does)"),
    (&["chroot", "unshare", "nsenter", "setpriv", "capsh", "bwrap", "firejail", "proot",
       "fakeroot", "schroot", "cgexec", "systemd-run"],
        "it runs another program with a changed root, namespaces or privileges"),
    (&["busybox", "toybox", "coreutils"],
        "a multi-call binary: its first argument picks any of hundreds of programs"),
    (&["at", "batch", "crontab"], "it schedules commands to run later, outside warden"),
    (&["tmux", "screen"], "it starts a server that runs commands outside the call's process tree"),
    (&["npx"], "it runs any package binary, or any command with `npx -c`"),
];

/// Refusal text for flags a plugin's manifest adds.
const MANIFEST_WHY: &str = "denied by the plugin's manifest";

/// A built-in flag profile for a well-known tool.
#[derive(Debug)]
struct Profile {
    names: &'static [&'static str],
    deny: &'static [(&'static str, &'static str)],
    /// Real long options that are also prefixes of a denied name; given
    /// exactly, the tool takes them as themselves, not as an abbreviation.
    own_options: &'static [&'static str],
    /// The first argument may be a dash-less cluster of short options.
    first_arg_cluster: bool,
    /// Compare long names ignoring case and treating `_` as `-`: npm reads
    /// config names from several sources with different conventions, and
    /// the looser match costs nothing.
    loose_names: bool,
    /// Why an argument that is a variable assignment (`VAR=x`, `VAR:=x`,
    /// `VAR+=x`, …) is refused, for tools that take them as code.
    assignments: Option<&'static str>,
    /// Why the program gets no stdin from a plugin: it can read code there.
    stdin_code: Option<&'static str>,
    /// Options whose value names a file (or directory) the program reads
    /// code from; see [`FlagPolicy::code_paths`].
    code_paths: &'static [&'static str],
    /// A first argument `+<toolchain>` picks the toolchain that runs
    /// (rustup's proxies), also by path.
    toolchain_arg: bool,
    /// Text refused anywhere inside any argument.
    deny_within: &'static [(&'static str, &'static str)],
}

impl Profile {
    const fn new(
        names: &'static [&'static str],
        deny: &'static [(&'static str, &'static str)],
    ) -> Self {
        Self {
            names,
            deny,
            own_options: &[],
            first_arg_cluster: false,
            loose_names: false,
            assignments: None,
            stdin_code: None,
            code_paths: &[],
            toolchain_arg: false,
            deny_within: &[],
        }
    }
}

const GIT_PROGRAM_CONFIG: &str = "sets git config, including settings that run programs";
const GIT_FILTER: &str = "git filter-branch runs it as a shell command";
const GIT_SEND_EMAIL: &str = "git send-email runs it as a command";
const TAR_VOLUME: &str = "runs a script at the end of each tape volume";
const FIND_EXEC: &str = "runs a command for each file found";
const FIND_WRITE: &str = "writes to a file it names";
const NPM_CONFIG_FILE: &str = "reads npm config from a file it names, and config can set the shell, git and node options npm uses";

#[rustfmt::skip]
const GIT: Profile = Profile {
    names: &["git"],
    deny: &[
        ("-c", "sets any git config, including settings that run programs (for `git switch -c` spell --create)"),
        ("--config-env", GIT_PROGRAM_CONFIG),
        ("--config", GIT_PROGRAM_CONFIG),
        ("--exec-path", "chooses the directory git runs its own subcommands from"),
        ("--git-dir", "points git at another repository, whose config can run programs"),
        ("--work-tree", "points git at a work tree other than the granted one"),
        ("-C", "runs git in another directory, whose repository config can run programs (for copy detection spell --find-copies)"),
        ("--namespace", "makes git read and write refs outside the ones the user sees"),
        ("--upload-pack", "names the program git fetch, clone and ls-remote run"),
        ("--receive-pack", "names the program git push runs"),
        ("-u", "git clone -u names the upload-pack program (spell out --update, --untracked-files or --set-upstream)"),
        ("--exec", "git rebase --exec runs a shell command; for archive, ls-remote and push it names the program to run"),
        ("-x", "git rebase -x and git difftool -x run a command"),
        ("--extcmd", "git difftool --extcmd runs a command"),
        ("--ext-diff", "runs the external diff programs named in config"),
        ("--textconv", "runs the text-conversion programs named in config"),
        ("--output", "writes git's output to any file it names"),
        ("-O", "git grep -O opens matches with a program it names (for diff order spell --orderfile)"),
        ("--open-files-in-pager", "opens matches with a program it names"),
        ("-p", "is git's --paginate, which starts a pager (for patch output spell --patch; for fetch, --prune)"),
        ("--paginate", "starts a pager program"),
        ("--template", "copies hooks from a template directory into the repository"),
        ("--separate-git-dir", "puts the repository, with its config and hooks, in another directory"),
        ("--tree-filter", GIT_FILTER),
        ("--index-filter", GIT_FILTER),
        ("--msg-filter", GIT_FILTER),
        ("--env-filter", GIT_FILTER),
        ("--commit-filter", GIT_FILTER),
        ("--parent-filter", GIT_FILTER),
        ("--tag-name-filter", GIT_FILTER),
        ("--sendmail-cmd", GIT_SEND_EMAIL),
        ("--smtp-server", "git send-email runs it as a command when it is a path"),
        ("--to-cmd", GIT_SEND_EMAIL),
        ("--cc-cmd", GIT_SEND_EMAIL),
        ("--header-cmd", GIT_SEND_EMAIL),
        ("difftool", "runs the diff tools named in config"),
        ("mergetool", "runs the merge tools named in config"),
        ("instaweb", "starts a web server and a browser"),
        ("web--browse", "starts a browser program"),
        ("filter-branch", "rewrites history by running shell commands"),
        ("foreach", "git submodule foreach runs a shell command in each submodule"),
        ("run", "git bisect run runs a command (an argument spelled `run` is refused wherever it is)"),
    ],
    // `git diff --text` is an option of its own, not short for --textconv.
    own_options: &["text"],
    first_arg_cluster: false,
    loose_names: false,
    assignments: None,
    stdin_code: None,
    code_paths: &[],
    toolchain_arg: false,
    deny_within: &[],
};

#[rustfmt::skip]
const FIND: Profile = Profile::new(
    &["find", "gfind"],
    &[
        ("-exec", FIND_EXEC),
        ("-execdir", FIND_EXEC),
        ("-ok", FIND_EXEC),
        ("-okdir", FIND_EXEC),
        ("-delete", "deletes the files found"),
        ("-fprint", FIND_WRITE),
        ("-fprint0", FIND_WRITE),
        ("-fprintf", FIND_WRITE),
        ("-fls", FIND_WRITE),
    ],
);

#[rustfmt::skip]
const RG: Profile = Profile::new(
    &["rg"],
    &[
        ("--pre", "runs a program on every file searched"),
        ("--pre-glob", "chooses the files --pre runs a program on"),
        ("-z", "runs decompression programs on compressed files"),
        ("--search-zip", "runs decompression programs on compressed files"),
        ("--hostname-bin", "runs a program to learn the host name"),
    ],
);

#[rustfmt::skip]
const CARGO: Profile = Profile {
    code_paths: &["--manifest-path", "--path", "--target"],
    toolchain_arg: true,
    ..Profile::new(
        &["cargo"],
        &[
            ("--config", "sets any cargo config, including runners, linkers and wrappers that run programs"),
            ("-Z", "turns on unstable features, including ones that override config and programs"),
        ],
    )
};

// rustup's proxies: each takes `+<toolchain>` first, and rustc's options
// can name the linker and load codegen backends.
#[rustfmt::skip]
const RUST_TOOLS: Profile = Profile {
    toolchain_arg: true,
    ..Profile::new(
        &["rustc", "rustdoc", "rustfmt", "cargo-fmt", "cargo-clippy", "clippy-driver",
          "cargo-miri", "rust-analyzer", "rust-gdb", "rust-lldb", "rls"],
        &[
            ("-C", "sets codegen options, including the linker program (-C linker=)"),
            ("--codegen", "sets codegen options, including the linker program"),
            ("-Z", "turns on unstable options, including ones that load code (-Z codegen-backend)"),
        ],
    )
};

#[rustfmt::skip]
const TAR: Profile = Profile {
    names: &["tar", "gtar", "bsdtar"],
    deny: &[
        ("--to-command", "pipes each extracted file into a command"),
        ("--use-compress-program", "runs the (de)compression program it names"),
        ("-I", "is --use-compress-program: runs the program it names"),
        ("--checkpoint-action", "runs a command at each checkpoint (exec=)"),
        ("--info-script", TAR_VOLUME),
        ("-F", TAR_VOLUME),
        ("--new-volume-script", TAR_VOLUME),
        ("--rsh-command", "names the remote-shell program run for host:file archives"),
        ("--rmt-command", "names the remote tape program run for host:file archives"),
    ],
    // `--checkpoint[=N]` only prints progress; it is not --checkpoint-action.
    own_options: &["checkpoint"],
    first_arg_cluster: true,
    loose_names: false,
    assignments: None,
    stdin_code: None,
    code_paths: &[],
    toolchain_arg: false,
    deny_within: &[],
};

// `npm test`, `npm run` and `npm install` run package.json scripts by
// design: a grant for them is a grant to run the project's code. These flags
// go further, choosing which shell, node options or config run it.
#[rustfmt::skip]
const NPM: Profile = Profile {
    names: &["npm"],
    deny: &[
        ("--script-shell", "chooses the shell that runs package scripts"),
        ("--shell", "chooses the shell npm exec and npm explore run"),
        ("--userconfig", NPM_CONFIG_FILE),
        ("--globalconfig", NPM_CONFIG_FILE),
        ("--prefix", "points npm at another project directory"),
        ("-C", "is npm's --prefix: points npm at another project directory"),
        ("--node-options", "passes options such as --require (load code) to node"),
        ("--git", "chooses the git program npm runs"),
        ("--call", "npm exec --call runs a shell command"),
        ("-c", "is npm exec --call: runs a shell command"),
        ("--editor", "names the editor program npm runs"),
        ("--browser", "names the browser program npm runs"),
        ("--init-module", "npm init runs the module it names"),
        ("--viewer", "names the program npm help runs to show pages"),
        ("exec", "npm exec runs any package binary or command, as npx does"),
        ("x", "is npm exec: runs any package binary or command"),
        ("explore", "npm explore runs a shell command in a package"),
        ("edit", "npm edit runs an editor program"),
    ],
    // `npm install --global` is its own option, not short for --globalconfig.
    own_options: &["global"],
    first_arg_cluster: false,
    loose_names: true,
    assignments: None,
    stdin_code: None,
    code_paths: &[],
    toolchain_arg: false,
    deny_within: &[],
};

#[rustfmt::skip]
const MAKE: Profile = Profile {
    assignments: Some("a variable assignment on make's command line overrides the makefile's, and any variable can run code: `$(shell …)` in its value, MAKEFLAGS=--eval=…, or SHELL, CC and MAKE naming the program a recipe runs; set it in the makefile instead"),
    stdin_code: Some("make reads a makefile from stdin (`-f -`, `-f /dev/stdin`), so stdin would be recipes to run"),
    code_paths: &["-f", "--file", "--makefile", "-C", "--directory", "-I", "--include-dir"],
    ..Profile::new(
        &["make", "gmake"],
        &[
            ("--eval", "adds makefile text, and so recipes to run, from the command line"),
            ("-E", "is make's --eval: adds recipes to run from the command line"),
        ],
    )
};

#[rustfmt::skip]
const SORT: Profile = Profile::new(
    &["sort", "gsort"],
    &[("--compress-program", "runs a program to compress temporary files")],
);

#[rustfmt::skip]
const RSYNC: Profile = Profile::new(
    &["rsync"],
    &[
        ("-e", "is rsync's --rsh: chooses the remote-shell program it runs"),
        ("--rsh", "chooses the remote-shell program rsync runs"),
        ("--rsync-path", "names the program run on the other side, which may be this host"),
        ("-M", "is rsync's --remote-option: passes options, such as --rsync-path, to the other side"),
        ("--remote-option", "passes options, such as --rsync-path, to the other side"),
        ("--daemon", "runs rsync as a daemon, whose config runs pre- and post-transfer commands"),
        ("--config", "reads a daemon config, which runs pre- and post-transfer commands"),
    ],
);

#[rustfmt::skip]
const ZIP: Profile = Profile::new(
    &["zip"],
    &[
        ("-T", "tests the archive with an unzip program, which -TT names"),
        ("--unzip-command", "names the program zip -T runs"),
    ],
);

#[rustfmt::skip]
const SSH: Profile = Profile::new(
    &["ssh"],
    &[
        ("-o", "sets any ssh option, including ProxyCommand and LocalCommand, which run commands"),
        ("-F", "reads an ssh config file, which can run commands"),
        ("-I", "loads a PKCS#11 provider library (code)"),
    ],
);

#[rustfmt::skip]
const SCP: Profile = Profile::new(
    &["scp", "sftp"],
    &[
        ("-o", "sets any ssh option, including ProxyCommand, which runs a command"),
        ("-F", "reads an ssh config file, which can run commands"),
        ("-S", "names the ssh program to run"),
        ("-D", "runs the local SFTP server program it names instead of connecting"),
        ("-b", "sftp -b runs a batch of commands, and `!command` lines run local shell commands"),
    ],
);

#[rustfmt::skip]
const GO: Profile = Profile {
    code_paths: &["-overlay", "-modfile", "-C"],
    deny_within: &[("extld", "names the external linker program the go linker runs (-ldflags=-extld=…)")],
    ..Profile::new(
        &["go"],
        &[
            ("-toolexec", "runs every compiler tool through a program it names"),
            ("-exec", "go run and go test run the built binary through a program it names"),
            ("-vettool", "names the program go vet runs"),
        ],
    )
};

#[rustfmt::skip]
const OPENSSL: Profile = Profile {
    // A config file can load engines and providers (code).
    code_paths: &["-config"],
    ..Profile::new(
        &["openssl"],
        &[
            ("-engine", "loads a shared library (code) as an engine"),
            ("-provider", "loads a provider module (code)"),
            ("-provider-path", "chooses where provider modules (code) are loaded from"),
        ],
    )
};

#[rustfmt::skip]
const WGET: Profile = Profile::new(
    &["wget"],
    &[
        ("--use-askpass", "runs a program to ask for credentials"),
        ("-e", "is wget's --execute: runs a wgetrc command, which can set use_askpass"),
        ("--execute", "runs a wgetrc command, which can set use_askpass"),
        ("--config", "reads a wgetrc file, which can set use_askpass"),
    ],
);

#[rustfmt::skip]
const PROFILES: &[&Profile] = &[
    &GIT, &FIND, &RG, &CARGO, &RUST_TOOLS, &TAR, &NPM, &MAKE, &SORT, &RSYNC, &ZIP, &SSH, &SCP, &GO,
    &OPENSSL, &WGET,
];

/// git's helper programs (`git-upload-pack`, `git-receive-pack`, …) read the
/// same config and get the same profile.
fn is_git(name: &str) -> bool {
    name == "git" || name.starts_with("git-")
}

fn profile(name: &str) -> Option<&'static Profile> {
    if is_git(name) {
        return Some(&GIT);
    }
    PROFILES.iter().copied().find(|p| p.names.contains(&name))
}

/// One denied flag, by the shape that decides its spellings.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Flag {
    /// `--name`, stored without dashes.
    Long(String),
    /// `-c`.
    Short(char),
    /// `-word` (one dash, several letters), stored without the dash.
    Word(String),
    /// Anything else: refused only as an argument equal to it.
    Exact(String),
}

impl Flag {
    /// A value in a deny entry (`--color=always`) is dropped: refusing the
    /// flag whatever its value is the conservative reading.
    fn parse(entry: &str) -> Flag {
        if let Some(rest) = entry.strip_prefix("--") {
            let name = before_eq(rest);
            if !name.is_empty() {
                return Flag::Long(name.to_owned());
            }
        } else if let Some(rest) = entry.strip_prefix('-') {
            let name = before_eq(rest);
            let mut chars = name.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => return Flag::Short(c),
                (Some(_), Some(_)) => return Flag::Word(name.to_owned()),
                _ => {}
            }
        }
        Flag::Exact(entry.to_owned())
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Long(name) => write!(f, "--{name}"),
            Flag::Short(c) => write!(f, "-{c}"),
            Flag::Word(word) => write!(f, "-{word}"),
            Flag::Exact(arg) => f.write_str(arg),
        }
    }
}

fn before_eq(s: &str) -> &str {
    s.split_once('=').map_or(s, |(name, _)| name)
}

#[derive(Debug, Clone)]
struct Rule {
    flag: Flag,
    why: &'static str,
}

/// Flags refused for a program whatever its pattern says: warden's built-in
/// list for well-known tools (chosen by the program's file name) plus the
/// manifest's `deny` list.
#[derive(Debug, Clone)]
pub struct FlagPolicy {
    program: String,
    rules: Vec<Rule>,
    profile: Option<&'static Profile>,
}

impl FlagPolicy {
    /// The built-in profile for `program_basename` (a path is reduced to its
    /// file name) plus the manifest's extra `deny` entries.
    pub fn new(program_basename: &str, extra_deny: &[String]) -> Self {
        let program = program_name(program_basename);
        let profile = profile(&program);
        let mut rules: Vec<Rule> = Vec::new();
        let builtin = profile
            .into_iter()
            .flat_map(|p| p.deny.iter())
            .map(|(flag, why)| (Flag::parse(flag), *why));
        let manifest = extra_deny
            .iter()
            .map(|entry| (Flag::parse(entry), MANIFEST_WHY));
        for (flag, why) in builtin.chain(manifest) {
            if !rules.iter().any(|r| r.flag == flag) {
                rules.push(Rule { flag, why });
            }
        }
        Self {
            program,
            rules,
            profile,
        }
    }

    /// Every spelling of a denied flag gets the same decision (see the
    /// module documentation). Err text: ``"`<arg>` is refused for <program>:
    /// <why>"``, with the argument escaped for display.
    pub fn check(&self, args: &[String]) -> Result<(), FlagRefused> {
        let refused = |arg: &str, why: &'static str| {
            Err(FlagRefused {
                arg: escape(arg),
                program: escape(&self.program),
                why,
            })
        };
        for (i, arg) in args.iter().enumerate() {
            if let Some(rule) = self
                .rules
                .iter()
                .find(|r| self.refuses(&r.flag, arg, i == 0))
            {
                return refused(arg, rule.why);
            }
            let Some(p) = self.profile else { continue };
            if i == 0 && p.toolchain_arg && arg.starts_with('+') {
                return refused(
                    arg,
                    "`+<toolchain>` picks the toolchain that runs, also one at a path the plugin can write; the user's default toolchain runs",
                );
            }
            if let Some(why) = p.assignments
                && !arg.starts_with('-')
                && arg.contains('=')
            {
                return refused(arg, why);
            }
            if let Some((_, why)) = p.deny_within.iter().find(|(text, _)| arg.contains(text)) {
                return refused(arg, why);
            }
        }
        for (shown, value) in self.code_paths(args) {
            if is_special_file(&value) {
                return refused(
                    &shown,
                    "it names a file the program reads code from, and stdin, /dev and /proc files carry what the plugin wrote (or anything else) rather than a file of the project",
                );
            }
        }
        Ok(())
    }

    /// Whether a first argument `+<toolchain>`, or a toolchain file, picks
    /// which toolchain runs (rustup's proxies).
    pub fn picks_toolchain(&self) -> bool {
        self.profile.is_some_and(|p| p.toolchain_arg)
    }

    /// Why the program may not be given stdin by a plugin, if it may not.
    pub fn stdin_refusal(&self) -> Option<String> {
        self.profile
            .and_then(|p| p.stdin_code)
            .map(|why| format!("stdin is refused for {}: {why}", escape(&self.program)))
    }

    /// The values of options naming a file the program reads code from
    /// (`make -f x`, `cargo --manifest-path x`), each with the argument it
    /// came from, in every spelling: `--file=x`, `--file x`, `--fi x`,
    /// `-f x`, `-fx`, `-kf x`, `-config x`. The caller refuses those that
    /// lead somewhere the plugin can write (when the program would not
    /// otherwise run code from there).
    pub fn code_paths(&self, args: &[String]) -> Vec<(String, String)> {
        let Some(p) = self.profile else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, arg) in args.iter().enumerate() {
            let next = args.get(i + 1);
            for flag in p.code_paths.iter().map(|f| Flag::parse(f)) {
                if let Some(value) = self.value_of(&flag, arg, next) {
                    out.push((arg.clone(), value));
                }
            }
        }
        out
    }

    /// The value `arg` (and maybe `next`) gives `flag`, if it is a spelling
    /// of it.
    fn value_of(&self, flag: &Flag, arg: &str, next: Option<&String>) -> Option<String> {
        let attached_or_next = |attached: Option<&str>| match attached {
            Some(v) => Some(v.to_owned()),
            None => next.cloned(),
        };
        match flag {
            Flag::Long(name) => {
                let rest = arg.strip_prefix("--").or_else(|| {
                    arg.strip_prefix('-')
                        .filter(|_| name.chars().nth(1).is_some())
                })?;
                let (given, value) = match rest.split_once('=') {
                    Some((g, v)) => (g, Some(v)),
                    None => (rest, None),
                };
                let given = self.normalise(given);
                let matches = if arg.starts_with("--") {
                    !given.is_empty()
                        && !self.is_own_option(&given)
                        && self.normalise(name).starts_with(&*given)
                } else {
                    given == self.normalise(name)
                };
                matches.then(|| attached_or_next(value)).flatten()
            }
            Flag::Short(c) => {
                let rest = arg.strip_prefix('-').filter(|r| !r.starts_with('-'))?;
                let at = rest.find(*c)?;
                let value = &rest[at + c.len_utf8()..];
                attached_or_next((!value.is_empty()).then_some(value))
            }
            Flag::Word(word) => {
                let rest = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
                let (given, value) = match rest.split_once('=') {
                    Some((g, v)) => (g, Some(v)),
                    None => (rest, None),
                };
                (self.normalise(given) == self.normalise(word))
                    .then(|| attached_or_next(value))
                    .flatten()
            }
            Flag::Exact(_) => None,
        }
    }

    /// The denied flags as they are enforced, built-in first, for audit
    /// display.
    pub fn denied(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.flag.to_string()).collect()
    }

    fn refuses(&self, flag: &Flag, arg: &str, first: bool) -> bool {
        match flag {
            Flag::Long(name) => {
                if let Some(rest) = arg.strip_prefix("--") {
                    let given = self.normalise(before_eq(rest));
                    !given.is_empty()
                        && !self.is_own_option(&given)
                        && self.normalise(name).starts_with(&*given)
                } else if let Some(rest) = arg.strip_prefix('-') {
                    name.chars().nth(1).is_some()
                        && self.normalise(before_eq(rest)) == self.normalise(name)
                } else {
                    false
                }
            }
            Flag::Short(c) => match arg.strip_prefix('-') {
                Some(rest) => !rest.starts_with('-') && rest.contains(*c),
                None => {
                    first && self.profile.is_some_and(|p| p.first_arg_cluster) && arg.contains(*c)
                }
            },
            Flag::Word(word) => arg
                .strip_prefix("--")
                .or_else(|| arg.strip_prefix('-'))
                .is_some_and(|rest| self.normalise(before_eq(rest)) == self.normalise(word)),
            Flag::Exact(exact) => arg == exact,
        }
    }

    fn is_own_option(&self, given: &str) -> bool {
        self.profile
            .is_some_and(|p| p.own_options.iter().any(|o| self.normalise(o) == given))
    }

    fn normalise<'a>(&self, name: &'a str) -> Cow<'a, str> {
        if self.profile.is_some_and(|p| p.loose_names) {
            Cow::Owned(name.to_ascii_lowercase().replace('_', "-"))
        } else {
            Cow::Borrowed(name)
        }
    }
}

/// Whether a path given to a program is stdin or a file under `/dev` or
/// `/proc` (`-`, `/dev/stdin`, `/dev/fd/0`, `/proc/self/fd/0`,
/// `//dev/./stdin`, `/proc/self/environ`), after removing `.`, `..` and
/// doubled slashes. Relative paths are judged by the caller, who knows the
/// working directory.
pub fn is_special_file(value: &str) -> bool {
    if value == "-" {
        return true;
    }
    let mut parts: Vec<&str> = Vec::new();
    if !value.starts_with('/') {
        return false;
    }
    for part in value.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    matches!(parts.first(), Some(&"dev") | Some(&"proc"))
}

const SHELL_STARTUP: &str = "shells run code from it at start-up";
const BUILD_TOOL: &str = "build tools and build scripts run the program it names";
const JVM_OPTIONS: &str = "the JVM takes options from it, such as -javaagent (load code)";
const CARGO_HOMES: &str = "cargo and rustup read config and choose toolchains (compilers) from it";
const OPTIONS_FROM_ENV: &str =
    "the tool reads command-line options from it, around the flag profile";

/// Keys refused exactly (compared upper-cased).
#[rustfmt::skip]
const ENV_EXACT: &[(&str, &str)] = &[
    ("PATH", "warden sets it, to choose which programs run"),
    ("HOME", "warden sets it, and tools read their config from it"),
    ("BASH_ENV", "bash runs the file it names before any script"),
    ("ENV", "sh runs the file it names at start-up"),
    ("SHELLOPTS", "turns on bash options in every bash started"),
    ("BASHOPTS", "turns on bash options in every bash started"),
    ("IFS", "changes how shells split words, and so what commands they run"),
    ("PS4", "bash expands it, running command substitutions, for each traced command"),
    ("PROMPT_COMMAND", "bash runs it before each prompt"),
    ("ZDOTDIR", SHELL_STARTUP),
    ("FPATH", "zsh and ksh load functions from it"),
    ("SHELL", "programs that start a command run it"),
    ("NODE_OPTIONS", "node takes options from it, such as --require (load code)"),
    ("NODE_PATH", "node loads modules from it"),
    ("PERL5LIB", "perl loads modules from it"),
    ("PERLLIB", "perl loads modules from it"),
    ("PERL5OPT", "perl takes options from it, such as -M (load a module)"),
    ("PERL5DB", "perl runs it as debugger code"),
    ("RUBYOPT", "ruby takes options from it, such as -r (load a library)"),
    ("RUBYLIB", "ruby loads libraries from it"),
    ("GEM_HOME", "ruby loads gems from it"),
    ("GEM_PATH", "ruby loads gems from it"),
    ("JAVA_TOOL_OPTIONS", JVM_OPTIONS),
    ("_JAVA_OPTIONS", JVM_OPTIONS),
    ("JDK_JAVA_OPTIONS", JVM_OPTIONS),
    ("CLASSPATH", "the JVM loads classes from it"),
    ("DOTNET_STARTUP_HOOKS", ".NET loads the assemblies it names into every program"),
    ("VISUAL", "programs run it to edit text"),
    ("LESSOPEN", "less runs it on every file it shows"),
    ("LESSCLOSE", "less runs it after every file it shows"),
    ("BROWSER", "programs (cargo doc --open, git, python) run it to open pages"),
    ("RUSTC", "cargo runs it as the compiler"),
    ("RUSTDOC", "cargo runs it as the documentation compiler"),
    ("CARGO_BUILD_RUSTC", "cargo runs it as the compiler"),
    ("CARGO_BUILD_RUSTDOC", "cargo runs it as the documentation compiler"),
    ("CARGO_HOME", CARGO_HOMES),
    ("RUSTUP_HOME", CARGO_HOMES),
    ("RUSTUP_TOOLCHAIN", "chooses which toolchain (compiler) runs, also by path"),
    ("CC", BUILD_TOOL),
    ("CXX", BUILD_TOOL),
    ("CPP", BUILD_TOOL),
    ("LD", BUILD_TOOL),
    ("AR", BUILD_TOOL),
    ("AS", BUILD_TOOL),
    ("RANLIB", BUILD_TOOL),
    ("HOST_CC", BUILD_TOOL),
    ("HOST_CXX", BUILD_TOOL),
    ("HOST_AR", BUILD_TOOL),
    ("TARGET_CC", BUILD_TOOL),
    ("TARGET_CXX", BUILD_TOOL),
    ("TARGET_AR", BUILD_TOOL),
    ("MAKEFLAGS", "make reads options from it, including --eval"),
    ("GNUMAKEFLAGS", "make reads options from it, including --eval"),
    ("MFLAGS", "make reads options from it, including --eval"),
    ("MAKEFILES", "make reads the makefiles it names first"),
    ("TAR_OPTIONS", OPTIONS_FROM_ENV),
    ("RIPGREP_CONFIG_PATH", "rg reads options from the file it names, including --pre"),
    ("GOFLAGS", OPTIONS_FROM_ENV),
    ("GOENV", "go reads its settings from the file it names"),
    ("GOTOOLCHAIN", "go downloads and runs the toolchain it names"),
    ("GOROOT", "chooses which compiler go runs"),
    ("GCONV_PATH", "glibc loads character-conversion modules (code) from it"),
    ("OPENSSL_CONF", "OpenSSL loads the engines and providers (code) its config names"),
    ("OPENSSL_ENGINES", "OpenSSL loads engines (code) from it"),
    ("OPENSSL_MODULES", "OpenSSL loads providers (code) from it"),
    ("XDG_CONFIG_HOME", "tools read their config files from it"),
    ("XDG_CONFIG_DIRS", "tools read their config files from it"),
];

/// Keys refused by prefix (compared upper-cased).
#[rustfmt::skip]
const ENV_PREFIX: &[(&str, &str)] = &[
    ("LD_", "the dynamic loader loads code or libraries it names (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT)"),
    ("DYLD_", "the macOS dynamic loader loads code or libraries it names"),
    ("BASH_FUNC_", "bash defines functions from it, overriding commands"),
    ("NPM_CONFIG_", "npm reads any of its config from it, including the script shell"),
    ("YARN_", "yarn reads its settings from it, including the yarn program it runs"),
    ("PYTHON", "python reads start-up code, module paths or options from it"),
    ("LUA_INIT", "lua runs the code it names"),
    ("LUA_PATH", "lua loads modules from it"),
    ("LUA_CPATH", "lua loads native modules from it"),
    ("CC_", BUILD_TOOL),
    ("CXX_", BUILD_TOOL),
    ("AR_", BUILD_TOOL),
];

/// Keys refused by suffix (compared upper-cased): conventions many tools
/// share, so new tools are covered too.
#[rustfmt::skip]
const ENV_SUFFIX: &[(&str, &str)] = &[
    ("_PROXY", "routes the program's traffic through a proxy, or around one"),
    ("PAGER", "programs run it to page output"),
    ("EDITOR", "programs run it to edit text"),
    ("ASKPASS", "programs run it to ask for credentials"),
    ("WRAPPER", "build tools run every compiler call through it"),
    ("_RUNNER", "cargo runs built programs through it"),
    ("_LINKER", "cargo runs it as the linker"),
    ("CREDENTIAL_PROVIDER", "cargo runs it to fetch registry tokens"),
];

/// The only `GIT_*` keys a plugin may pass: identity and dates, which run
/// nothing.
const GIT_GRANTABLE: &[&str] = &[
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
];

/// Environment keys that can never be granted to a child process, because
/// they change what code the program runs or where it reads config. Err
/// says why.
///
/// Keys are compared ignoring ASCII case throughout: proxies and npm config
/// are read in any case, Windows treats all keys so, and no tool needs a
/// lower-case `ld_preload` — refusing it costs nothing. Keys must be
/// printable ASCII without `=` and at most [`MAX_ENV_KEY_BYTES`] long.
///
/// Flag variables (`RUSTFLAGS`, `CFLAGS`) stay grantable although they can
/// name a linker or compiler plugin: a grant to run a build tool is already
/// a grant to run the project's build scripts.
pub fn check_env_key(key: &str) -> Result<(), EnvKeyError> {
    if key.is_empty() {
        return Err(EnvKeyError::Empty);
    }
    if key.len() > MAX_ENV_KEY_BYTES {
        return Err(EnvKeyError::TooLong(key.len()));
    }
    if key.contains('=') {
        return Err(EnvKeyError::Equals(escape(key)));
    }
    if key.contains('\0') {
        return Err(EnvKeyError::Nul(escape(key)));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(EnvKeyError::NotPrintable(escape(key)));
    }
    let upper = key.to_ascii_uppercase();
    let why = ENV_EXACT
        .iter()
        .find(|(k, _)| *k == upper)
        .map(|(_, why)| *why)
        .or_else(|| {
            (upper.starts_with("GIT_") && !GIT_GRANTABLE.contains(&upper.as_str())).then_some(
                "git reads config, hooks, programs or the repository from GIT_* keys; only GIT_AUTHOR_* and GIT_COMMITTER_* name, email and date may be granted",
            )
        })
        .or_else(|| ENV_PREFIX.iter().find(|(p, _)| upper.starts_with(p)).map(|(_, why)| *why))
        .or_else(|| ENV_SUFFIX.iter().find(|(s, _)| upper.ends_with(s)).map(|(_, why)| *why));
    match why {
        Some(why) => Err(EnvKeyError::Refused {
            key: key.to_string(),
            why,
        }),
        None => Ok(()),
    }
}

/// Set for git whatever the repository says. Checked against git 2.47 with
/// a repository whose config sets hooks, fsmonitor, pager, editors, an
/// ssh-format signing program, a credential helper and ext:: transport:
/// none ran, and status, diff, log -p, commit, tag and rebase -i still work.
#[rustfmt::skip]
const GIT_ENV: &[(&str, &str)] = &[
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_TERMINAL_PROMPT", "0"),
    ("GIT_PAGER", "cat"),
    ("PAGER", "cat"),
    ("GIT_EDITOR", "true"),
    // Empty means "no helper": git runs askpass only for a non-empty value.
    ("GIT_ASKPASS", ""),
    ("GIT_OPTIONAL_LOCKS", "0"),
    // An empty allow-list refuses every transport and, unlike
    // protocol.allow, cannot be widened by protocol.<name>.allow in
    // repository config.
    ("GIT_ALLOW_PROTOCOL", ""),
];

/// Config given through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/
/// `GIT_CONFIG_VALUE_n`, which has command-line precedence over the
/// repository's config and counts as protected config (so
/// `safe.directory` and `safe.bareRepository` are honoured).
///
/// Not here on purpose: `diff.external=` (an empty value makes git run ""
/// and `git diff` fails), and settings with per-name keys that cannot be
/// reset from outside (`diff.<driver>.command`/`textconv`, `filter.*`,
/// `merge.<driver>.driver`, `alias.*`). Those rely on the repository's
/// config staying out of the plugin's reach (P1).
#[rustfmt::skip]
const GIT_CONFIG: &[(&str, &str)] = &[
    ("core.fsmonitor", "false"),
    ("core.hooksPath", "/dev/null"),
    ("core.pager", "cat"),
    ("core.editor", "true"),
    ("core.sshCommand", "false"),
    ("core.askPass", ""),
    // An empty value resets the helper list collected so far.
    ("credential.helper", ""),
    ("protocol.allow", "never"),
    // Per-protocol keys override protocol.allow; ext:: runs any command.
    ("protocol.ext.allow", "never"),
    ("uploadpack.packObjectsHook", ""),
    ("sequence.editor", "true"),
    // gpg.format picks which of these runs, and repository config picks
    // gpg.format, so all of them are set.
    ("gpg.program", "false"),
    ("gpg.openpgp.program", "false"),
    ("gpg.ssh.program", "false"),
    ("gpg.x509.program", "false"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("log.showSignature", "false"),
    // The child may run as a user who does not own the work tree. The
    // ownership check guards against another user's repository config; the
    // settings above are what neutralises that config here.
    ("safe.directory", "*"),
    // A bare repository planted in the work tree is used only when named.
    ("safe.bareRepository", "explicit"),
];

/// Environment that warden always sets for a program (after the granted
/// keys, so a plugin cannot override it), chosen by file name.
///
/// For git (and its `git-*` helpers): no system or global config, no
/// prompts, no transports, and repository settings that run programs
/// overridden. Every other program gets `PAGER=cat`: a child has no
/// terminal to page on, and a pager could only hang the call or run hooks
/// of its own.
pub fn forced_env(program_basename: &str) -> Vec<(String, String)> {
    let owned = |(k, v): &(&str, &str)| ((*k).to_owned(), (*v).to_owned());
    let name = program_name(program_basename);
    if name == "go" {
        // The go.mod `toolchain` line and the user's go env file would
        // otherwise choose which compiler runs (a planted one, too).
        return [("PAGER", "cat"), ("GOTOOLCHAIN", "local"), ("GOENV", "off")]
            .iter()
            .map(owned)
            .collect();
    }
    if !is_git(&name) {
        return vec![owned(&("PAGER", "cat"))];
    }
    let mut env: Vec<(String, String)> = GIT_ENV.iter().map(owned).collect();
    env.push(("GIT_CONFIG_COUNT".to_owned(), GIT_CONFIG.len().to_string()));
    for (i, (key, value)) in GIT_CONFIG.iter().enumerate() {
        env.push((format!("GIT_CONFIG_KEY_{i}"), (*key).to_owned()));
        env.push((format!("GIT_CONFIG_VALUE_{i}"), (*value).to_owned()));
    }
    env
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[rustfmt::skip]
    #[test]
    fn pattern_parse_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&["**", "x"], "token 1 `**` must be the last token"),
            (&["a", "**", "**"], "token 2 `**` must be the last token"),
            (&["a", ""], "token 2 of the argv pattern is empty"),
            (&["a||b"], "token 1 \"a||b\" has an empty alternative"),
            (&["|a"], "has an empty alternative"),
            (&["a|"], "has an empty alternative"),
            (&["|"], "has an empty alternative"),
            (&["a b"], "token 1 \"a b\" contains whitespace (' ')"),
            (&["a\tb|c"], "contains whitespace ('\\t')"),
            (&["x", "*.rs"], "token 2 \"*.rs\" contains `*`"),
            (&["a|*"], "contains `*`"),
            (&["***"], "contains `*`"),
            (&["a\u{202e}b"], "contains a control or invisible character"),
            (&["a\u{7}"], "contains a control or invisible character"),
        ];
        for (tokens, expected) in cases {
            let err = ArgvPattern::parse(&strings(tokens)).unwrap_err().to_string();
            assert!(err.contains(expected), "{tokens:?}: {err}");
        }
    }

    #[test]
    fn pattern_bounds() {
        let many = vec!["a".to_owned(); MAX_PATTERN_TOKENS + 1];
        let err = ArgvPattern::parse(&many).unwrap_err().to_string();
        assert!(err.contains("at most 64 tokens"), "{err}");
        assert!(ArgvPattern::parse(&many[1..]).is_ok());
        let alts = vec!["a"; MAX_ALTERNATIVES + 1].join("|");
        let err = ArgvPattern::parse(&[alts]).unwrap_err().to_string();
        assert!(err.contains("65 alternatives"), "{err}");
        let long = "a".repeat(MAX_LITERAL_BYTES + 1);
        let err = ArgvPattern::parse(&[long]).unwrap_err().to_string();
        assert!(err.contains("257 bytes"), "{err}");
    }

    #[rustfmt::skip]
    #[test]
    fn pattern_matching() {
        let cases: &[(&str, &str, Result<(), &str>)] = &[
            ("test|build|check **", "test", Ok(())),
            ("test|build|check **", "check --release -p x", Ok(())),
            ("test|build|check **", "run", Err("argument 1 \"run\" does not fit the grant `test|build|check **`: expected one of `test`, `build`, `check` there")),
            ("test|build|check **", "", Err("argument 1 is missing: the grant `test|build|check **` expects one of `test`, `build`, `check` there")),
            ("status", "status", Ok(())),
            ("status", "", Err("argument 1 is missing: the grant `status` expects `status` there")),
            ("status", "status --short", Err("argument 2 \"--short\" is extra: the grant `status` takes exactly 1 argument")),
            ("log *", "log HEAD", Ok(())),
            ("log *", "log", Err("argument 2 is missing: the grant `log *` expects an argument there")),
            ("log * *", "log a b c", Err("argument 4 \"c\" is extra: the grant `log * *` takes exactly 3 arguments")),
            ("**", "", Ok(())),
            ("**", "anything at all", Ok(())),
            ("*", "", Err("argument 1 is missing")),
            ("", "", Ok(())),
            ("", "x", Err("argument 1 \"x\" is not allowed: the grant allows no arguments")),
            ("diff * --stat", "diff HEAD --stat", Ok(())),
            ("diff * --stat", "diff HEAD --patch", Err("argument 3 \"--patch\" does not fit")),
            // Literals match whole arguments, never prefixes.
            ("test", "tests", Err("argument 1 \"tests\" does not fit")),
            ("--release", "--release=x", Err("does not fit")),
        ];
        for (spec, args, expected) in cases {
            let pattern = ArgvPattern::parse_spec(spec).unwrap();
            let got = pattern.check(&words(args));
            match expected {
                Ok(()) => assert_eq!(got, Ok(()), "{spec} / {args}"),
                Err(text) => {
                    let err = got.unwrap_err().to_string();
                    assert!(err.contains(text), "{spec} / {args}: {err}");
                }
            }
        }
    }

    #[test]
    fn check_escapes_the_argument() {
        let pattern = ArgvPattern::parse_spec("status").unwrap();
        let err = pattern
            .check(&strings(&["st\u{1b}[2J\u{202e}"]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "argument 1 \"st\\u{1b}[2J\\u{202e}\" does not fit the grant `status`: expected `status` there"
        );
    }

    #[test]
    fn pattern_display_and_serde() {
        let pattern = ArgvPattern::parse(&strings(&["test|check", "*", "**"])).unwrap();
        assert_eq!(pattern.to_string(), "test|check * **");
        assert_eq!(
            ArgvPattern::parse_spec("  test|check \t *  ** ").unwrap(),
            pattern
        );
        assert_eq!(ArgvPattern::parse_spec("").unwrap().to_string(), "");

        #[derive(serde::Deserialize, serde::Serialize)]
        struct Program {
            args: ArgvPattern,
        }
        let p: Program = toml::from_str(r#"args = ["test|check", "*", "**"]"#).unwrap();
        assert_eq!(p.args, pattern);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"args":["test|check","*","**"]}"#);
        let back: Program = serde_json::from_str(&json).unwrap();
        assert_eq!(back.args, pattern);
        let bad = toml::from_str::<Program>(r#"args = ["**", "x"]"#)
            .err()
            .unwrap();
        assert!(bad.to_string().contains("must be the last token"), "{bad}");
    }

    /// (program, manifest deny, args, the argument refused or None).
    type SpellingCase = (
        &'static str,
        &'static [&'static str],
        &'static str,
        Option<&'static str>,
    );

    #[rustfmt::skip]
    #[test]
    fn every_spelling_gets_the_same_decision() {
        let cases: &[SpellingCase] = &[
            // Long flags: exact, =value, separate value, abbreviations.
            ("rg", &[], "--pre x foo", Some("--pre")),
            ("rg", &[], "--pre=x foo", Some("--pre=x")),
            ("rg", &[], "--pr=x foo", Some("--pr=x")),
            ("rg", &[], "--p x foo", Some("--p")),
            ("rg", &[], "--pre-glob=*.gz --pre x foo", Some("--pre-glob=*.gz")),
            ("rg", &[], "--search-z foo", Some("--search-z")),
            ("rg", &[], "--hostname-bin=/tmp/x foo", Some("--hostname-bin=/tmp/x")),
            ("git", &[], "clone --u=/tmp/evil url", Some("--u=/tmp/evil")),
            ("git", &[], "fetch --upload=/tmp/evil", Some("--upload=/tmp/evil")),
            ("git", &[], "--exec-pat=/tmp", Some("--exec-pat=/tmp")),
            ("git", &[], "diff --ext-d", Some("--ext-d")),
            // Longer than the denied name is a different option.
            ("rg", &[], "--prefix foo", None),
            ("rg", &[], "--pretty foo", None),
            // Single-dash mirror of a long flag (Go's flag package).
            ("rg", &[], "-pre=x foo", Some("-pre=x")),
            ("go", &["--trimpath"], "build -trimpath", Some("-trimpath")),
            // Short flags: alone, clustered, attached value, later position.
            ("rg", &[], "-z foo", Some("-z")),
            ("rg", &[], "-vz foo", Some("-vz")),
            ("rg", &[], "-zq foo", Some("-zq")),
            ("rg", &[], "-i foo -z", Some("-z")),
            ("git", &[], "-cfoo=bar status", Some("-cfoo=bar")),
            ("git", &[], "-c core.pager=x log", Some("-c")),
            ("git", &[], "log -pq", Some("-pq")),
            // `-` alone and `--` are not short flags.
            ("rg", &[], "foo -", None),
            ("cargo", &[], "test --", None),
            // Single-dash words: exact, =value, double dash; not longer words.
            ("find", &[], ". -exec rm {} ;", Some("-exec")),
            ("find", &[], ". -exec=rm", Some("-exec=rm")),
            ("find", &[], ". --exec rm", Some("--exec")),
            ("find", &[], ". -execdir rm {} +", Some("-execdir")),
            ("find", &[], ". -executable", None),
            ("find", &[], ". -name *.rs -print", None),
            ("go", &[], "build --toolexec=/tmp/x", Some("--toolexec=/tmp/x")),
            // Checked after `--` too.
            ("rg", &[], "foo -- --pre", Some("--pre")),
            ("cargo", &[], "test -- -Zx", Some("-Zx")),
            // tar's dash-less first argument is a short cluster.
            ("tar", &[], "xIf zstd a.tar", Some("xIf")),
            ("tar", &[], "cFf x a.tar", Some("cFf")),
            ("tar", &[], "xf a.tar", None),
            ("tar", &[], "-xf a.tar Index", None),
            ("rg", &[], "z foo", None),
            // Programs chosen by file name, whatever the path or case.
            ("/usr/bin/rg", &[], "--pre x", Some("--pre")),
            ("/usr/bin/GIT", &[], "-c x", Some("-c")),
            ("C:\\bin\\git.exe", &[], "-c x", Some("-c")),
            ("/usr/lib/git-core/git-upload-pack", &[], "--exec-path=x", Some("--exec-path=x")),
            // Manifest entries follow the same rules.
            ("mytool", &["--frozen"], "--frozen", Some("--frozen")),
            ("mytool", &["--frozen"], "--froz", Some("--froz")),
            ("mytool", &["--frozen"], "--frozen=yes", Some("--frozen=yes")),
            ("mytool", &["--color=always"], "--color=never", Some("--color=never")),
            ("mytool", &["-q"], "-vq", Some("-vq")),
            ("mytool", &["-exec"], "--exec=1", Some("--exec=1")),
            ("mytool", &["push"], "remote push", Some("push")),
            ("mytool", &["push"], "remote pushes", None),
            ("mytool", &["--frozen"], "--locked", None),
            ("mytool", &[], "--pre -c -exec", None),
            // npm compares long names loosely.
            ("npm", &[], "test --script_shell=/tmp/x", Some("--script_shell=/tmp/x")),
            ("npm", &[], "test --Script-Shell=/tmp/x", Some("--Script-Shell=/tmp/x")),
        ];
        for (program, deny, args, refused) in cases {
            let policy = FlagPolicy::new(program, &strings(deny));
            let got = policy.check(&words(args));
            match refused {
                None => assert_eq!(got, Ok(()), "{program} {args}"),
                Some(arg) => {
                    let err = got.unwrap_err().to_string();
                    let start = format!("`{arg}` is refused for ");
                    assert!(err.starts_with(&start), "{program} {args}: {err}");
                }
            }
        }
    }

    #[test]
    fn refusal_text() {
        let policy = FlagPolicy::new("/usr/bin/rg", &strings(&["--no-ignore"]));
        assert_eq!(
            policy
                .check(&words("--pre=/tmp/x foo"))
                .unwrap_err()
                .to_string(),
            "`--pre=/tmp/x` is refused for rg: runs a program on every file searched"
        );
        assert_eq!(
            policy.check(&words("--no-ig foo")).unwrap_err().to_string(),
            "`--no-ig` is refused for rg: denied by the plugin's manifest"
        );
        let err = policy
            .check(&strings(&["-z\u{1b}[2J"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("`-z\\u{1b}[2J` is refused for rg: "),
            "{err}"
        );
    }

    /// Each profile's key entries, and an ordinary command that still runs.
    #[rustfmt::skip]
    #[test]
    fn builtin_profiles() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("git", &["-c x=y", "--config-env=x=Y", "--exec-path=/tmp", "--git-dir=/tmp/r",
                "--work-tree=/tmp", "-C /tmp", "--namespace=x", "--upload-pack=x", "--receive-pack=x",
                "-u x", "--ext-diff", "--textconv", "--output=/tmp/x", "-Ovim",
                "--open-files-in-pager=vim", "-p", "--paginate", "--template=/tmp", "--config x=y",
                "--separate-git-dir=/tmp", "--exec=sh", "-x sh", "--extcmd=sh", "--tree-filter=sh",
                "--sendmail-cmd=sh", "difftool", "mergetool", "foreach", "run", "instaweb"],
                "log --oneline -n5 --patch --stat -- src"),
            ("find", &["-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0",
                "-fprintf", "-fls"],
                ". -type f -name *.rs -newer x -print0"),
            ("rg", &["--pre=x", "--pre-glob=x", "-z", "--search-zip", "--hostname-bin=x"],
                "-n -i --hidden --glob *.rs -e foo --json ."),
            ("cargo", &["--config=x", "-Zbuild-std", "-Z"],
                "test --release --workspace -p warden -- --nocapture"),
            ("tar", &["--to-command=sh", "--use-compress-program=x", "-I", "--checkpoint-action=exec=sh",
                "--info-script=x", "-F", "--new-volume-script=x", "--rsh-command=x"],
                "-xzvf a.tar.gz -C out --strip-components=1"),
            ("npm", &["--script-shell=x", "--userconfig=x", "--globalconfig=x", "--prefix=x", "-C",
                "--node-options=x", "--git=x", "--call=x", "-c", "exec x", "x cowsay", "explore p"],
                "test --silent --workspaces"),
            ("make", &["--eval=x", "-E", "V=1", "-f /dev/stdin"], "-j2 test -f Makefile.ci"),
            ("sort", &["--compress-program=x"], "-u -k2 file"),
            ("rsync", &["-e", "--rsh=x", "--rsync-path=x"], "-avz --delete src/ dst/"),
            ("zip", &["-T", "--unzip-command=x"], "-r out.zip src"),
            ("ssh", &["-o", "-F"], "-p 22 host"),
            ("scp", &["-S", "-o"], "-r a host:b"),
            ("go", &["-toolexec=x", "-exec", "-vettool=x"], "test -v -run TestX ./..."),
            ("openssl", &["-engine", "-provider"], "x509 -in cert.pem -noout -text"),
            ("wget", &["--use-askpass=x", "-e", "--execute=x", "--config=x"], "-q -O out https://x"),
        ];
        for (program, refused, benign) in cases {
            let policy = FlagPolicy::new(program, &[]);
            for args in *refused {
                assert!(policy.check(&words(args)).is_err(), "{program} {args} should be refused");
            }
            assert_eq!(policy.check(&words(benign)), Ok(()), "{program} {benign}");
        }
    }

    /// Issue 16 (item 8): arguments that are code, files that are code,
    /// and toolchain selectors, in every spelling.
    #[rustfmt::skip]
    #[test]
    fn arguments_that_are_code_are_refused() {
        let cases: &[(&str, &[&str], &str)] = &[
            // make: every assignment form, wherever it is.
            ("make", &["MAKEFLAGS=--eval=$(shell id)"], "variable assignment"),
            ("make", &["V=1"], "variable assignment"),
            ("make", &["VAR:=x"], "variable assignment"),
            ("make", &["VAR::=x"], "variable assignment"),
            ("make", &["VAR+=x"], "variable assignment"),
            ("make", &["VAR?=x"], "variable assignment"),
            ("make", &["VAR!=id"], "variable assignment"),
            ("make", &["override", "VAR=x"], "variable assignment"),
            ("make", &["all", "--", "SHELL=/bin/sh"], "variable assignment"),
            ("make", &["CC = /tmp/evil"], "variable assignment"),
            ("/usr/bin/gmake", &["X=1"], "variable assignment"),
            ("make", &["--eval=x"], "recipes"),
            ("make", &["--eval", "x"], "recipes"),
            ("make", &["--ev=x"], "recipes"),
            ("make", &["-E", "x"], "recipes"),
            ("make", &["-Ex"], "recipes"),
            ("make", &["-kE", "x"], "recipes"),
            // make: makefiles from stdin, /dev or /proc, in every spelling.
            ("make", &["-f", "/dev/stdin"], "reads code from"),
            ("make", &["-f/dev/stdin"], "reads code from"),
            ("make", &["-kf", "/dev/stdin"], "reads code from"),
            ("make", &["-f", "-"], "reads code from"),
            ("make", &["--file=/dev/fd/0"], "reads code from"),
            ("make", &["--file", "/proc/self/fd/0"], "reads code from"),
            ("make", &["--fi=/proc/self/environ"], "reads code from"),
            ("make", &["--makefile=//dev/./stdin"], "reads code from"),
            ("make", &["-f", "/usr/../dev/stdin"], "reads code from"),
            ("make", &["-C", "/proc/self/cwd"], "reads code from"),
            ("make", &["--include-dir=/dev/fd"], "reads code from"),
            // cargo and rustup's other proxies: toolchain by `+`.
            ("cargo", &["+/w/planted", "build"], "toolchain"),
            ("cargo", &["+nightly", "build"], "toolchain"),
            ("/root/.cargo/bin/rustc", &["+x", "a.rs"], "toolchain"),
            ("rustfmt", &["+stable", "a.rs"], "toolchain"),
            ("cargo", &["--manifest-path=/dev/stdin", "build"], "reads code from"),
            ("cargo", &["build", "--target", "/dev/stdin"], "reads code from"),
            ("cargo", &["-Zscript", "x.rs"], "unstable"),
            ("cargo", &["--config", "x"], "runners"),
            ("rustc", &["-C", "linker=/tmp/x", "a.rs"], "linker"),
            ("rustc", &["-Clinker=/tmp/x", "a.rs"], "linker"),
            ("rustc", &["--codegen=linker=x", "a.rs"], "linker"),
            ("rustc", &["-Zcodegen-backend=/tmp/x.so", "a.rs"], "codegen-backend"),
            // go: external linker, source overlays.
            ("go", &["build", "-ldflags=-linkmode=external -extld=/tmp/x"], "external linker"),
            ("go", &["build", "-ldflags", "-extld /tmp/x"], "external linker"),
            ("go", &["build", "-overlay=/dev/stdin"], "reads code from"),
            ("go", &["build", "-toolexec", "x"], "compiler tool"),
            // openssl: config loads engines.
            ("openssl", &["req", "-config", "/dev/stdin"], "reads code from"),
            ("openssl", &["req", "-config=/proc/self/fd/0"], "reads code from"),
            // Plugin and program selectors.
            ("npm", &["exec", "cowsay"], "package binary"),
            ("npm", &["x", "cowsay"], "package binary"),
            ("npm", &["--userconfig=/dev/stdin", "test"], "config"),
            ("npm", &["--prefix", "/tmp", "test"], "project directory"),
            ("ssh", &["-I", "/tmp/p11.so", "host"], "PKCS#11"),
            ("sftp", &["-b", "/dev/stdin", "host"], "batch"),
            ("sftp", &["-D", "/tmp/x"], "SFTP server"),
            ("rsync", &["--remote-option=--rsync-path=x", "a", "b"], "other side"),
            ("rsync", &["-M--rsync-path=x", "a", "b"], "other side"),
            ("rsync", &["--daemon", "--config=/dev/stdin"], "daemon"),
        ];
        for (program, args, why) in cases {
            let policy = FlagPolicy::new(program, &[]);
            let err = policy.check(&strings(args)).unwrap_err().to_string();
            assert!(err.contains(why), "{program} {args:?}: {err}");
            assert!(err.contains("is refused for"), "{program} {args:?}: {err}");
        }
        // What stays allowed.
        let benign: &[(&str, &[&str])] = &[
            ("make", &["-j4", "test", "-f", "Makefile.ci", "-C", "sub", "-k"]),
            ("make", &["--file=build/rules.mk", "all"]),
            ("cargo", &["build", "--release", "--manifest-path", "sub/Cargo.toml"]),
            ("cargo", &["test", "--", "--nocapture", "+x"]),
            ("cargo", &["build", "--target", "x86_64-unknown-linux-gnu"]),
            ("rustc", &["-O", "--edition=2021", "a.rs"]),
            ("go", &["build", "-ldflags=-s -w", "./..."]),
            ("openssl", &["req", "-config", "openssl.cnf", "-new"]),
            ("npm", &["test", "--silent"]),
            ("sftp", &["-P", "22", "host"]),
        ];
        for (program, args) in benign {
            assert_eq!(FlagPolicy::new(program, &[]).check(&strings(args)), Ok(()), "{program} {args:?}");
        }
        let make = FlagPolicy::new("make", &[]);
        assert!(make.stdin_refusal().unwrap().contains("reads a makefile from stdin"));
        assert_eq!(FlagPolicy::new("git", &[]).stdin_refusal(), None);
        assert_eq!(
            make.code_paths(&strings(&["-kf", "a.mk", "--file=b.mk", "--directory", "d", "-Ie", "x"])),
            [("-kf", "a.mk"), ("--file=b.mk", "b.mk"), ("--directory", "d"), ("-Ie", "e")]
                .map(|(a, v)| (a.to_owned(), v.to_owned()))
        );
        assert!(FlagPolicy::new("cargo", &[]).picks_toolchain());
        assert!(!FlagPolicy::new("make", &[]).picks_toolchain());
        for (path, special) in [
            ("-", true), ("/dev/stdin", true), ("/proc/1/fd/0", true), ("/./dev//fd/0", true),
            ("/usr/../proc/self/environ", true), ("/device", false), ("dev/stdin", false),
            ("/usr/share/mk/sys.mk", false), ("Makefile", false),
        ] {
            assert_eq!(is_special_file(path), special, "{path}");
        }
    }

    #[test]
    fn go_toolchain_is_pinned() {
        let env = forced_env("/usr/local/go/bin/go");
        assert!(env.contains(&("GOTOOLCHAIN".to_owned(), "local".to_owned())));
        assert!(env.contains(&("GOENV".to_owned(), "off".to_owned())));
        for (key, _) in &env {
            assert!(check_env_key(key).is_err(), "{key} is grantable");
        }
    }

    /// The price of matching without a model of each tool: these harmless
    /// commands are refused, each with a spelling that works.
    #[rustfmt::skip]
    #[test]
    fn accepted_false_positives() {
        let cases: &[(&str, &str, &str)] = &[
            // Short flags match anywhere in a single-dash token.
            ("git", "log -p", "log --patch"),
            ("git", "log -Sprocess", "log -S process"),
            ("git", "switch -c feature", "switch --create feature"),
            ("git", "status -uno", "status --untracked-files=no"),
            ("git", "push -u origin main", "push --set-upstream origin main"),
            ("git", "fetch -p", "fetch --prune"),
            ("git", "diff -Oorder.txt", "diff --orderfile=order.txt"),
            ("rg", "-efooz src", "-e fooz src"),
            ("rg", "-- -z", "--regexp=-z"),
            // Abbreviation: a prefix of a denied name without an exemption.
            ("git", "log --out", "log --oneline"),
            // Single-dash mirror of a long flag: rg reads `-pre` as `-p -r e`.
            ("rg", "-pre foo", "-p -r e foo"),
            // Exact entries refuse the word anywhere, paths included.
            ("git", "log -- run", "log -- ./run"),
            // Checked after `--`.
            ("cargo", "test -- -Z", "test"),
        ];
        for (program, refused, instead) in cases {
            let policy = FlagPolicy::new(program, &[]);
            assert!(policy.check(&words(refused)).is_err(), "{program} {refused}");
            assert_eq!(policy.check(&words(instead)), Ok(()), "{program} {instead}");
        }
    }

    #[test]
    fn real_options_are_not_abbreviations() {
        let git = FlagPolicy::new("git", &[]);
        assert_eq!(git.check(&words("diff --text")), Ok(()));
        assert!(git.check(&words("diff --tex")).is_err());
        let tar = FlagPolicy::new("tar", &[]);
        assert_eq!(tar.check(&words("-cf a.tar --checkpoint=100 src")), Ok(()));
        assert!(tar.check(&words("--checkpoint-a=exec=sh")).is_err());
        let npm = FlagPolicy::new("npm", &[]);
        // (A package named `x` would be refused: it is npm exec's alias.)
        assert_eq!(npm.check(&words("install --global lodash")), Ok(()));
        assert!(npm.check(&words("install --globalc=x")).is_err());
    }

    #[test]
    fn denied_lists_what_is_enforced() {
        let manifest = strings(&[
            "--frozen",
            "--config",
            "--color=always",
            "-exec",
            "push",
            "-Z",
        ]);
        let policy = FlagPolicy::new("cargo", &manifest);
        assert_eq!(
            policy.denied(),
            strings(&["--config", "-Z", "--frozen", "--color", "-exec", "push"])
        );
        // Built-in first keeps the better reason.
        let err = policy.check(&words("--config=x")).unwrap_err().to_string();
        assert!(err.contains("runners"), "{err}");
        assert!(FlagPolicy::new("unknown-tool", &[]).denied().is_empty());
        assert_eq!(FlagPolicy::new("/usr/bin/RG", &[]).denied()[0], "--pre");
    }

    #[rustfmt::skip]
    #[test]
    fn refused_programs() {
        for name in [
            "xargs", "env", "/usr/bin/env", "nohup", "timeout", "nice", "setsid", "sudo", "doas",
            "su", "strace", "ltrace", "gdb", "chroot", "unshare", "nsenter", "busybox", "npx",
            "stdbuf", "ld-linux-x86-64.so.2", "/lib/ld-musl-x86_64.so.1", "ld.so", "crontab",
            "tmux", "SUDO", "env.exe", "ld-2.31.so", "ld64.so.2", "coreutils",
        ] {
            assert!(program_refusal(name).is_some(), "{name}");
        }
        for name in [
            "sh", "bash", "zsh", "dash", "fish", "git", "cargo", "rg", "find", "python3",
            "/usr/bin/make", "environment", "envsubst", "ld", "ldd", "ldconfig", "lld",
        ] {
            assert_eq!(program_refusal(name), None, "{name}");
        }
        assert!(program_refusal("xargs").unwrap().contains("runs commands"));
    }

    #[rustfmt::skip]
    #[test]
    fn env_keys() {
        let allowed = [
            "RUSTFLAGS", "CARGO_TERM_COLOR", "CARGO_TARGET_DIR", "CARGO_BUILD_JOBS",
            "GIT_AUTHOR_NAME", "git_author_email", "GIT_COMMITTER_DATE", "RUST_LOG",
            "RUST_BACKTRACE", "CFLAGS", "LANG", "TERM", "NO_COLOR", "TZ", "CI",
        ];
        for key in allowed {
            assert_eq!(check_env_key(key), Ok(()), "{key}");
        }
        let refused: &[(&str, &str)] = &[
            ("LD_PRELOAD", "dynamic loader"),
            ("ld_preload", "dynamic loader"),
            ("LD_LIBRARY_PATH", "dynamic loader"),
            ("DYLD_INSERT_LIBRARIES", "macOS"),
            ("BASH_ENV", "bash runs"),
            ("ENV", "sh runs"),
            ("BASH_FUNC_ls%%", "functions"),
            ("SHELLOPTS", "bash options"),
            ("BASHOPTS", "bash options"),
            ("IFS", "split"),
            ("PS4", "traced"),
            ("PROMPT_COMMAND", "prompt"),
            ("PATH", "warden sets it"),
            ("Path", "warden sets it"),
            ("HOME", "warden sets it"),
            ("GIT_CONFIG_COUNT", "GIT_AUTHOR_*"),
            ("GIT_CONFIG_PARAMETERS", "GIT_AUTHOR_*"),
            ("GIT_DIR", "GIT_AUTHOR_*"),
            ("GIT_SSH_COMMAND", "GIT_AUTHOR_*"),
            ("GIT_EXEC_PATH", "GIT_AUTHOR_*"),
            ("GIT_AUTHOR", "GIT_AUTHOR_*"),
            ("NODE_OPTIONS", "--require"),
            ("NODE_PATH", "node loads"),
            ("NPM_CONFIG_SCRIPT_SHELL", "npm"),
            ("npm_config_script_shell", "npm"),
            ("PYTHONPATH", "python"),
            ("PYTHONSTARTUP", "python"),
            ("PERL5LIB", "perl"),
            ("PERL5OPT", "perl"),
            ("PERLLIB", "perl"),
            ("RUBYOPT", "ruby"),
            ("RUBYLIB", "ruby"),
            ("JAVA_TOOL_OPTIONS", "JVM"),
            ("_JAVA_OPTIONS", "JVM"),
            ("JDK_JAVA_OPTIONS", "JVM"),
            ("CLASSPATH", "JVM"),
            ("HTTPS_PROXY", "proxy"),
            ("https_proxy", "proxy"),
            ("Http_Proxy", "proxy"),
            ("ALL_PROXY", "proxy"),
            ("no_proxy", "proxy"),
            ("FTP_PROXY", "proxy"),
            ("EDITOR", "edit"),
            ("VISUAL", "edit"),
            ("PAGER", "page"),
            ("MANPAGER", "page"),
            ("LESSOPEN", "less"),
            ("LESSCLOSE", "less"),
            ("SSH_ASKPASS", "credentials"),
            ("RUSTC_WRAPPER", "every compiler call"),
            ("RUSTC_WORKSPACE_WRAPPER", "every compiler call"),
            ("CARGO_BUILD_RUSTC_WRAPPER", "every compiler call"),
            ("RUSTC", "compiler"),
            ("RUSTDOC", "documentation"),
            ("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", "through it"),
            ("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER", "linker"),
            ("CARGO_REGISTRY_CREDENTIAL_PROVIDER", "tokens"),
            ("CARGO_HOME", "toolchains"),
            ("RUSTUP_HOME", "toolchains"),
            ("RUSTUP_TOOLCHAIN", "toolchain"),
            ("CC", "build"),
            ("CXX", "build"),
            ("LD", "build"),
            ("AR", "build"),
            ("CC_x86_64_unknown_linux_gnu", "build"),
            ("MAKEFLAGS", "--eval"),
            ("TAR_OPTIONS", "options"),
            ("RIPGREP_CONFIG_PATH", "--pre"),
            ("GOFLAGS", "options"),
            ("GCONV_PATH", "glibc"),
            ("XDG_CONFIG_HOME", "config"),
        ];
        for (key, why) in refused {
            let err = check_env_key(key).unwrap_err().to_string();
            let start = format!("`{key}` cannot be granted to a program: ");
            assert!(err.starts_with(&start), "{err}");
            assert!(err.contains(why), "{key}: {err}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn env_key_shape() {
        let long = "K".repeat(MAX_ENV_KEY_BYTES + 1);
        let cases: &[(&str, &str)] = &[
            ("", "cannot be empty"),
            (long.as_str(), "longer than the limit of 128"),
            ("A=B", "contains `=`"),
            ("=A", "contains `=`"),
            ("A\0B", "contains NUL"),
            ("A B", "only printable ASCII"),
            ("A\nB", "only printable ASCII"),
            ("ÄPFEL", "only printable ASCII"),
        ];
        for (key, why) in cases {
            let err = check_env_key(key).unwrap_err().to_string();
            assert!(err.contains(why), "{key:?}: {err}");
        }
        assert_eq!(check_env_key(&"K".repeat(MAX_ENV_KEY_BYTES)), Ok(()));
        assert!(!check_env_key("A\u{1b}B").unwrap_err().to_string().contains('\u{1b}'));
    }

    #[test]
    fn forced_env_for_git() {
        let env = forced_env("/usr/bin/git");
        let get = |key: &str| -> Option<&str> {
            let mut found = env.iter().filter(|(k, _)| k == key);
            let first = found.next().map(|(_, v)| v.as_str());
            assert!(found.next().is_none(), "{key} set twice");
            first
        };
        for (key, value) in [
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_CONFIG_GLOBAL", "/dev/null"),
            ("GIT_TERMINAL_PROMPT", "0"),
            ("GIT_PAGER", "cat"),
            ("PAGER", "cat"),
            ("GIT_EDITOR", "true"),
            ("GIT_ASKPASS", ""),
            ("GIT_OPTIONAL_LOCKS", "0"),
            ("GIT_ALLOW_PROTOCOL", ""),
        ] {
            assert_eq!(get(key), Some(value), "{key}");
        }

        let count: usize = get("GIT_CONFIG_COUNT").unwrap().parse().unwrap();
        let mut config = Vec::new();
        for i in 0..count {
            let key = get(&format!("GIT_CONFIG_KEY_{i}")).expect("key");
            let value = get(&format!("GIT_CONFIG_VALUE_{i}")).expect("value");
            config.push((key, value));
        }
        // Nothing beyond the count, and nothing else in the list.
        assert!(get(&format!("GIT_CONFIG_KEY_{count}")).is_none());
        assert_eq!(env.len(), GIT_ENV.len() + 1 + 2 * count);
        for expected in [
            ("core.fsmonitor", "false"),
            ("core.hooksPath", "/dev/null"),
            ("core.pager", "cat"),
            ("core.editor", "true"),
            ("core.sshCommand", "false"),
            ("core.askPass", ""),
            ("credential.helper", ""),
            ("protocol.allow", "never"),
            ("protocol.ext.allow", "never"),
            ("uploadpack.packObjectsHook", ""),
            ("sequence.editor", "true"),
            ("gpg.program", "false"),
            ("gpg.ssh.program", "false"),
            ("commit.gpgSign", "false"),
            ("tag.gpgSign", "false"),
            ("safe.directory", "*"),
            ("safe.bareRepository", "explicit"),
        ] {
            assert!(config.contains(&expected), "{expected:?} missing");
        }
        // An empty diff.external makes git run "" and `git diff` fail.
        assert!(!config.iter().any(|(k, _)| *k == "diff.external"));

        // Every key warden forces is one a plugin could never pass itself.
        for (key, _) in &env {
            assert!(check_env_key(key).is_err(), "{key} is grantable");
        }
        assert_eq!(forced_env("git-upload-pack"), env);
        assert_eq!(forced_env("GIT.EXE"), env);
    }

    #[test]
    fn forced_env_for_others() {
        let pager = vec![("PAGER".to_owned(), "cat".to_owned())];
        for program in ["cargo", "/usr/bin/rg", "sh", "gitk", "legit"] {
            assert_eq!(forced_env(program), pager, "{program}");
        }
    }

    #[test]
    fn program_names() {
        for (given, name) in [
            ("/usr/bin/git", "git"),
            ("git", "git"),
            ("GIT", "git"),
            ("C:\\Git\\bin\\git.exe", "git"),
            (".exe", ".exe"),
            ("/opt/x/", ""),
        ] {
            assert_eq!(program_name(given), name, "{given}");
        }
    }
}
