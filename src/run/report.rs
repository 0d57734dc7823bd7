//! What a run did, as a typed value: counts per state, CSRs made per key type, and the
//! failed or damaged requests by name. `generate` prints it as its closing lines; it is
//! serde-serializable for programs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::ExitCode;
use crate::output::ManifestPlace;
use crate::output::summary::{Entry, State};
use crate::request::KeyAlgorithm;
use crate::words::plural;

/// How many failed or damaged requests a run names on stderr before it only counts them.
pub(crate) const LISTED_PROBLEMS: usize = 20;

/// A request that failed or is damaged, as the run reports it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FailedRequest {
    pub(crate) name: String,
    /// Where the request is in its manifest (`file:line` when serialized).
    pub(crate) manifest: ManifestPlace,
    pub(crate) state: State,
    pub(crate) reason: String,
}

/// How many CSRs of one key type a run made, as `--json` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Made {
    /// `RSA-2048`, `ECC-256`, `SM2-256`, ...
    #[serde(serialize_with = "as_text")]
    pub(crate) key: KeyAlgorithm,
    pub(crate) count: usize,
}

fn as_text<S: serde::Serializer>(key: &KeyAlgorithm, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(key)
}

fn made_as_list<S: serde::Serializer>(made: &BTreeMap<KeyAlgorithm, usize>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(made.iter().map(|(&key, &count)| Made { key, count }))
}

/// What a run did, for the closing line (and for programs: it is serde-serializable).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    pub(crate) total: usize,
    /// Requests done, per state (failed and damaged ones are counted apart).
    pub(crate) states: BTreeMap<State, usize>,
    /// CSRs made, per key type (in the order of [`KeyAlgorithm::ALL`]); serialized as a
    /// list of [`Made`].
    #[serde(serialize_with = "made_as_list")]
    pub(crate) made: BTreeMap<KeyAlgorithm, usize>,
    pub(crate) failed: usize,
    pub(crate) damaged: usize,
    /// The first [`LISTED_PROBLEMS`] failed or damaged requests, in manifest order.
    pub(crate) problems: Vec<FailedRequest>,
    pub(crate) orphans: usize,
    /// `true` when `--prune` moved the orphans into the archive.
    pub(crate) pruned: bool,
    /// `--reencrypt`: certified requests whose live key stays unencrypted until their
    /// renewal (no run of generate rewrites a live file).
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) live_keys_left: usize,
    pub(crate) seconds: f64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Report {
    /// Counts one more CSR made with a key of this type.
    pub(crate) fn made_one(&mut self, key: KeyAlgorithm) {
        *self.made.entry(key).or_default() += 1;
    }

    /// The CSRs made, one [`Made`] per key type.
    pub(crate) fn made_list(&self) -> Vec<Made> {
        self.made.iter().map(|(&key, &count)| Made { key, count }).collect()
    }

    /// Counts an entry of the summary, and names it if it failed or is damaged.
    pub(crate) fn count(&mut self, entry: &Entry) {
        let state = entry.state.unwrap_or(State::New);
        let Some(reason) = &entry.error else {
            *self.states.entry(state).or_default() += 1;
            return;
        };
        if state == State::Damaged {
            self.damaged += 1;
        } else {
            self.failed += 1;
        }
        if self.problems.len() < LISTED_PROBLEMS {
            self.problems.push(FailedRequest {
                name: entry.name.clone(),
                manifest: entry.manifest.clone(),
                state,
                reason: reason.clone(),
            });
        }
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        if self.failed + self.damaged == 0 { ExitCode::Success } else { ExitCode::Failed }
    }

    /// What a run prints at its end: each failed or damaged request (the first
    /// [`LISTED_PROBLEMS`]), then the closing line.
    pub(crate) fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .problems
            .iter()
            .map(|p| {
                let label = if p.state == State::Damaged { "damaged" } else { "FAILED" };
                format!("{label:<9} {}  ({}): {}", p.name, p.manifest, p.reason)
            })
            .collect();
        let all = self.failed + self.damaged;
        if all > self.problems.len() {
            lines.push(format!("... and {} more (see Error in summary.json)", all - self.problems.len()));
        }
        lines.push(self.closing_line());
        lines
    }

    /// `generated 12 CSRs (ECC-256: 5, SM2-256: 7) in 3.21 s, 3.7 CSRs/s; 2 unchanged; 12 new; 1 FAILED`
    pub(crate) fn closing_line(&self) -> String {
        let total: usize = self.made.values().sum();
        let parts: Vec<String> = self.made.iter().map(|(key, count)| format!("{key}: {count}")).collect();
        let rate = if self.seconds > 0.0 { total as f64 / self.seconds } else { 0.0 };
        let mut line = format!("generated {}", plural(total, "CSR"));
        if !parts.is_empty() {
            line.push_str(&format!(" ({})", parts.join(", ")));
        }
        line.push_str(&format!(" in {:.2} s, {rate:.1} CSRs/s", self.seconds));
        for (state, n) in self.states.iter().filter(|(_, n)| **n > 0) {
            line.push_str(&format!("; {n} {state}"));
        }
        if self.orphans > 0 {
            let what = if self.pruned { State::Pruned } else { State::Orphaned };
            line.push_str(&format!("; {} {what}", self.orphans));
        }
        if self.live_keys_left > 0 {
            line.push_str(&format!(
                "; {} of certified requests left unencrypted until renewed (generate never rewrites a live file)",
                plural(self.live_keys_left, "live key")
            ));
        }
        if self.damaged > 0 {
            line.push_str(&format!("; {} damaged", self.damaged));
        }
        if self.failed > 0 {
            line.push_str(&format!("; {} FAILED", self.failed));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_line_names_algorithms_time_rate_and_every_count() {
        let mut report = Report {
            states: BTreeMap::from([(State::Unchanged, 2), (State::New, 4)]),
            failed: 2,
            damaged: 1,
            seconds: 2.0,
            ..Report::default()
        };
        for key in [KeyAlgorithm::Sm2, KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa2048] {
            report.made_one(key);
        }
        assert_eq!(
            report.closing_line(),
            "generated 4 CSRs (RSA-2048: 3, SM2-256: 1) in 2.00 s, 2.0 CSRs/s; 2 unchanged; 4 new; 1 damaged; 2 FAILED"
        );
        let mut one = Report::default();
        one.made_one(KeyAlgorithm::Ecc);
        assert!(one.closing_line().starts_with("generated 1 CSR (ECC-256: 1) in"));
    }

    #[test]
    fn a_report_serializes_for_programs() {
        let mut report = Report { states: BTreeMap::from([(State::Unchanged, 2)]), ..Report::default() };
        report.made_one(KeyAlgorithm::Sm2);
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"States\":{\"unchanged\":2}"), "{json}");
        assert!(json.contains("\"Made\":[{\"Key\":\"SM2-256\",\"Count\":1}]"), "{json}");
    }

    #[test]
    fn problems_are_named_then_counted() {
        let problem = |i: usize| FailedRequest {
            name: format!("n{i}"),
            manifest: ManifestPlace::new("m.csv", i as u64 + 2),
            state: State::New,
            reason: "boom".into(),
        };
        let report =
            Report { failed: 25, problems: (0..LISTED_PROBLEMS).map(problem).collect(), ..Report::default() };
        let lines = report.lines();
        assert_eq!(lines[0], "FAILED    n0  (m.csv:2): boom");
        assert_eq!(lines[LISTED_PROBLEMS], "... and 5 more (see Error in summary.json)");
        assert_eq!(lines.len(), LISTED_PROBLEMS + 2);
    }
}
