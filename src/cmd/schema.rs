//! `csrbatch schema`: the JSON Schema of a manifest on stdout (generated from the same
//! field table the loader reads, so it says what the loader checks).

use crate::cli::SchemaArgs;
use crate::error::{Error, ExitCode};

/// Prints the manifest JSON Schema.
pub fn run(_args: &SchemaArgs) -> Result<ExitCode, Error> {
    crate::progress::out(format_args!("{}", crate::request::schema::schema_text().trim_end()))?;
    Ok(ExitCode::Success)
}
