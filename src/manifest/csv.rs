//! CSV manifests as Excel writes them: a header row of `CreateCsr` parameter names, one
//! request per record; the delimiter (`,`, `;` or tab) is the one the header line uses;
//! an empty cell means the field is absent. Text comes through `text::TextReader` (BOM,
//! `--encoding`), which also gives each record its physical line.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::text::{ReadOptions, TextFault, TextReader};
use super::{Field, ManifestError, Origin, Problem, RawRequest, RawValue};

/// The records of one CSV manifest, read one at a time (a million-line manifest is never
/// held in memory), each as a request or an error.
pub(super) struct CsvStream<R: Read> {
    file: Arc<Path>,
    columns: Vec<Option<Field>>,
    reader: Option<csv::Reader<TextReader<R>>>,
    record: csv::StringRecord,
    pending: std::vec::IntoIter<ManifestError>,
    ordinal: usize,
    yielded: bool,
}

/// The delimiter the header line uses most: `,`, `;` or tab (quoted text not counted).
fn delimiter(header: &str) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for b in header.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|i| (counts[*i], 3 - i)).unwrap_or(0);
    [b',', b';', b'\t'][best]
}

impl<R: Read> CsvStream<R> {
    pub(super) fn new(file: Arc<Path>, reader: R, options: ReadOptions) -> CsvStream<R> {
        let mut stream = CsvStream {
            file,
            columns: Vec::new(),
            reader: None,
            record: csv::StringRecord::new(),
            pending: Vec::new().into_iter(),
            ordinal: 0,
            yielded: false,
        };
        let mut text = TextReader::new(reader, options, true);
        let delimiter = match text.first_line() {
            Ok(line) => delimiter(line),
            Err(fault) => {
                stream.pending = vec![stream.fault(fault)].into_iter();
                stream.yielded = true;
                return stream;
            }
        };
        let mut reader = csv::ReaderBuilder::new().has_headers(true).delimiter(delimiter).from_reader(text);
        let header = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => {
                let e = stream.error(&mut reader, e);
                stream.pending = vec![e].into_iter();
                stream.yielded = true;
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
            stream.reader = Some(reader);
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

    fn fault(&self, fault: TextFault) -> ManifestError {
        self.file_error(fault.line, fault.problem)
    }

    fn error(&self, reader: &mut csv::Reader<TextReader<R>>, e: csv::Error) -> ManifestError {
        if let csv::ErrorKind::Io(io) = e.kind()
            && let Some(fault) = io.get_ref().and_then(|inner| inner.downcast_ref::<TextFault>())
        {
            return self.fault(fault.clone());
        }
        let line = e.position().map_or(0, |p| reader.get_mut().line_at(p.byte()));
        self.file_error(line, Problem::Syntax(e.to_string()))
    }
}

impl<R: Read> Iterator for CsvStream<R> {
    type Item = Result<RawRequest, ManifestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending.next() {
            return Some(Err(e));
        }
        loop {
            let mut reader = self.reader.take()?;
            match reader.read_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => {
                    if !self.yielded {
                        self.yielded = true;
                        return Some(Err(self.file_error(0, Problem::NoRequests)));
                    }
                    return None;
                }
                Err(e) => {
                    // After a bad record the rest cannot be trusted: the file ends here.
                    self.yielded = true;
                    return Some(Err(self.error(&mut reader, e)));
                }
            }
            let line = self.record.position().map_or(0, |p| reader.get_mut().line_at(p.byte()));
            self.reader = Some(reader);
            self.ordinal += 1;
            self.yielded = true;
            let fields: Vec<(Field, RawValue)> = self
                .columns
                .iter()
                .zip(self.record.iter())
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
            return Some(Ok(RawRequest { origin, ordinal: self.ordinal, fields, field_lines: Vec::new() }));
        }
    }
}

#[cfg(test)]
pub(super) fn parse(file: &Arc<Path>, text: &str) -> (Vec<RawRequest>, Vec<ManifestError>) {
    let (mut requests, mut errors) = (Vec::new(), Vec::new());
    for item in CsvStream::new(file.clone(), text.as_bytes(), ReadOptions::default()) {
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
        let bytes = &b"Algorithm,CommonName\nECC,a.example\nECC,\xff\n"[..];
        let items: Vec<_> = CsvStream::new(file, bytes, ReadOptions::default()).collect();
        assert!(items[0].is_ok());
        let err = items[1].as_ref().unwrap_err();
        assert_eq!((err.origin.line, err.to_string().contains("not valid UTF-8")), (3, true), "{err}");
    }

    #[test]
    fn delimiter_is_the_header_lines() {
        assert_eq!(delimiter("Algorithm,CommonName"), b',');
        assert_eq!(delimiter("Algorithm;CommonName;Province"), b';');
        assert_eq!(delimiter("Algorithm\tCommonName"), b'\t');
        assert_eq!(delimiter("\"A,B\";CommonName"), b';', "quoted commas do not count");
        assert_eq!(delimiter("Algorithm"), b',');
        let (reqs, errs) = run("Algorithm;CommonName\r\nECC;a.example\r\n\r\nSM2;b.example\r\n");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!((reqs[0].origin.line, reqs[1].origin.line), (2, 4));
        let (reqs, _) = run("\nAlgorithm\n\nECC\n\n\nSM2\rRSA\n");
        let lines: Vec<usize> = reqs.iter().map(|r| r.origin.line).collect();
        assert_eq!(lines, [4, 7, 8], "blank lines, LF and a lone CR");
    }

    #[test]
    fn header_only_holds_no_request() {
        let (_, errs) = run("Algorithm,CommonName\n");
        assert_eq!(errs[0].problem, Problem::NoRequests);
    }
}
