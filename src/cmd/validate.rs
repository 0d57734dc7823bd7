//! `csrbatch validate`: load and validate only; print every error; write nothing.

use crate::cli::ValidateArgs;
use crate::error::{Error, ExitCode};
use crate::run::load_and_validate;
use crate::settings::Settings;

use super::export::{Exporter, exporter};
use super::json::JsonCommand;

/// Runs `csrbatch validate`: loads and checks the manifests, writes nothing.
pub fn run(args: &ValidateArgs) -> Result<ExitCode, Error> {
    let settings = Settings::validate(args);
    let mut export = exporter(JsonCommand::Validate, settings.output);
    let result = validate(&settings, export.as_mut());
    export.finish(result)
}

fn validate(settings: &Settings, export: &mut dyn Exporter) -> Result<ExitCode, Error> {
    let requests = load_and_validate(&settings.paths, settings.read)?;
    for request in requests.iter() {
        export.validated(&request?);
    }
    export.validation_done(requests.len())?;
    Ok(ExitCode::Success)
}
