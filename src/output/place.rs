//! Where a summary entry's request was read: [`ManifestPlace`], the typed `Manifest` of
//! summary.json, parsed once by serde from the one string `file:line` it has always been.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::manifest::Origin;

/// A request's manifest file (as the run was given it) and its 1-based line, as a summary
/// records it. Its serde form is one string, `file:line`, so summary.json is written as it
/// always was; the line is what follows the last colon, so a file name may hold colons.
///
/// Reading is strict: a `Manifest` that is not `file:line` (no colon, or no number after
/// the last one) is a deserialization error, which makes the whole summary unreadable and
/// says which value is at fault. csrbatch never wrote another form, so only a hand-edited
/// summary has one, and guessing a line for it would put its entry out of order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManifestPlace {
    pub(crate) file: String,
    pub(crate) line: u64,
}

impl ManifestPlace {
    pub(crate) fn new(file: impl Into<String>, line: u64) -> ManifestPlace {
        ManifestPlace { file: file.into(), line }
    }
}

impl From<&Origin> for ManifestPlace {
    fn from(origin: &Origin) -> ManifestPlace {
        ManifestPlace { file: origin.file.display().to_string(), line: origin.line as u64 }
    }
}

impl fmt::Display for ManifestPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A `Manifest` text that is not `file:line`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a manifest place: expected file:line (a line number after the last colon)")]
pub struct NotAPlace(String);

impl FromStr for ManifestPlace {
    type Err = NotAPlace;
    fn from_str(text: &str) -> Result<ManifestPlace, NotAPlace> {
        let mut file = text.to_owned();
        let line = split_line(&mut file).ok_or_else(|| NotAPlace(text.to_owned()))?;
        Ok(ManifestPlace { file, line })
    }
}

/// Takes `:line` off the end of `text`, leaving the file; `None` (and `text` as it was)
/// when it does not end so.
fn split_line(text: &mut String) -> Option<u64> {
    let colon = text.rfind(':')?;
    let digits = &text[colon + 1..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let line = digits.parse().ok()?;
    text.truncate(colon);
    Some(line)
}

impl Serialize for ManifestPlace {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ManifestPlace {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ManifestPlace, D::Error> {
        // The text's own buffer becomes the file: one allocation per entry, as a String was.
        let mut file = String::deserialize(deserializer)?;
        match split_line(&mut file) {
            Some(line) => Ok(ManifestPlace { file, line }),
            None => Err(serde::de::Error::custom(NotAPlace(file))),
        }
    }
}

/// A place equals its text form `file:line` (what summary.json holds).
impl PartialEq<str> for ManifestPlace {
    fn eq(&self, other: &str) -> bool {
        other.strip_prefix(self.file.as_str()).and_then(|rest| rest.strip_prefix(':'))
            == Some(self.line.to_string().as_str())
    }
}

impl PartialEq<&str> for ManifestPlace {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialEq<String> for ManifestPlace {
    fn eq(&self, other: &String) -> bool {
        *self == *other.as_str()
    }
}

impl PartialEq<ManifestPlace> for String {
    fn eq(&self, other: &ManifestPlace) -> bool {
        *other == *self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_form_is_the_file_line_string() {
        let place = ManifestPlace::new("manifests/web.yaml", 12);
        let json = serde_json::to_string(&place).unwrap();
        assert_eq!(json, r#""manifests/web.yaml:12""#);
        assert_eq!(serde_json::from_str::<ManifestPlace>(&json).unwrap(), place);
        assert_eq!(place.to_string(), "manifests/web.yaml:12");
        assert_eq!("manifests/web.yaml:12".parse::<ManifestPlace>().unwrap(), place);
        let text = json.trim_matches('"').to_owned();
        assert_eq!(place, "manifests/web.yaml:12");
        assert_eq!(place, text, "equal to its text, either way round");
        assert_eq!(text, place);
        assert!(place != "manifests/web.yaml:1" && place != "manifests/web.yaml:123");
    }

    #[test]
    fn the_line_is_after_the_last_colon() {
        let place: ManifestPlace = serde_json::from_str(r#""C:\\m\\a:b.csv:7""#).unwrap();
        assert_eq!(place, ManifestPlace::new(r"C:\m\a:b.csv", 7));
        assert_eq!(serde_json::to_string(&place).unwrap(), r#""C:\\m\\a:b.csv:7""#, "written back as read");
        let odd: ManifestPlace = serde_json::from_str(r#""m/ünï cödé.yaml:0""#).unwrap();
        assert_eq!((odd.file.as_str(), odd.line), ("m/ünï cödé.yaml", 0));
    }

    #[test]
    fn a_text_without_a_line_is_a_deserialization_error() {
        for bad in [r#""m.yaml""#, r#""m.yaml:""#, r#""m.yaml:x""#, r#""m.yaml:+3""#, r#""m.yaml:3 ""#, "12"]
        {
            let err = serde_json::from_str::<ManifestPlace>(bad).unwrap_err().to_string();
            assert!(err.contains("expected file:line") || err.contains("invalid type"), "{bad}: {err}");
        }
        let err = "m.yaml".parse::<ManifestPlace>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`m.yaml` is not a manifest place: expected file:line (a line number after the last colon)"
        );
        assert!("m.yaml:99999999999999999999999".parse::<ManifestPlace>().is_err(), "past u64");
    }

    #[test]
    fn from_an_origin_reads_as_the_origin_displays() {
        let origin = Origin { file: std::path::Path::new("m/a.csv").into(), line: 3 };
        assert_eq!(ManifestPlace::from(&origin).to_string(), origin.to_string());
    }
}
