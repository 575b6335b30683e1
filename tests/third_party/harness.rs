//! The cases of `tests/third_party/manifest.tsv` (written by `make.py`, which documents the
//! columns), shared by the csv and xlsx plugin tests through `#[path]`: each test runs the cases
//! of its format on the native plugin and on the loaded `.so`.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dataport_core::header::map_header;
use dataport_core::{Locale, Module};
use dataport_plugin_sdk::{ByteSource, Cell, ErrorKind, Options, Plugin, read_all};

/// What a file must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Read without a file-level error: this many data rows and row errors.
    Rows { rows: usize, errors: usize },
    /// Read, but the core refuses its header (for the customers module).
    Header,
    /// A file-level error of this kind, within a second.
    Error(ErrorKind),
}

#[derive(Debug, Clone)]
pub struct Case {
    pub file: String,
    pub options: Vec<(String, String)>,
    pub outcome: Outcome,
    pub fragments: Vec<String>,
}

impl Case {
    /// The case as a line of a failure report.
    pub fn name(&self) -> String {
        if self.options.is_empty() {
            self.file.clone()
        } else {
            let options: Vec<String> = self.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} -O {}", self.file, options.join(","))
        }
    }

    /// The file's bytes (gunzipped for `.gz`).
    pub fn bytes(&self) -> Vec<u8> {
        let path = dir().join(&self.file);
        let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if !self.file.ends_with(".gz") {
            return raw;
        }
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        bytes
    }

    fn options(&self) -> Options {
        self.options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/third_party")
}

/// The manifest's cases for files of `format` (`csv`, `xlsx`).
pub fn cases(format: &str) -> Vec<Case> {
    let manifest =
        std::fs::read_to_string(dir().join("manifest.tsv")).expect("tests/third_party/manifest.tsv");
    let mut cases = Vec::new();
    for line in manifest.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let columns: Vec<&str> = line.split('\t').collect();
        let [file, options, outcome, count, fragments] = columns[..] else {
            panic!("manifest line without 5 columns: {line}");
        };
        if !file.starts_with(&format!("{format}/")) {
            continue;
        }
        let options = match options {
            "-" => Vec::new(),
            o => o
                .split(',')
                .map(|kv| {
                    let (k, v) = kv
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad option {kv} in {line}"));
                    (k.to_owned(), v.to_owned())
                })
                .collect(),
        };
        let outcome = match outcome {
            "rows" => {
                let (rows, errors) = count.split_once('+').unwrap_or((count, "0"));
                Outcome::Rows {
                    rows: rows.parse().expect(line),
                    errors: errors.parse().expect(line),
                }
            }
            "header" => Outcome::Header,
            "error:ENCODING" => Outcome::Error(ErrorKind::Encoding),
            "error:MALFORMED_FILE" => Outcome::Error(ErrorKind::MalformedFile),
            "error:INVALID_OPTION" => Outcome::Error(ErrorKind::InvalidOption),
            other => panic!("unknown outcome {other} in {line}"),
        };
        let fragments = match fragments {
            "-" => Vec::new(),
            f => f.split(" && ").map(str::to_owned).collect(),
        };
        cases.push(Case {
            file: file.to_owned(),
            options,
            outcome,
            fragments,
        });
    }
    assert!(!cases.is_empty(), "no {format} cases in the manifest");
    cases
}

/// Runs `case` on `plugin` over `source`; `Err` says what differs.
pub fn check(
    plugin: &dyn Plugin,
    format: &str,
    case: &Case,
    source: Box<dyn ByteSource>,
) -> Result<(), String> {
    let started = Instant::now();
    let result = plugin
        .open_reader(format, &case.options(), source)
        .and_then(|mut reader| read_all(&mut *reader, 1000));
    let elapsed = started.elapsed();
    match (&case.outcome, result) {
        (Outcome::Error(kind), Err(e)) => {
            if e.kind != *kind {
                return Err(format!("expected {kind:?}, got {:?}: {}", e.kind, e.message));
            }
            if elapsed >= Duration::from_secs(1) {
                return Err(format!("failed only after {elapsed:?}: {}", e.message));
            }
            if e.message.contains('\0') {
                return Err(format!("a NUL byte in the message: {:?}", e.message));
            }
            match case.fragments.iter().find(|f| !e.message.contains(f.as_str())) {
                Some(f) => Err(format!("message without `{f}`: {}", e.message)),
                None => Ok(()),
            }
        }
        (expected, Err(e)) => Err(format!("expected {expected:?}, got {:?}: {}", e.kind, e.message)),
        (Outcome::Error(kind), Ok((header, rows))) => Err(format!(
            "expected {kind:?}, read a header {header:?} and {} rows",
            rows.rows.len()
        )),
        (Outcome::Header, Ok((header, _))) => {
            let problem = map_header(Module::Customers, &header)
                .err()
                .ok_or_else(|| format!("the header maps: {header:?}"))?;
            let messages = [
                problem.message(Module::Customers, Locale::ZhCn),
                problem.message(Module::Customers, Locale::En),
            ];
            if messages.iter().any(|m| m.contains('\0')) {
                return Err(format!("a NUL byte in {messages:?}"));
            }
            match case
                .fragments
                .iter()
                .find(|f| !messages.iter().any(|m| m.contains(f.as_str())))
            {
                Some(f) => Err(format!("no `{f}` in {messages:?}")),
                None => Ok(()),
            }
        }
        (Outcome::Rows { rows, errors }, Ok((header, batch))) => {
            let messages: Vec<&str> = batch.errors.iter().map(|e| e.message.as_str()).collect();
            if batch.rows.len() != *rows || batch.errors.len() != *errors {
                return Err(format!(
                    "expected {rows} rows and {errors} row errors, read {} and {} {messages:?}",
                    batch.rows.len(),
                    batch.errors.len()
                ));
            }
            // Exact texts: a mis-decoded file has none of them.
            let found = |fragment: &str| {
                header.iter().any(|h| h == fragment)
                    || batch.rows.iter().any(|r| {
                        r.cells
                            .iter()
                            .any(|c| matches!(c, Cell::Text(t) if t == fragment))
                    })
            };
            match case.fragments.iter().find(|f| !found(f)) {
                Some(f) => Err(format!(
                    "no cell `{f}`; header {header:?}, first row {:?}",
                    batch.rows.first().map(|r| &r.cells)
                )),
                None => Ok(()),
            }
        }
    }
}
