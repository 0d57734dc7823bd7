//! CSV manifests: a header row of `CreateCsr` parameter names, one request per record.
//! An empty cell means the field is absent. A UTF-8 byte-order mark is accepted.

use std::path::Path;
use std::sync::Arc;

use super::{Field, Origin, RawRequest, RawValue};
use crate::error::{ManifestError, Problem};

pub(super) fn parse(file: &Arc<Path>, text: &str) -> (Vec<RawRequest>, Vec<ManifestError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let file_error = |line, problem| ManifestError::file(file.clone(), line, problem);
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());

    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return (Vec::new(), vec![file_error(1, Problem::Syntax(e.to_string()))]);
        }
    };
    let mut columns = Vec::with_capacity(header.len());
    let mut errors = Vec::new();
    for name in header.iter() {
        let name = name.trim();
        match Field::parse(name) {
            Ok(f) if columns.contains(&Some(f)) => {
                errors.push(ManifestError { field: Some(f), ..file_error(1, Problem::DuplicateField) });
            }
            Ok(f) => columns.push(Some(f)),
            Err(problem) => {
                errors.push(file_error(1, problem));
                columns.push(None);
            }
        }
    }
    if !errors.is_empty() {
        // With a bad header no record can be read reliably.
        return (Vec::new(), errors);
    }

    let mut requests = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let ordinal = i + 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                errors.push(file_error(line, Problem::Syntax(e.to_string())));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        let fields: Vec<(Field, RawValue)> = columns
            .iter()
            .zip(record.iter())
            .filter_map(|(field, cell)| {
                let field = (*field)?;
                (!cell.trim().is_empty()).then(|| (field, RawValue::Text(cell.to_owned())))
            })
            .collect();
        if fields.is_empty() {
            continue; // a blank record (",,,,") is not a request
        }
        let origin = Origin { file: file.clone(), line };
        requests.push(RawRequest { origin, ordinal, fields });
    }
    if requests.is_empty() && errors.is_empty() {
        errors.push(file_error(0, Problem::NoRequests));
    }
    (requests, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Vec<RawRequest>, Vec<ManifestError>) {
        parse(&Arc::from(Path::new("m.csv")), text)
    }

    #[test]
    fn records_with_lines_bom_and_empty_cells() {
        let (reqs, errs) = run(
            "\u{feff}Algorithm,KeySize,CommonName,Sans\nRSA,2048,a.example,\"x.example,y.example\"\nECC,,b.example,\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(reqs.len(), 2);
        assert_eq!((reqs[0].origin.line, reqs[1].origin.line), (2, 3));
        assert_eq!(reqs[0].get(Field::Algorithm), Some(&RawValue::Text("RSA".into())));
        assert_eq!(reqs[0].get(Field::Sans), Some(&RawValue::Text("x.example,y.example".into())));
        assert_eq!(reqs[1].get(Field::KeySize), None);
    }

    #[test]
    fn unknown_and_duplicate_columns() {
        let (_, errs) = run("Algoritm,CommonName,CommonName\nRSA,a,b\n");
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].to_string(), "m.csv:1: unknown field `Algoritm`; did you mean `Algorithm`?");
        assert_eq!(errs[1].to_string(), "m.csv:1: CommonName: given more than once");
    }

    #[test]
    fn ragged_record_is_an_error_with_its_line() {
        let (_, errs) = run("Algorithm,CommonName\nRSA,a.example\nRSA\n");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].origin.line, 3);
    }

    #[test]
    fn header_only_holds_no_request() {
        let (_, errs) = run("Algorithm,CommonName\n");
        assert_eq!(errs[0].problem, Problem::NoRequests);
    }
}
