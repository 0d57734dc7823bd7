//! CSV manifests: a header row of `CreateCsr` parameter names, one request per record.
//! An empty cell means the field is absent. A UTF-8 byte-order mark is accepted.

use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::Arc;

use super::{Field, Origin, RawRequest, RawValue};
use crate::error::{ManifestError, Problem};

/// The records of one CSV manifest, read one at a time (a million-line manifest is never
/// held in memory), each as a request or an error.
pub(super) struct CsvStream<R: Read> {
    file: Arc<Path>,
    columns: Vec<Option<Field>>,
    records: Option<csv::StringRecordsIntoIter<R>>,
    pending: std::vec::IntoIter<ManifestError>,
    ordinal: usize,
    yielded: bool,
}

/// Skips a UTF-8 byte-order mark, as Excel writes one.
pub(super) fn skip_bom<R: BufRead>(mut reader: R) -> std::io::Result<R> {
    if reader.fill_buf()?.starts_with(b"\xef\xbb\xbf") {
        reader.consume(3);
    }
    Ok(reader)
}

impl<R: Read> CsvStream<R> {
    pub(super) fn new(file: Arc<Path>, reader: R) -> CsvStream<R> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(reader);
        let mut stream = CsvStream {
            file,
            columns: Vec::new(),
            records: None,
            pending: Vec::new().into_iter(),
            ordinal: 0,
            yielded: false,
        };
        let header = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => {
                stream.pending = vec![stream.error(e)].into_iter();
                return stream;
            }
        };
        let mut errors = Vec::new();
        for name in header.iter() {
            match Field::parse(name.trim()) {
                Ok(f) if stream.columns.contains(&Some(f)) => {
                    errors.push(ManifestError {
                        field: Some(f),
                        ..stream.file_error(1, Problem::DuplicateField)
                    });
                }
                Ok(f) => stream.columns.push(Some(f)),
                Err(problem) => {
                    errors.push(stream.file_error(1, problem));
                    stream.columns.push(None);
                }
            }
        }
        if errors.is_empty() {
            stream.records = Some(reader.into_records());
        } else {
            // With a bad header no record can be read reliably.
            stream.pending = errors.into_iter();
            stream.yielded = true;
        }
        stream
    }

    fn file_error(&self, line: usize, problem: Problem) -> ManifestError {
        ManifestError::file(self.file.clone(), line, problem)
    }

    fn error(&self, e: csv::Error) -> ManifestError {
        let line = e.position().map_or(0, |p| p.line() as usize);
        let problem = match e.kind() {
            csv::ErrorKind::Utf8 { err, .. } => Problem::NotUtf8 { offset: err.valid_up_to() },
            _ => Problem::Syntax(e.to_string()),
        };
        self.file_error(line, problem)
    }
}

impl<R: Read> Iterator for CsvStream<R> {
    type Item = Result<RawRequest, ManifestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending.next() {
            return Some(Err(e));
        }
        loop {
            let Some(record) = self.records.as_mut()?.next() else {
                self.records = None;
                if !self.yielded {
                    self.yielded = true;
                    return Some(Err(self.file_error(0, Problem::NoRequests)));
                }
                return None;
            };
            self.ordinal += 1;
            self.yielded = true;
            let record = match record {
                Ok(r) => r,
                Err(e) => return Some(Err(self.error(e))),
            };
            let line = record.position().map_or(0, |p| p.line() as usize);
            let fields: Vec<(Field, RawValue)> = self
                .columns
                .iter()
                .zip(record.iter())
                .filter_map(|(field, cell)| {
                    let field = (*field)?;
                    (!cell.trim().is_empty()).then(|| (field, RawValue::Text(cell.to_owned())))
                })
                .collect();
            if fields.is_empty() {
                self.ordinal -= 1;
                continue; // a blank record (",,,,") is not a request
            }
            let origin = Origin { file: self.file.clone(), line };
            return Some(Ok(RawRequest { origin, ordinal: self.ordinal, fields }));
        }
    }
}

#[cfg(test)]
pub(super) fn parse(file: &Arc<Path>, text: &str) -> (Vec<RawRequest>, Vec<ManifestError>) {
    let reader = skip_bom(text.as_bytes()).unwrap();
    let (mut requests, mut errors) = (Vec::new(), Vec::new());
    for item in CsvStream::new(file.clone(), reader) {
        match item {
            Ok(r) => requests.push(r),
            Err(e) => errors.push(e),
        }
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
    fn invalid_utf8_is_reported_with_its_line() {
        let file: Arc<Path> = Arc::from(Path::new("m.csv"));
        let reader = skip_bom(&b"Algorithm,CommonName\nECC,a.example\nECC,\xff\n"[..]).unwrap();
        let items: Vec<_> = CsvStream::new(file, reader).collect();
        assert!(items[0].is_ok());
        let err = items[1].as_ref().unwrap_err();
        assert_eq!((err.origin.line, err.to_string().contains("not valid UTF-8")), (3, true), "{err}");
    }

    #[test]
    fn header_only_holds_no_request() {
        let (_, errs) = run("Algorithm,CommonName\n");
        assert_eq!(errs[0].problem, Problem::NoRequests);
    }
}
