
/// Input of `echo`.
#[derive(Deserialize, JsonSchema)]
struct EchoInput {
    /// The words for `echo` to print.
    text: String,
}

/// What `echo` answers.
#[derive(Serialize, JsonSchema)]
struct EchoOutput {
    /// How `echo` exited (none if a signal ended it).
    exit_code: Option<i32>,
    /// What it printed.
    stdout: String,
}

/// Run the granted program `echo`. warden resolved it on the user's PATH
/// when it was granted, starts it with an empty environment and confines
/// it to this plugin's file grants.
fn echo(input: EchoInput) -> Result<EchoOutput, ToolError> {
    let output = warden_sdk::process::Command::new("echo")
        .arg(input.text)
        .run()?;
    Ok(EchoOutput {
        exit_code: output.exit_code,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    })
}
