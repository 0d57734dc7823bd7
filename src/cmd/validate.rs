//! `csrbatch validate`: load and validate only; print every error; write nothing.

use super::load_and_validate_with;
use crate::cli::ValidateArgs;
use crate::error::{Error, ExitCode};
use crate::manifest::ReadOptions;

pub fn run(args: &ValidateArgs) -> Result<ExitCode, Error> {
    let requests = load_and_validate_with(&args.paths, ReadOptions { encoding: args.encoding })?;
    crate::progress::out(format_args!("{} requests valid", requests.len()));
    Ok(ExitCode::Success)
}
