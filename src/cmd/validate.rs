//! `csrbatch validate`: load and validate only; print every error; write nothing.

use crate::cli::ValidateArgs;
use crate::error::{Error, ExitCode};
use crate::run::load_and_validate;

use super::json::{self, JsonCommand};

pub fn run(args: &ValidateArgs) -> Result<ExitCode, Error> {
    if args.json {
        return json::emit(JsonCommand::Validate, |doc| {
            json::validate(
                doc,
                &load_and_validate(&args.paths, crate::manifest::ReadOptions { encoding: args.encoding })?,
            )
        });
    }
    let requests = load_and_validate(&args.paths, crate::manifest::ReadOptions { encoding: args.encoding })?;
    crate::progress::out(format_args!("{} valid", crate::text::plural(requests.len(), "request")))?;
    Ok(ExitCode::Success)
}
