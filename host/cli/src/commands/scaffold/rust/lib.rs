//! {{name}}: a warden plugin. Each tool is a typed input struct and a
//! function; `warden_sdk::plugin!` at the end exports them and embeds
//! warden.toml (the capability manifest) into the component.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;
{{sections}}
warden_sdk::plugin! {
{{tools}}}
