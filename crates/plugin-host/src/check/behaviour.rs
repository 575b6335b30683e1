//! The checks made through the safe traits, as the server uses a plugin: the descriptor, options,
//! reads over short and failing sources, and a write of every column kind read back.

use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};

use dataport_plugin_sdk::{
    ByteSource, Cell, Descriptor, Direction, ErrorKind, OptionKind, Options, Plugin, PluginError, Reader,
    RowBatch, Writer,
};

use super::{CheckResult, fail, pass, skip, values, verdict};
use crate::loading::LoadedPlugin;

/// The plugin, format and options every check uses.
pub(super) struct Target<'a> {
    pub plugin: &'a LoadedPlugin,
    pub format: String,
    pub options: Options,
}

impl Target<'_> {
    fn is_layout(&self) -> bool {
        !self.plugin.descriptor().modules.is_empty()
    }

    /// The options, with each module of a layout plugin in turn (once as given otherwise).
    fn per_module(&self) -> Vec<Options> {
        let modules = self.plugin.descriptor().modules;
        if modules.is_empty() {
            return vec![self.options.clone()];
        }
        modules
            .into_iter()
            .map(|m| {
                let kept = self
                    .options
                    .iter()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("module"));
                kept.collect::<Options>().with("module", m)
            })
            .collect()
    }

    /// Reads `source` whole with the target's options.
    fn read(
        &self,
        source: Box<dyn ByteSource>,
        max_rows: usize,
    ) -> Result<(Vec<String>, RowBatch), PluginError> {
        self.read_counted(source, max_rows)
            .map(|(header, rows, _)| (header, rows))
    }

    /// [`read`](Target::read), and what the reader's `rows_total` said: asked after the header
    /// and after each batch until it answers, as the server asks.
    fn read_counted(
        &self,
        source: Box<dyn ByteSource>,
        max_rows: usize,
    ) -> Result<(Vec<String>, RowBatch, Option<u64>), PluginError> {
        let mut reader = self.plugin.open_reader(&self.format, &self.options, source)?;
        let header = reader.header()?;
        let mut rows_total = reader.rows_total();
        let mut all = RowBatch::new();
        // Bounded: a reader that never ends fails the check instead of hanging it.
        for _ in 0..1_000_000 {
            match reader.next_batch(max_rows)? {
                Some(mut batch) => all.append(&mut batch),
                None => return Ok((header, all, rows_total)),
            }
            if rows_total.is_none() {
                rows_total = reader.rows_total();
            }
        }
        Err(PluginError::internal("no end of data after a million batches"))
    }
}

/// The descriptor's options are well formed: unique names, each applying somewhere, defaults
/// and choices of their own type.
pub(super) fn descriptor(d: &Descriptor) -> CheckResult {
    let mut problems = Vec::new();
    for (i, o) in d.options.iter().enumerate() {
        if d.options[..i]
            .iter()
            .any(|p| p.name == o.name && (p.reading && o.reading || p.writing && o.writing))
        {
            problems.push(format!("option `{}` is declared twice for one direction", o.name));
        }
        if !o.reading && !o.writing {
            problems.push(format!(
                "option `{}` applies neither to reading nor to writing",
                o.name
            ));
        }
        if o.reading && !d.capabilities.read || o.writing && !d.capabilities.write {
            problems.push(format!(
                "option `{}` applies to a direction the plugin does not serve",
                o.name
            ));
        }
        if !o.default.is_empty()
            && let Err(e) = o.check_value(&o.default)
        {
            problems.push(format!("its default: {e}"));
        }
        let mut typed = o.clone();
        typed.choices.clear();
        for choice in &o.choices {
            if typed.check_value(choice).is_err() {
                problems.push(format!(
                    "option `{}` has choice `{choice}` that is no {}",
                    o.name,
                    o.kind.as_str()
                ));
            }
        }
        if o.help.trim().is_empty() {
            problems.push(format!("option `{}` has no help", o.name));
        }
    }
    let caps = &d.capabilities;
    let can: Vec<&str> = [
        (caps.read, "reads"),
        (caps.write, "writes"),
        (caps.needs_seek, "seeks"),
        (caps.sheets, "sheets"),
    ]
    .into_iter()
    .filter_map(|(on, word)| on.then_some(word))
    .collect();
    let declared = if caps.declares_options {
        format!("{} declared options", d.options.len())
    } else {
        "options not declared (the host cannot check them before a job)".to_owned()
    };
    verdict(
        "descriptor",
        problems,
        format!(
            "formats {}; extensions {}; {}; {declared}",
            d.formats.join(","),
            if d.extensions.is_empty() {
                "none".to_owned()
            } else {
                d.extensions.join(",")
            },
            can.join(", ")
        ),
    )
}

/// Unknown options are refused with INVALID_OPTION; declared defaults and choices are accepted;
/// values of the wrong type are refused.
pub(super) fn options(target: &Target<'_>) -> Vec<CheckResult> {
    let d = target.plugin.descriptor();
    let mut results = Vec::new();
    for (direction, serves) in [
        (Direction::Read, d.capabilities.read),
        (Direction::Write, d.capabilities.write),
    ] {
        if !serves {
            continue;
        }
        let name = match direction {
            Direction::Read => "reader options",
            Direction::Write => "writer options",
        };
        let open = |options: &Options| -> Result<(), PluginError> {
            match direction {
                Direction::Read => {
                    let mut reader = target.plugin.open_reader(
                        &target.format,
                        options,
                        Box::new(Cursor::new(Vec::new())),
                    )?;
                    // Lazy readers check options on their first read; an empty input is fine.
                    match reader.header() {
                        Err(e) if e.kind == ErrorKind::InvalidOption => Err(e),
                        _ => Ok(()),
                    }
                }
                Direction::Write => target
                    .plugin
                    .open_writer(&target.format, options, Box::new(io::sink()))
                    .map(drop),
            }
        };
        let mut problems = Vec::new();
        match open(&target.options.clone().with("plugin_check_no_such_option", "1")) {
            Err(e) if e.kind == ErrorKind::InvalidOption => {}
            Err(e) => problems.push(format!(
                "an unknown option failed with {:?}, not INVALID_OPTION: {}",
                e.kind, e.message
            )),
            Ok(()) => {
                problems.push("an unknown option was accepted (refuse it with INVALID_OPTION)".to_owned())
            }
        }
        let mut tried = 0;
        for o in d.options_for(direction).filter(|o| o.name != "module") {
            let mut values: Vec<&str> = o.choices.iter().map(String::as_str).collect();
            if !o.default.is_empty() {
                values.push(&o.default);
            }
            for value in values {
                tried += 1;
                // Some options apply to some modules only: a declared value must work with one.
                let mut refusal = None;
                for options in target.per_module() {
                    match open(&options.with(o.name.clone(), value)) {
                        Err(e) if e.kind == ErrorKind::InvalidOption => refusal = Some(e.message),
                        _ => {
                            refusal = None;
                            break;
                        }
                    }
                }
                if let Some(why) = refusal {
                    problems.push(format!("declared value `{}={value}` was refused: {why}", o.name));
                }
            }
            let wrong = match o.kind {
                OptionKind::Bool => Some("maybe"),
                OptionKind::Integer => Some("lots"),
                OptionKind::Char => Some("two chars"),
                OptionKind::Text => None,
            };
            if let Some(wrong) = wrong {
                tried += 1;
                match open(&target.options.clone().with(o.name.clone(), wrong)) {
                    Err(e) if e.kind == ErrorKind::InvalidOption => {}
                    _ => problems.push(format!(
                        "`{}={wrong}` (no {}) was not refused",
                        o.name,
                        o.kind.as_str()
                    )),
                }
            }
        }
        results.push(verdict(
            name,
            problems,
            format!("an unknown option is refused with INVALID_OPTION; {tried} declared and ill-typed values behave"),
        ));
    }
    results
}

/// The sample read whole, then over 1-byte reads and random short reads: the same result.
pub(super) fn reads(target: &Target<'_>, sample: &[u8]) -> Vec<CheckResult> {
    let (header, batch, rows_total) = match target.read_counted(Box::new(Cursor::new(sample.to_vec())), 1000)
    {
        Ok(read) => read,
        Err(e) => return vec![fail("read", format!("{:?}: {}", e.kind, e.message))],
    };
    let whole = (header, batch);
    let (header, batch) = &whole;
    let mut results = vec![pass(
        "read",
        format!(
            "{} columns, {} rows, {} row errors",
            header.len(),
            batch.rows.len(),
            batch.errors.len()
        ),
    )];
    let mut problems = Vec::new();
    for (what, reads) in [
        ("1-byte reads", ShortReads::one_byte(sample)),
        ("random short reads", ShortReads::random(sample)),
    ] {
        match target.read(Box::new(reads), 1000) {
            Ok(read) if read == whole => {}
            Ok(_) => problems.push(format!("{what} gave other rows than whole reads")),
            Err(e) => problems.push(format!("{what} failed: {}", e.message)),
        }
    }
    results.push(verdict(
        "short reads",
        problems,
        "1-byte and random short reads give the same header, rows and errors",
    ));
    let handed_out = (batch.rows.len() + batch.errors.len()) as u64;
    results.push(match rows_total {
        // Optional: a stream cannot count ahead, and progress then shows bytes.
        None => pass("rows total", "not counted ahead (reader_rows_total is optional)"),
        Some(n) if n == handed_out => pass("rows total", format!("{n} rows counted ahead, as many as read")),
        Some(n) => fail(
            "rows total",
            format!(
                "reader_rows_total said {n}, but the reader handed out {} rows and {} row errors: progress would be shown against a wrong count",
                batch.rows.len(),
                batch.errors.len()
            ),
        ),
    });
    results
}

/// A source that fails halfway (and one that fails at once) must fail the read, never look like a
/// clean end of file.
pub(super) fn source_failure(target: &Target<'_>, sample: &[u8]) -> CheckResult {
    let mut problems = Vec::new();
    for at in [0, sample.len() / 2] {
        let source = Failing {
            data: Cursor::new(sample.to_vec()),
            fail_at: at as u64,
        };
        match target.read(Box::new(source), 1000) {
            Err(e) if e.kind == ErrorKind::Io => {}
            Err(e) => problems.push(format!(
                "a source failing at byte {at} was reported as {:?}, not IO: {}",
                e.kind, e.message
            )),
            Ok((_, batch)) => problems.push(format!(
                "a source failing at byte {at} ended the read cleanly with {} rows",
                batch.rows.len()
            )),
        }
    }
    verdict(
        "source failure",
        problems,
        "a source failing at byte 0 and halfway fails the read with IO",
    )
}

/// Writes a header of every column kind and typed rows, then reads the file back with the same
/// plugin and compares value by value. Returns the file, to serve as the sample.
pub(super) fn round_trip(target: &Target<'_>) -> (Vec<CheckResult>, Option<Vec<u8>>) {
    let d = target.plugin.descriptor();
    if !d.capabilities.write {
        return (vec![skip("round trip", "the plugin does not write")], None);
    }
    if target.is_layout() {
        return (
            vec![skip(
                "round trip",
                "a layout plugin writes a module's fields, not arbitrary columns (not checked here)",
            )],
            None,
        );
    }
    let columns = values::columns();
    let rows = values::rows();
    let sink = SharedSink::default();
    let written = (|| -> Result<(), PluginError> {
        let mut writer =
            target
                .plugin
                .open_writer(&target.format, &target.options, Box::new(sink.clone()))?;
        writer.write_header(&columns)?;
        let mut batch = RowBatch::new();
        for row in &rows {
            batch.push_row(0, row.clone());
        }
        writer.write_rows(&batch)?;
        writer.finish()
    })();
    let file = sink.bytes();
    if let Err(e) = written {
        return (
            vec![fail(
                "round trip",
                format!("writing: {:?}: {}", e.kind, e.message),
            )],
            None,
        );
    }
    if !d.capabilities.read {
        return (
            vec![pass(
                "round trip",
                format!("wrote {} bytes (the plugin does not read them back)", file.len()),
            )],
            Some(file),
        );
    }
    let (header, batch) = match target.read(Box::new(Cursor::new(file.clone())), 1000) {
        Ok(read) => read,
        Err(e) => {
            return (
                vec![fail(
                    "round trip",
                    format!("reading back: {:?}: {}", e.kind, e.message),
                )],
                Some(file),
            );
        }
    };
    let mut problems = Vec::new();
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    if header != names {
        problems.push(format!("header {header:?} read back as {names:?} was written"));
    }
    if !batch.errors.is_empty() {
        problems.push(format!("row errors reading back: {:?}", batch.errors));
    }
    if batch.rows.len() != rows.len() {
        problems.push(format!(
            "{} rows written, {} read back",
            rows.len(),
            batch.rows.len()
        ));
    }
    for (i, (w, r)) in rows.iter().zip(&batch.rows).enumerate() {
        for (c, column) in columns.iter().enumerate() {
            let read = r.cells.get(c).unwrap_or(&Cell::Null);
            if !values::same(&w[c], read) {
                problems.push(format!(
                    "row {}, column {}: wrote {}, read back {}",
                    i + 1,
                    column.name,
                    values::show(&w[c]),
                    values::show(read)
                ));
            }
        }
    }
    let ok = format!(
        "{} rows of {} column kinds (text, integer, decimal2, date, datetime, bool, empty) read back equal",
        rows.len(),
        columns.len()
    );
    (vec![verdict("round trip", problems, ok)], Some(file))
}

/// A sink that fails after a few bytes must fail the write (write_rows or finish), not report
/// success.
pub(super) fn sink_failure(target: &Target<'_>) -> CheckResult {
    let d = target.plugin.descriptor();
    if !d.capabilities.write {
        return skip("sink failure", "the plugin does not write");
    }
    if target.is_layout() {
        return skip(
            "sink failure",
            "a layout plugin writes a module's fields, not arbitrary columns (not checked here)",
        );
    }
    let columns = values::columns();
    let result = (|| -> Result<(), PluginError> {
        let mut writer = target.plugin.open_writer(
            &target.format,
            &target.options,
            Box::new(FailingSink { left: 10 }),
        )?;
        writer.write_header(&columns)?;
        let mut batch = RowBatch::new();
        for _ in 0..2000 {
            batch.push_row(0, values::rows()[0].clone());
        }
        writer.write_rows(&batch)?;
        writer.finish()
    })();
    match result {
        Err(e) if e.kind == ErrorKind::Io => pass(
            "sink failure",
            "a sink failing after 10 bytes fails the write with IO",
        ),
        Err(e) => fail(
            "sink failure",
            format!(
                "a failing sink was reported as {:?}, not IO: {}",
                e.kind, e.message
            ),
        ),
        Ok(()) => fail(
            "sink failure",
            "a sink that failed after 10 bytes ended in success",
        ),
    }
}

/// A seekable in-memory source that hands out at most a few bytes per read.
struct ShortReads {
    data: Cursor<Vec<u8>>,
    /// `None`: one byte per read; else the xorshift state choosing 1..=7 bytes.
    rng: Option<u64>,
}

impl ShortReads {
    fn one_byte(sample: &[u8]) -> ShortReads {
        ShortReads {
            data: Cursor::new(sample.to_vec()),
            rng: None,
        }
    }

    fn random(sample: &[u8]) -> ShortReads {
        ShortReads {
            data: Cursor::new(sample.to_vec()),
            rng: Some(0x9E37_79B9_7F4A_7C15),
        }
    }
}

impl Read for ShortReads {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.rng {
            None => 1,
            Some(x) => {
                *x ^= *x << 13;
                *x ^= *x >> 7;
                *x ^= *x << 17;
                (*x % 7 + 1) as usize
            }
        };
        let n = n.min(buf.len());
        self.data.read(&mut buf[..n])
    }
}

impl Seek for ShortReads {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.data.seek(pos)
    }
}

impl ByteSource for ShortReads {
    fn can_seek(&self) -> bool {
        true
    }
}

/// A source that fails once `fail_at` bytes were read.
struct Failing {
    data: Cursor<Vec<u8>>,
    fail_at: u64,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.fail_at.saturating_sub(self.data.position());
        if left == 0 {
            return Err(io::Error::other("plugin-check: the source failed on purpose"));
        }
        let n = buf.len().min(left as usize);
        self.data.read(&mut buf[..n])
    }
}

impl Seek for Failing {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.data.seek(pos)
    }
}

impl ByteSource for Failing {
    fn can_seek(&self) -> bool {
        true
    }
}

/// Collects written bytes where the check can read them after the writer is gone.
#[derive(Clone, Default)]
struct SharedSink(Arc<Mutex<Vec<u8>>>);

impl SharedSink {
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

impl Write for SharedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that fails once `left` bytes were written.
struct FailingSink {
    left: usize,
}

impl Write for FailingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("plugin-check: the sink failed on purpose"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
