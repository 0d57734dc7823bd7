//! `csrbatch validate`: load and validate only; print every error; write nothing.

use crate::cli::ValidateArgs;
use crate::error::{Error, ExitCode};
use crate::run::load_and_validate;
use crate::settings::{Output, Settings};

use super::json::{self, JsonCommand};

pub fn run(args: &ValidateArgs) -> Result<ExitCode, Error> {
    let settings = Settings::validate(args);
    if settings.output == Output::Json {
        return json::emit(JsonCommand::Validate, |doc| {
            json::validate(doc, &load_and_validate(&settings.paths, settings.read)?)
        });
    }
    let requests = load_and_validate(&settings.paths, settings.read)?;
    crate::progress::out(format_args!("{} valid", crate::text::plural(requests.len(), "request")))?;
    Ok(ExitCode::Success)
}
