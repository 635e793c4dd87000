//! The `warden` command line.
//!
//! Exit codes (README's "Exit codes" table is the same list): 0 success,
//! also when the reader of standard output stopped reading; 1 the tool
//! reported a failure; 2 bad usage or input (a missing workspace, `@file`
//! or `.wasm` path, an approval that cannot be asked for, also an unusable
//! organisation policy); 3 denied (a capability was not granted, the
//! organisation's policy forbids it, or you answered no); 4 the plugin was
//! stopped (time, memory or output limit, crash); 5 anything else, including
//! an action refused because the audit log could not record it; 6 `warden
//! log verify` or `warden journal verify` found tampering or damage.
//!
//! With `--json`, a failure is one line on stdout:
//! `{"error":{"kind":…,"message":…,"hint":…},"exit":N}` (see [`errors`]).

#[macro_use]
mod out;
mod commands;
mod errors;

use clap::{CommandFactory as _, Parser, Subcommand};
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use warden_core::Error;

#[derive(Parser)]
#[command(
    name = "warden",
    version,
    about = "A coding agent whose tools run only with the access you grant"
)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Without one, on a terminal: `warden chat`.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Install, inspect and manage plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// List every callable tool with its plugin and input schema.
    Tools,
    /// Serve the granted tools to other agents over MCP (stdio by default).
    Mcp {
        /// The workspace the plugins' relative grants refer to.
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
        /// Serve streamable HTTP on this address instead of stdio
        /// (e.g. 127.0.0.1:7357). Any non-loopback address needs --token.
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
        /// Bearer token HTTP clients must send (default: $WARDEN_MCP_TOKEN).
        #[arg(long, env = "WARDEN_MCP_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// With --http: a further browser origin (scheme://host[:port]) whose
        /// pages may call the server; repeatable. Requests whose `Origin` is
        /// neither this nor the server's own loopback origin get 403.
        #[arg(long = "allow-origin", value_name = "ORIGIN", requires = "http")]
        allow_origin: Vec<String>,
        /// Who decides, within the grants, that a call runs: `auto` runs
        /// every call the grants allow; `ask` asks the person behind the
        /// client (MCP elicitation) before a call that may write, run a
        /// program or reach the network; `read-only` refuses those calls.
        #[arg(long, value_enum, default_value = "auto")]
        approval: warden_agent::approval::Mode,
    },
    /// Work on a task with a model, through the granted tools only; asks
    /// before anything that writes or runs a program.
    Run {
        /// What to do, e.g. "make the failing test pass".
        task: String,
        #[command(flatten)]
        opts: AgentOpts,
    },
    /// Talk with the agent in the workspace, turn after turn: streamed
    /// answers, approvals inline, Esc or Ctrl-C interrupts a turn, slash
    /// commands (/help). `warden` alone on a terminal does the same.
    Chat {
        /// Continue this recorded session (see `warden sessions`).
        #[arg(long, value_name = "ID")]
        resume: Option<String>,
        #[command(flatten)]
        opts: AgentOpts,
    },
    /// Like run, without a person: read-only unless --approval auto; with
    /// --json, one JSON event per line on stdout.
    Exec {
        task: String,
        #[command(flatten)]
        opts: AgentOpts,
    },
    /// List recorded agent sessions, newest first.
    Sessions,
    /// Continue a recorded session with a new instruction.
    Resume {
        /// The session id (see `warden sessions`).
        id: String,
        /// What to do next.
        #[arg(default_value = "Continue.")]
        task: String,
        /// Run without a person, as `warden exec` does.
        #[arg(long)]
        exec: bool,
        #[command(flatten)]
        opts: AgentOpts,
    },
    /// Watch the agent fix a failing test in a small demo project, with a
    /// built-in replay instead of a model (nothing to configure); your own
    /// grants and sessions are not touched.
    Demo {
        /// Keep the project and the demo's state here (a new or empty
        /// directory) instead of a temporary one.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Check and explain the organisation's policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Show the audit log: every call, denial, install and grant change.
    #[command(args_conflicts_with_subcommands = true)]
    Log {
        #[command(subcommand)]
        verify: Option<LogCommand>,
        /// Only records of this session.
        #[arg(long)]
        session: Option<String>,
        /// Only records about this plugin.
        #[arg(long)]
        plugin: Option<String>,
        /// Only `allow` or only `deny` decisions.
        #[arg(long, value_parser = ["allow", "deny"])]
        decision: Option<String>,
        /// Only records since a time: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC)
        /// or an age such as 30m, 2h, 7d.
        #[arg(long)]
        since: Option<String>,
    },
    /// Run one tool under its plugin's grants and print the result.
    Call {
        /// `plugin.tool`, e.g. `fs.read`.
        tool: String,
        /// The tool's input as a JSON object; `-` reads it from standard
        /// input, `@FILE` from a file.
        #[arg(long, default_value = "{}")]
        input: String,
        /// The workspace the plugin's relative grants refer to.
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
        /// The session this call belongs to (default `cli`). A call that can
        /// change files is captured as the session's next turn.
        #[arg(long)]
        session: Option<String>,
    },
    /// Undo the last captured turn in the workspace (any session).
    Undo {
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
        /// Restore even if files changed after the turn (those changes are lost).
        #[arg(long)]
        force: bool,
    },
    /// Undo a session's turns: all of them, or those after `--to TURN`.
    Rollback {
        /// The session (`cli` for plain `warden call`s).
        session: String,
        /// Keep turns up to and including this one.
        #[arg(long, value_name = "TURN")]
        to: Option<u64>,
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
        /// Restore even if files changed after those turns (those changes are lost).
        #[arg(long)]
        force: bool,
    },
    /// Keep the undo journal's store in bounds, or check it.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Print a shell completion script, e.g. `warden completions bash >
    /// ~/.local/share/bash-completion/completions/warden`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print warden's manual page (roff), or write one page per command.
    Man {
        /// Write warden.1, warden-call.1, warden-plugin-install.1, … into
        /// this directory instead (it is created if missing).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Show what a session's turns changed, as a diff.
    Diff {
        /// The session.
        session: String,
        /// Only this turn.
        #[arg(long)]
        turn: Option<u64>,
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
        /// Color the diff: auto (when printing to a terminal), always, never.
        #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
        color: String,
    },
}

#[derive(Subcommand)]
enum JournalCommand {
    /// Remove stored contents no turn needs; over the size cap, forget the
    /// oldest turns (they can no longer be undone) until the rest fit.
    Gc {
        /// The cap on what the kept turns need, in MiB.
        #[arg(long, value_name = "MIB", default_value_t = warden_core::journal::gc::DEFAULT_MAX_MIB)]
        max_mib: u64,
    },
    /// Check that every stored content a turn needs is there and whole;
    /// exit 6 if one is missing or damaged.
    Verify,
}

#[derive(Subcommand)]
enum LogCommand {
    /// Check every record's MAC, the chain and the anchored head; exit 6
    /// if the log was edited, reordered, cut or replaced.
    Verify,
}

/// How the agent reaches a model and how far it may go.
#[derive(clap::Args)]
struct AgentOpts {
    /// The project the agent works on (plugins' relative grants refer to it).
    #[arg(long, default_value = ".")]
    workspace: PathBuf,
    /// A profile from ~/.config/warden/config.toml (default: $WARDEN_PROFILE,
    /// the file's default_profile, or the environment).
    #[arg(long)]
    profile: Option<String>,
    /// Use this model instead of the profile's.
    #[arg(long)]
    model: Option<String>,
    /// Which tool calls run without asking: ask (default for run), auto
    /// (everything inside the grants) or read-only (default for exec).
    #[arg(long, value_enum)]
    approval: Option<warden_agent::approval::Mode>,
    /// Most requests to the model.
    #[arg(long, default_value_t = warden_agent::turns::DEFAULT_MAX_TURNS)]
    max_turns: u32,
    /// Stop once this many tokens (input + output) were used.
    #[arg(long)]
    token_budget: Option<u64>,
}

impl From<AgentOpts> for commands::AgentArgs {
    fn from(o: AgentOpts) -> Self {
        commands::AgentArgs {
            workspace: o.workspace,
            profile: o.profile,
            model: o.model,
            approval: o.approval,
            max_turns: o.max_turns,
            token_budget: o.token_budget,
        }
    }
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Parse and validate a policy (default: the policies in force) and
    /// run example requests that must be allowed or denied.
    Check {
        /// A policy file (default: /etc/warden/policy.cedar and $WARDEN_POLICY).
        file: Option<PathBuf>,
        /// Its roles file (default: roles.toml beside it).
        #[arg(long, requires = "file")]
        roles: Option<PathBuf>,
        /// A TOML file of `[[example]]` requests, each with `expect = "allow"`
        /// or `"deny"` (see host/core/policies/example-requests.toml).
        #[arg(long)]
        examples: Option<PathBuf>,
    },
    /// Decide one request and name the rules that decided it.
    Explain(commands::ExplainArgs),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Start a plugin project that builds, installs and passes its own
    /// test (`./test.sh`) out of the box, with one tool per capability.
    New {
        /// The plugin's name: 1-32 of a-z, 0-9, `-`, `_`, starting with a letter.
        name: String,
        /// The language of the project.
        #[arg(long, value_enum, default_value = "rust")]
        lang: commands::Lang,
        /// A capability to request, each with a tool using it (repeatable;
        /// default files): files (read a workspace file), programs (run
        /// `echo`), network (GET a URL).
        #[arg(long = "capability", value_enum, value_name = "CAPABILITY")]
        capabilities: Vec<commands::Capability>,
        /// Where to create it (default: ./NAME); must be new or empty.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Install a plugin component after showing what it requests.
    Install {
        /// Path of the `.wasm` component, `oci://HOST/REPOSITORY:TAG` (or
        /// `@sha256:DIGEST`), or an `https://` URL with --sha256.
        #[arg(required_unless_present = "locked")]
        source: Option<String>,
        /// The SHA-256 of a component named by URL.
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// A keyless Sigstore bundle (v0.3 JSON) over the file or URL's
        /// component, verified offline against the trusted root that
        /// trust.toml names for its `[[keyless]]` publishers.
        #[arg(long, value_name = "FILE")]
        bundle: Option<PathBuf>,
        /// Install every plugin of a lock (the output of `warden plugin list
        /// --json`), each at its pinned digest.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["source", "sha256", "bundle"])]
        locked: Option<PathBuf>,
        /// Grant only these: `file:PATH[:read|write]`, `env:NAME`,
        /// `program:NAME[:PATTERN]`, `net:ORIGIN` (repeatable). Without it,
        /// everything the plugin requests except programs and network is
        /// granted once you agree.
        #[arg(long = "grant", value_name = "SPEC")]
        grants: Vec<String>,
        /// Do not ask; grant as requested (or as given by --grant).
        #[arg(long)]
        yes: bool,
    },
    /// Replace an installed plugin by a newer version after showing what it
    /// asks for beyond today's; nothing new is granted unless --grant says so.
    Update {
        /// Plugin name.
        name: String,
        /// Where the new version is (default: the tag or URL it was
        /// installed from).
        #[arg(long, value_name = "REF")]
        to: Option<String>,
        /// The SHA-256 of a component named by URL.
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// Also grant these (same forms as `install --grant`).
        #[arg(long = "grant", value_name = "SPEC")]
        grants: Vec<String>,
        /// Do not ask. Approves nothing new: new requests stay off and a
        /// change to tool descriptions or higher limits is refused.
        #[arg(long)]
        yes: bool,
        /// Accept a lower version than the installed one.
        #[arg(long)]
        allow_downgrade: bool,
        /// Accept a version signed by this trusted publisher although the
        /// installed one was signed by another (publisher continuity).
        #[arg(long, value_name = "PUBLISHER")]
        accept_signer: Option<String>,
    },
    /// Put back the version the last update replaced, with its grant.
    Rollback {
        /// Plugin name.
        name: String,
    },
    /// Show what one component asks for that another does not (installed
    /// names or `.wasm` paths).
    Diff {
        /// The old side.
        a: String,
        /// The new side.
        b: String,
    },
    /// Push a component to an OCI registry as a Wasm artifact.
    Publish {
        /// Path of the `.wasm` component.
        component: PathBuf,
        /// `oci://HOST/REPOSITORY:TAG`.
        target: String,
        /// Sign it with this unencrypted PKCS#8 PEM P-256 key, as cosign
        /// does (signature under the tag `sha256-<digest>.sig`).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// List installed and bundled plugins.
    List,
    /// Remove an installed plugin and its grant.
    Remove {
        /// Plugin name.
        name: String,
    },
    /// Show a plugin's imports, requested and granted capabilities, digest and risks.
    Audit {
        /// Plugin name, or path of a `.wasm` component.
        target: String,
        /// The workspace used to resolve relative grants.
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
    },
    /// Embed a manifest in a component built by any toolchain
    /// (componentize-py, componentize-js, cargo) and check its imports
    /// against it.
    Pack {
        /// Path of the `.wasm` component.
        component: PathBuf,
        /// The plugin's `warden.toml`.
        #[arg(long, default_value = "warden.toml")]
        manifest: PathBuf,
        /// Where to write the packed component (default: NAME.wasm beside
        /// the component).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Replace what a plugin is granted.
    Grant {
        /// Plugin name.
        name: String,
        /// `file:PATH[:read|write]`, `env:NAME`, `program:NAME[:PATTERN]` or
        /// `net:ORIGIN` (`scheme://host[:port]`, e.g. `net:https://docs.rs`)
        /// (repeatable). A program is resolved on your PATH now, once.
        #[arg(long = "grant", value_name = "SPEC", required_unless_present_any = ["none", "requested"])]
        grants: Vec<String>,
        /// Grant nothing.
        #[arg(long, conflicts_with_all = ["grants", "requested"])]
        none: bool,
        /// Grant exactly what the plugin requests.
        #[arg(long, conflicts_with = "grants")]
        requested: bool,
        /// Add to the current grant instead of replacing it.
        #[arg(long, conflicts_with_all = ["none", "requested"])]
        add: bool,
        /// Grant in this workspace only: the grant applies there in place
        /// of the plugin's grant everywhere (shown by `plugin list` and
        /// `plugin audit --workspace`).
        #[arg(long, value_name = "DIR")]
        workspace: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // Inside a sandbox, warden's own binary is the last step before a
    // granted program: confine this process, then become the program. This
    // runs before anything else starts (no threads, no runtime).
    let mut raw = std::env::args_os();
    if raw.nth(1).is_some_and(|a| a == "__confine") {
        let why = match warden_core::capability::process::confine::ConfineArgs::parse(raw) {
            Ok(args) => warden_core::capability::process::confine::confine_and_exec(args),
            Err(e) => e.to_string(),
        };
        eprintln!("warden-confine: {why}");
        return ExitCode::from(warden_core::capability::process::confine::CONFINE_FAILED as u8);
    }
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return errors::usage(&e),
    };
    let command = match cli.command.take() {
        Some(c) => c,
        None if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() => {
            Command::Chat {
                resume: None,
                opts: AgentOpts {
                    workspace: PathBuf::from("."),
                    profile: None,
                    model: None,
                    approval: None,
                    max_turns: warden_agent::turns::DEFAULT_MAX_TURNS,
                    token_budget: None,
                },
            }
        }
        None => {
            let _ = Cli::command().print_help();
            eprintln!("\n(on a terminal, `warden` alone opens `warden chat`)");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match runtime_for(&command) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(5);
        }
    };
    match runtime.block_on(run(cli.json, command)) {
        Ok(code) => code,
        Err(err) => errors::report(&err, cli.json),
    }
}

/// The async runtime for a command. One thread does for everything but the
/// MCP server, which answers many clients' calls at once: there each call is
/// its own task on a worker pool, so a guest that computes (it yields every
/// epoch tick, 5 ms, and is at once ready again) holds one worker while the
/// others keep reading requests and running calls. The I/O driver is polled
/// after every task, not every 61: otherwise a looping guest would delay
/// every incoming request by ~300 ms.
fn runtime_for(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match command {
        Command::Mcp { .. } => {
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(workers);
            b
        }
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    builder.enable_all().event_interval(1).build()
}

async fn run(json: bool, command: Command) -> anyhow::Result<ExitCode> {
    // These keep their own state or none: they need no App of the user's.
    match &command {
        Command::Demo { dir } => return commands::demo(json, dir.clone()).await,
        Command::Completions { shell } => return completions(*shell),
        Command::Man { dir } => return commands::man(Cli::command(), dir.as_deref()),
        Command::Plugin(PluginCommand::New {
            name,
            lang,
            capabilities,
            dir,
        }) => return plugin_new(json, name, *lang, capabilities, dir.as_deref()),
        _ => {}
    }
    let app = commands::App::from_env(json)?;
    match command {
        Command::Tools => app.tools().await,
        Command::Demo { dir } => commands::demo(json, dir).await,
        Command::Mcp {
            workspace,
            http: None,
            approval,
            ..
        } => app.mcp_stdio(&workspace, approval).await,
        Command::Mcp {
            workspace,
            http: Some(addr),
            token,
            allow_origin,
            approval,
        } => {
            let server = app.mcp_server(&workspace, approval).await?;
            commands::serve_http(server, addr, token, &allow_origin).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Log {
            verify: Some(LogCommand::Verify),
            ..
        } => app.log_verify(),
        Command::Log {
            verify: None,
            session,
            plugin,
            decision,
            since,
        } => {
            let since = since
                .map(|s| warden_core::audit::time::parse_since(&s, std::time::SystemTime::now()))
                .transpose()
                .map_err(|e| {
                    anyhow::anyhow!(Error::InvalidInput {
                        tool: "warden log --since".into(),
                        reason: e.to_string()
                    })
                })?;
            let decision = decision.map(|d| match d.as_str() {
                "deny" => warden_core::audit::Decision::Deny,
                _ => warden_core::audit::Decision::Allow,
            });
            app.log(&commands::Filter {
                session,
                plugin,
                decision,
                since,
            })
        }
        Command::Call {
            tool,
            input,
            workspace,
            session,
        } => {
            app.call(&tool, &input, &workspace, session.as_deref())
                .await
        }
        Command::Run { task, opts } => app.agent(&task, opts.into(), true, None).await,
        Command::Chat { resume, opts } => app.chat(opts.into(), resume.as_deref()).await,
        Command::Exec { task, opts } => app.agent(&task, opts.into(), false, None).await,
        Command::Sessions => app.sessions(),
        Command::Resume {
            id,
            task,
            exec,
            opts,
        } => app.agent(&task, opts.into(), !exec, Some(&id)).await,
        Command::Policy(PolicyCommand::Check {
            file,
            roles,
            examples,
        }) => app.policy_check(file.as_deref(), roles.as_deref(), examples.as_deref()),
        Command::Policy(PolicyCommand::Explain(args)) => app.policy_explain(&args),
        Command::Undo { workspace, force } => app.undo(&workspace, force),
        Command::Journal(JournalCommand::Gc { max_mib }) => app.journal_gc(max_mib),
        Command::Journal(JournalCommand::Verify) => app.journal_verify(),
        Command::Completions { shell } => completions(shell),
        Command::Man { dir } => commands::man(Cli::command(), dir.as_deref()),
        Command::Rollback {
            session,
            to,
            workspace,
            force,
        } => app.rollback(&session, to, &workspace, force),
        Command::Diff {
            session,
            turn,
            workspace,
            color,
        } => app.diff(&session, turn, &workspace, &color),
        Command::Plugin(cmd) => match cmd {
            PluginCommand::New {
                name,
                lang,
                capabilities,
                dir,
            } => plugin_new(json, &name, lang, &capabilities, dir.as_deref()),
            PluginCommand::Install {
                source,
                sha256,
                bundle,
                locked,
                grants,
                yes,
            } => match (locked, source) {
                (Some(lock), _) => app.install_locked(&lock, &grants, yes).await,
                (None, Some(source)) => {
                    app.install(&source, sha256.as_deref(), bundle.as_deref(), &grants, yes)
                        .await
                }
                (None, None) => Err(anyhow::anyhow!(Error::InvalidInput {
                    tool: "warden plugin install".into(),
                    reason: "name a path, oci://… or https://…, or give --locked FILE".into(),
                })),
            },
            PluginCommand::Update {
                name,
                to,
                sha256,
                grants,
                yes,
                allow_downgrade,
                accept_signer,
            } => {
                app.update(&commands::UpdateArgs {
                    name: &name,
                    to: to.as_deref(),
                    sha256: sha256.as_deref(),
                    specs: &grants,
                    yes,
                    allow_downgrade,
                    accept_signer: accept_signer.as_deref(),
                })
                .await
            }
            PluginCommand::Rollback { name } => app.rollback_plugin(&name),
            PluginCommand::Diff { a, b } => app.plugin_diff(&a, &b).await,
            PluginCommand::Publish {
                component,
                target,
                key,
            } => app.publish(&component, &target, key.as_deref()).await,
            PluginCommand::List => app.list().await,
            PluginCommand::Pack {
                component,
                manifest,
                output,
            } => app.pack(&component, &manifest, output.as_deref()),
            PluginCommand::Remove { name } => app.remove(&name),
            PluginCommand::Audit { target, workspace } => app.audit(&target, &workspace).await,
            PluginCommand::Grant {
                name,
                grants,
                none,
                requested,
                add,
                workspace,
            } => app.set_grant(&name, &grants, none, requested, add, workspace.as_deref()),
        },
    }
}

/// `warden plugin new`, which needs no state of the user's.
fn plugin_new(
    json: bool,
    name: &str,
    lang: commands::Lang,
    capabilities: &[commands::Capability],
    dir: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    commands::plugin_new(
        json,
        &commands::NewArgs {
            name,
            lang,
            capabilities,
            dir,
        },
    )
}

/// `warden completions SHELL`: the script clap_complete writes for the
/// whole command tree.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "warden", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(ExitCode::SUCCESS)
}
