//! The chat's slash commands, parsed from one line of input.

use warden_agent::approval::Mode;

/// One slash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slash {
    Help,
    Quit,
    /// What this session's turns changed (one turn, or all).
    Diff(Option<u64>),
    /// Take back the last captured change in the workspace.
    Undo,
    /// The plugins' effective grants.
    Grants,
    /// Add to a plugin's grant (asks first).
    Grant {
        plugin: String,
        specs: Vec<String>,
    },
    Approval(Mode),
    /// Show the model, or switch to another.
    Model(Option<String>),
    /// This session's audit records.
    Log,
    Sessions,
    Resume(String),
    New,
}

/// Every command, for Tab completion.
pub const NAMES: &[&str] = &[
    "/diff",
    "/undo",
    "/grants",
    "/approval",
    "/model",
    "/log",
    "/sessions",
    "/resume",
    "/new",
    "/help",
    "/quit",
];

/// What `/help` prints.
pub const HELP: &str = "\
/diff [TURN]             what this session's turns changed
/undo                    take back the last captured change in the workspace
/grants                  what each plugin is granted
/grants PLUGIN SPEC...   add to a plugin's grant (as `warden plugin grant PLUGIN --add`), after you confirm
/approval ask|auto|read-only
                         which tool calls run without asking
/model [NAME]            the model, or switch to NAME
/log                     this session's audit records
/sessions                recorded sessions
/resume ID               continue a recorded session here
/new                     start a new session
/help                    this list
/quit                    leave (Ctrl-D too)
Esc or Ctrl-C interrupts the running turn; Alt-Enter, or a line ending in \\, continues the input on a new line.";

/// Parse `line`, which starts with `/`. The error says what was wrong and
/// what would do.
pub fn parse(line: &str) -> Result<Slash, String> {
    let mut words = line.split_whitespace();
    let name = words.next().unwrap_or("/");
    let rest: Vec<String> = words.map(str::to_string).collect();
    let none = |s: Slash| {
        if rest.is_empty() {
            Ok(s)
        } else {
            Err(format!("{name} takes no arguments (see /help)"))
        }
    };
    match name {
        "/help" | "/?" => none(Slash::Help),
        "/quit" | "/exit" => none(Slash::Quit),
        "/undo" => none(Slash::Undo),
        "/log" => none(Slash::Log),
        "/sessions" => none(Slash::Sessions),
        "/new" => none(Slash::New),
        "/diff" => match rest.as_slice() {
            [] => Ok(Slash::Diff(None)),
            [n] => n
                .parse()
                .map(|n| Slash::Diff(Some(n)))
                .map_err(|_| format!("/diff takes a turn number, not {n:?}")),
            _ => Err("/diff takes at most one turn number".into()),
        },
        "/grants" | "/grant" => match rest.split_first() {
            None => Ok(Slash::Grants),
            Some((_, [])) => Err(
                "/grants PLUGIN SPEC...: name what to add, e.g. /grants exec program:make".into(),
            ),
            Some((plugin, specs)) => Ok(Slash::Grant {
                plugin: plugin.clone(),
                specs: specs.to_vec(),
            }),
        },
        "/approval" => match rest.as_slice() {
            [m] => match m.as_str() {
                "ask" => Ok(Slash::Approval(Mode::Ask)),
                "auto" => Ok(Slash::Approval(Mode::Auto)),
                "read-only" => Ok(Slash::Approval(Mode::ReadOnly)),
                other => Err(format!(
                    "/approval: {other:?} is not a mode; use ask, auto or read-only"
                )),
            },
            _ => Err("/approval takes one mode: ask, auto or read-only".into()),
        },
        "/model" => match rest.as_slice() {
            [] => Ok(Slash::Model(None)),
            [m] => Ok(Slash::Model(Some(m.clone()))),
            _ => Err("/model takes one model name".into()),
        },
        "/resume" => match rest.as_slice() {
            [id] => Ok(Slash::Resume(id.clone())),
            _ => Err("/resume takes one session id (see /sessions)".into()),
        },
        other => Err(format!(
            "unknown command {}; /help lists them",
            warden_core::escape::escape(other)
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_bad_ones_say_why() {
        assert_eq!(parse("/diff"), Ok(Slash::Diff(None)));
        assert_eq!(parse("/diff 3"), Ok(Slash::Diff(Some(3))));
        assert_eq!(parse("/approval auto"), Ok(Slash::Approval(Mode::Auto)));
        assert_eq!(
            parse("/grants exec program:make net:https://docs.rs"),
            Ok(Slash::Grant {
                plugin: "exec".into(),
                specs: vec!["program:make".into(), "net:https://docs.rs".into()]
            })
        );
        assert_eq!(
            parse("/model  gpt-5 "),
            Ok(Slash::Model(Some("gpt-5".into())))
        );
        assert!(parse("/diff x").unwrap_err().contains("turn number"));
        assert!(
            parse("/approval yolo")
                .unwrap_err()
                .contains("ask, auto or read-only")
        );
        assert!(parse("/quit now").unwrap_err().contains("no arguments"));
        assert!(parse("/grants exec").unwrap_err().contains("SPEC"));
        assert!(parse("/frobnicate").unwrap_err().contains("/help"));
        assert!(parse("/\u{1b}[2J").unwrap_err().contains("\\u{1b}"));
    }
}
