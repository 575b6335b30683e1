//! The defences: everything checked about an uploaded xlsx before calamine is allowed to see it.
//!
//! An xlsx is a zip archive of XML parts. calamine trusts it: it decompresses whatever the
//! archive holds, reserves `uniqueCount` shared strings up front and does unchecked arithmetic
//! on cell references. So [`inspect`] walks the archive first, in bounded memory:
//!
//! 1. the file must start with a zip local header (an OLE2 file, i.e. a legacy `.xls` or a
//!    password-protected workbook, gets its own message) and open as a zip archive;
//! 2. at most `max_zip_entries` entries;
//! 3. every part calamine will read (package and workbook relationships, workbook, shared
//!    strings, styles, theme, and the chosen sheet) is *streamed* through its decompressor
//!    into a sink, counting the bytes actually produced: the sizes an archive declares can lie.
//!    Per part, in total, and against the compressed bytes consumed so far (the ratio is
//!    checked on every read, so a zip bomb stops after a few MB);
//! 4. while streaming, the small parts are parsed (which sheets exist and where), the shared
//!    strings' `uniqueCount` is compared with the part's real size, and the sheet is parsed
//!    fully: its `<dimension>` must be a plausible area for its size, and every cell, row and
//!    formula reference calamine will parse must lie within Excel's grid. Multi-cell array
//!    formulas are collected on the way: their other cells carry only cached values.
//!
//! Nothing here keeps decompressed data beyond one XML event.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use dataport_plugin_sdk::PluginError;
use flate2::read::DeflateDecoder;
use quick_xml::events::{BytesStart, Event};
use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use crate::cellref::{self, Area};
use crate::options::Limits;

const MIB: u64 = 1 << 20;
/// Slack for the ratio check: the first MiB of any part may expand freely.
const RATIO_SLACK: u64 = MIB;
/// How far into a sheet its `<sheetData>` must start (real prologues are a few KiB).
const MAX_SHEET_PROLOGUE: u64 = 64 * MIB;

/// What the pre-scan learnt, for the reader.
#[derive(Debug)]
pub(crate) struct Inspection {
    /// The chosen sheet's name, as calamine names it.
    pub sheet: String,
    /// Multi-cell array (and data table) formula ranges of that sheet.
    pub arrays: Vec<Area>,
}

/// Checks `source` as described in the module docs and chooses the sheet (`wanted`: a name, else
/// a 1-based index; the first sheet by default). Returns the source for calamine.
pub(crate) fn inspect<R: Read + Seek>(
    mut source: R,
    limits: &Limits,
    wanted: Option<&str>,
) -> Result<(Inspection, R), PluginError> {
    check_signature(&mut source)?;
    // The zip crate sizes its entry table by the count the archive declares (bounded by the
    // directory's size), so the count is checked before it parses the directory, and again after.
    if let Some(declared) = declared_entries(&mut source)? {
        check_entries(declared, limits)?;
    }
    let zip = ZipArchive::new(source).map_err(|e| match e {
        ZipError::Io(e) if e.kind() != io::ErrorKind::UnexpectedEof => PluginError::from(e),
        e => not_xlsx(e),
    })?;
    check_entries(zip.len() as u64, limits)?;
    // calamine finds parts case-insensitively, the last of equal names winning; so do we.
    let mut index = HashMap::with_capacity(zip.len());
    for i in 0..zip.len() {
        if let Some(Ok(name)) = zip.name_for_index(i) {
            index.insert(normalize(&name), i);
        }
    }
    let mut scanner = Scanner {
        zip,
        index,
        limits: *limits,
        total: 0,
    };

    // The parts calamine's `Xlsx::new` reads, in its order and with its path rules.
    let office_doc = scanner
        .scan("_rels/.rels", parse_relationships)?
        .and_then(|(rels, _)| {
            rels.into_iter()
                .rev()
                .find(|r| r.kind.ends_with("/relationships/officeDocument"))
        })
        .and_then(|r| {
            quick_xml::escape::unescape(&r.target)
                .ok()
                .map(|t| t.into_owned())
        });
    let (mut xl_path, mut workbook_name) = ("xl/".to_owned(), "workbook.xml".to_owned());
    if let Some(target) = office_doc {
        let (dir, name) = target.split_at(target.rfind('/').map_or(0, |i| i + 1));
        xl_path = dir.strip_prefix('/').unwrap_or(dir).to_owned();
        if !name.is_empty() {
            workbook_name = name.to_owned();
        }
    }

    let sst_path = format!("{xl_path}sharedStrings.xml");
    if let Some((sst, bytes)) = scanner.scan(&sst_path, parse_sst)? {
        check_sst(&sst_path, &sst, bytes)?;
    }
    scanner.scan(&format!("{xl_path}theme/theme1.xml"), |_| Ok(()))?;
    scanner.scan(&format!("{xl_path}styles.xml"), |_| Ok(()))?;
    let rels = scanner
        .scan(
            &format!("{xl_path}_rels/{workbook_name}.rels"),
            parse_relationships,
        )?
        .map(|(rels, _)| rels)
        .unwrap_or_default();
    let workbook_path = format!("{xl_path}{workbook_name}");
    let (sheets, _) = scanner
        .scan(&workbook_path, parse_workbook)?
        .ok_or_else(|| not_xlsx(format_args!("the archive has no workbook part `{workbook_path}`")))?;

    let chosen = choose_sheet(&sheets, wanted)?;
    let target = rels
        .iter()
        .rev()
        .find(|r| r.id == chosen.rel_id)
        .map(|r| r.target.as_str())
        .ok_or_else(|| {
            PluginError::malformed(format!(
                "sheet `{}` has no relationship `{}` in the workbook",
                chosen.name, chosen.rel_id
            ))
        })?;
    let sheet_path = match target.strip_prefix('/') {
        Some(absolute) => absolute.to_owned(),
        None => format!("{xl_path}{target}"),
    };
    let name = chosen.name.clone();
    let (facts, bytes) = scanner
        .scan(&sheet_path, |input| parse_sheet(input, &sheet_path, &name))?
        .ok_or_else(|| {
            PluginError::malformed(format!(
                "sheet `{name}` should be in `{sheet_path}`, which is not in the archive"
            ))
        })?;
    if let Some(area) = facts.dimension {
        // A sparse sheet declares more cells than it holds, but not orders of magnitude more
        // than its XML could: a cell takes ~16 bytes (`<c r="A1"><v>1</v></c>`), and up to 16
        // declared cells per byte are allowed. Our streaming reader never allocates the area;
        // the lie is refused because it is meant for readers that do.
        let plausible = bytes.saturating_mul(16).saturating_add(1_000_000);
        if area.cells() > plausible {
            return Err(PluginError::malformed(format!(
                "sheet `{name}` declares its size as {} cells (`{}`) but its XML is only {bytes} bytes; \
                 the file is inconsistent (no option relaxes this check)",
                area.cells(),
                area_name(&area)
            )));
        }
    }
    let source = scanner.zip.into_inner();
    Ok((
        Inspection {
            sheet: name,
            arrays: facts.arrays,
        },
        source,
    ))
}

fn check_entries(entries: u64, limits: &Limits) -> Result<(), PluginError> {
    if entries > limits.max_entries {
        return Err(PluginError::malformed(format!(
            "the xlsx archive has {entries} entries, more than the limit of {} (option `max_zip_entries` raises it)",
            limits.max_entries
        )));
    }
    Ok(())
}

/// The entry count the end of central directory record declares (the zip64 one when there is
/// one), read from the last 64 KiB; `None` if there is no such record (the zip crate then
/// reports the archive as broken).
fn declared_entries<R: Read + Seek>(source: &mut R) -> Result<Option<u64>, PluginError> {
    const EOCD: &[u8] = b"PK\x05\x06";
    const ZIP64_LOCATOR: &[u8] = b"PK\x06\x07";
    const ZIP64_EOCD: &[u8] = b"PK\x06\x06";
    let len = source.seek(SeekFrom::End(0))?;
    let tail_len = len.min(22 + 0xFFFF);
    let tail_start = len - tail_len;
    source.seek(SeekFrom::Start(tail_start))?;
    let mut tail = Vec::new();
    source.by_ref().take(tail_len).read_to_end(&mut tail)?;
    source.seek(SeekFrom::Start(0))?;
    let u16_at = |b: &[u8], i: usize| {
        b.get(i..i + 2)
            .map(|s| u64::from(u16::from_le_bytes([s[0], s[1]])))
    };
    // The record nearest the end whose comment fits in the file.
    let Some(eocd) = (0..tail.len().saturating_sub(21)).rev().find(|&i| {
        tail[i..].starts_with(EOCD) && u16_at(&tail, i + 20).is_some_and(|c| i as u64 + 22 + c <= tail_len)
    }) else {
        return Ok(None);
    };
    let mut declared = u16_at(&tail, eocd + 10)
        .unwrap_or(0)
        .max(u16_at(&tail, eocd + 8).unwrap_or(0));
    // A zip64 locator right before it points at the zip64 record, whose counts are 64-bit.
    if let Some(locator) = eocd
        .checked_sub(20)
        .filter(|&l| tail[l..].starts_with(ZIP64_LOCATOR))
    {
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&tail[locator + 8..locator + 16]);
        let offset = u64::from_le_bytes(offset);
        if offset < len {
            let mut record = Vec::with_capacity(56);
            source.seek(SeekFrom::Start(offset))?;
            source.by_ref().take(56).read_to_end(&mut record)?;
            source.seek(SeekFrom::Start(0))?;
            if record.len() == 56 && record.starts_with(ZIP64_EOCD) {
                let count = |at: usize| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&record[at..at + 8]);
                    u64::from_le_bytes(b)
                };
                declared = declared.max(count(24)).max(count(32));
            }
        }
    }
    Ok(Some(declared))
}

fn not_xlsx(e: impl std::fmt::Display) -> PluginError {
    PluginError::malformed(format!("not an xlsx file (zip archive): {e}"))
}

fn check_signature<R: Read + Seek>(source: &mut R) -> Result<(), PluginError> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < magic.len() {
        match source.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    source.seek(SeekFrom::Start(0))?;
    match &magic[..n] {
        b"PK\x03\x04" => Ok(()),
        [0xD0, 0xCF, 0x11, 0xE0] => Err(not_xlsx(
            "this is an OLE2 compound file: a legacy .xls workbook or a password-protected xlsx; \
             save it in Excel as an unprotected .xlsx workbook",
        )),
        [] => Err(not_xlsx("the file is empty")),
        _ => Err(not_xlsx("it does not start with a zip header")),
    }
}

/// How calamine keys archive paths.
fn normalize(path: &str) -> String {
    path.replace('\\', "/").to_ascii_lowercase()
}

fn area_name(area: &Area) -> String {
    format!(
        "{}:{}",
        cellref::cell_name(area.start.0, area.start.1),
        cellref::cell_name(area.end.0, area.end.1)
    )
}

struct Scanner<R> {
    zip: ZipArchive<R>,
    index: HashMap<String, usize>,
    limits: Limits,
    /// Decompressed bytes of every part scanned so far.
    total: u64,
}

impl<R: Read + Seek> Scanner<R> {
    /// Streams the part at `path` through its decompressor and the budgets, giving the
    /// decompressed bytes to `parse` first and draining whatever it leaves. Returns what `parse`
    /// returned and the part's real size, or `None` if the archive has no such part.
    fn scan<T>(
        &mut self,
        path: &str,
        parse: impl FnOnce(&mut dyn BufRead) -> Result<T, PluginError>,
    ) -> Result<Option<(T, u64)>, PluginError> {
        let Some(&i) = self.index.get(&normalize(path)) else {
            return Ok(None);
        };
        let corrupt = |e: &dyn std::fmt::Display| PluginError::malformed(format!("`{path}` is corrupt: {e}"));
        let file = self.zip.by_index_raw(i).map_err(|e| corrupt(&e))?;
        if file.encrypted() {
            return Err(PluginError::malformed(format!(
                "`{path}` is encrypted; save the workbook without a password"
            )));
        }
        let method = file.compression();
        let payload = match method {
            CompressionMethod::Stored => Payload::Stored(Counted {
                inner: file,
                count: 0,
            }),
            CompressionMethod::Deflated => Payload::Deflated(DeflateDecoder::new(Counted {
                inner: file,
                count: 0,
            })),
            other => {
                return Err(PluginError::malformed(format!(
                    "`{path}` uses compression method {other}, which xlsx files do not use"
                )));
            }
        };
        let mut tripped = None;
        let mut guarded = Guarded {
            payload,
            out: 0,
            total: &mut self.total,
            limits: &self.limits,
            path,
            tripped: &mut tripped,
        };
        let mut input = BufReader::with_capacity(64 * 1024, &mut guarded);
        let parsed = parse(&mut input);
        let drained = match parsed {
            Ok(_) => io::copy(&mut input, &mut io::sink()).map(drop),
            Err(_) => Ok(()),
        };
        drop(input);
        let size = guarded.out;
        drop(guarded);
        // A tripped limit explains whatever error it caused downstream.
        if let Some(limit) = tripped {
            return Err(limit);
        }
        let parsed = parsed?;
        drained.map_err(|e| corrupt(&e))?;
        Ok(Some((parsed, size)))
    }
}

/// Counts the compressed bytes a decompressor has consumed.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

enum Payload<R: Read> {
    Stored(Counted<R>),
    Deflated(DeflateDecoder<Counted<R>>),
}

impl<R: Read> Payload<R> {
    fn consumed(&self) -> u64 {
        match self {
            Payload::Stored(c) => c.count,
            Payload::Deflated(d) => d.get_ref().count,
        }
    }
}

impl<R: Read> Read for Payload<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Payload::Stored(c) => c.read(buf),
            Payload::Deflated(d) => d.read(buf),
        }
    }
}

/// A part's decompressed bytes, checked against the limits on every read. A limit that trips
/// is stored in `tripped` and surfaces as an I/O error to whoever is reading.
struct Guarded<'a, R: Read> {
    payload: Payload<R>,
    out: u64,
    total: &'a mut u64,
    limits: &'a Limits,
    path: &'a str,
    tripped: &'a mut Option<PluginError>,
}

impl<R: Read> Guarded<'_, R> {
    fn check(&self) -> Result<(), PluginError> {
        let (path, limits) = (self.path, self.limits);
        if self.out > limits.max_entry_bytes {
            return Err(PluginError::malformed(format!(
                "`{path}` decompresses to more than {} MiB, the limit per part (option `max_entry_mib` raises it)",
                limits.max_entry_bytes / MIB
            )));
        }
        if *self.total > limits.max_total_bytes {
            return Err(PluginError::malformed(format!(
                "the workbook's parts decompress to more than {} MiB in total, the limit (option `max_total_mib` raises it)",
                limits.max_total_bytes / MIB
            )));
        }
        let consumed = self.payload.consumed();
        if self.out
            > consumed
                .saturating_mul(limits.max_ratio)
                .saturating_add(RATIO_SLACK)
        {
            return Err(PluginError::malformed(format!(
                "`{path}` expands more than {}-fold ({} bytes from {consumed} compressed bytes so far), \
                 the compression ratio limit: a zip bomb? (option `max_ratio` raises it)",
                limits.max_ratio, self.out
            )));
        }
        Ok(())
    }
}

impl<R: Read> Read for Guarded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tripped.is_some() {
            return Err(io::Error::other("xlsx limit exceeded"));
        }
        let n = self.payload.read(buf)?;
        self.out += n as u64;
        *self.total += n as u64;
        if let Err(e) = self.check() {
            *self.tripped = Some(e);
            return Err(io::Error::other("xlsx limit exceeded"));
        }
        Ok(n)
    }
}

// ---- the parts' XML ----

fn xml(input: &mut dyn BufRead) -> quick_xml::Reader<&mut dyn BufRead> {
    let mut reader = quick_xml::Reader::from_reader(input);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    reader
}

fn bad_xml(path: &str, e: impl std::fmt::Display) -> PluginError {
    PluginError::malformed(format!("`{path}` is not valid XML: {e}"))
}

/// The raw value of attribute `name` (matched on its local name), if present.
fn attr(e: &BytesStart<'_>, name: &str, path: &str) -> Result<Option<String>, PluginError> {
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|err| bad_xml(path, err))?;
        if a.key.local_name().as_ref() == name {
            return Ok(Some(a.value.into_owned()));
        }
    }
    Ok(None)
}

struct Relationship {
    id: String,
    kind: String,
    /// Raw, as calamine uses it.
    target: String,
}

fn parse_relationships(input: &mut dyn BufRead) -> Result<Vec<Relationship>, PluginError> {
    const PATH: &str = "relationships";
    let mut reader = xml(input);
    let mut buf = Vec::new();
    let mut rels = Vec::new();
    loop {
        buf.clear();
        match reader.read_event_into(&mut buf).map_err(|e| bad_xml(PATH, e))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                if let Some(id) = attr(&e, "Id", PATH)? {
                    rels.push(Relationship {
                        id,
                        kind: attr(&e, "Type", PATH)?.unwrap_or_default(),
                        target: attr(&e, "Target", PATH)?.unwrap_or_default(),
                    });
                }
            }
            Event::Eof => return Ok(rels),
            _ => {}
        }
    }
}

#[derive(Debug)]
struct SheetEntry {
    name: String,
    rel_id: String,
}

fn parse_workbook(input: &mut dyn BufRead) -> Result<Vec<SheetEntry>, PluginError> {
    const PATH: &str = "workbook";
    let mut reader = xml(input);
    let mut buf = Vec::new();
    let mut sheets = Vec::new();
    loop {
        buf.clear();
        match reader.read_event_into(&mut buf).map_err(|e| bad_xml(PATH, e))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sheet" => {
                let raw = attr(&e, "name", PATH)?.unwrap_or_default();
                let name = quick_xml::escape::unescape(&raw)
                    .map_err(|err| bad_xml(PATH, err))?
                    .into_owned();
                let rel_id = attr(&e, "id", PATH)?.unwrap_or_default();
                sheets.push(SheetEntry { name, rel_id });
            }
            Event::End(e) if e.local_name().as_ref() == "sheets" => return Ok(sheets),
            Event::Eof => return Ok(sheets),
            _ => {}
        }
    }
}

fn choose_sheet<'s>(sheets: &'s [SheetEntry], wanted: Option<&str>) -> Result<&'s SheetEntry, PluginError> {
    let Some(wanted) = wanted else {
        return sheets
            .first()
            .ok_or_else(|| PluginError::malformed("the workbook has no sheets"));
    };
    if let Some(sheet) = sheets.iter().find(|s| s.name == wanted) {
        return Ok(sheet);
    }
    if let Ok(n) = wanted.trim().parse::<usize>()
        && let Some(sheet) = n.checked_sub(1).and_then(|i| sheets.get(i))
    {
        return Ok(sheet);
    }
    let names: Vec<String> = sheets.iter().map(|s| format!("`{}`", s.name)).collect();
    Err(PluginError::invalid_option(format!(
        "option `sheet`: the workbook has no sheet `{wanted}` (by name or 1-based number); its sheets are {}",
        names.join(", ")
    )))
}

struct SstHeader {
    unique_count: Option<String>,
    count: Option<String>,
}

fn parse_sst(input: &mut dyn BufRead) -> Result<SstHeader, PluginError> {
    const PATH: &str = "sharedStrings.xml";
    let mut reader = xml(input);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_event_into(&mut buf).map_err(|e| bad_xml(PATH, e))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sst" => {
                return Ok(SstHeader {
                    unique_count: attr(&e, "uniqueCount", PATH)?,
                    count: attr(&e, "count", PATH)?,
                });
            }
            Event::Eof => {
                return Ok(SstHeader {
                    unique_count: None,
                    count: None,
                });
            }
            _ => {}
        }
    }
}

/// calamine reserves `uniqueCount` strings before reading any: that number must be one the
/// part can actually hold (each `<si>` takes several bytes).
fn check_sst(path: &str, sst: &SstHeader, bytes: u64) -> Result<(), PluginError> {
    let number = |attr: &str, value: &str| {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PluginError::malformed(format!(
                "`{path}` has {attr}=\"{value}\", which is not a number"
            )));
        }
        Ok(value.parse::<u64>().unwrap_or(u64::MAX))
    };
    if let Some(count) = &sst.count {
        // Only validated: `count` counts uses, which may exceed the unique strings' size.
        number("count", count)?;
    }
    if let Some(unique) = &sst.unique_count {
        let unique = number("uniqueCount", unique)?;
        let possible = bytes / 4 + 16;
        if unique > possible {
            return Err(PluginError::malformed(format!(
                "`{path}` claims {unique} unique strings but is only {bytes} bytes long; \
                 the file is inconsistent (no option relaxes this check)"
            )));
        }
    }
    Ok(())
}

struct SheetFacts {
    dimension: Option<Area>,
    arrays: Vec<Area>,
}

fn parse_sheet(input: &mut dyn BufRead, path: &str, sheet: &str) -> Result<SheetFacts, PluginError> {
    let mut reader = xml(input);
    let mut buf = Vec::new();
    let mut facts = SheetFacts {
        dimension: None,
        arrays: Vec::new(),
    };
    // Inside `<sheetData>`; whether it has started at all.
    let (mut in_data, mut seen_data) = (false, false);
    let outside = |what: &str, value: &str| {
        PluginError::malformed(format!(
            "sheet `{sheet}` has {what} `{value}`, which is not a valid reference within Excel's {} rows × {} columns",
            cellref::MAX_ROWS,
            cellref::MAX_COLS
        ))
    };
    loop {
        buf.clear();
        let event = reader.read_event_into(&mut buf).map_err(|e| bad_xml(path, e))?;
        // `<sheetData/>` opens and closes at once.
        let is_start = matches!(event, Event::Start(_));
        match event {
            Event::Start(e) | Event::Empty(e) => match (in_data, e.local_name().as_ref()) {
                (false, "dimension") if !seen_data => {
                    if let Some(r) = attr(&e, "ref", path)? {
                        facts.dimension =
                            Some(cellref::parse_area(&r).ok_or_else(|| outside("the dimension", &r))?);
                    }
                }
                (false, "sheetData") => {
                    seen_data = true;
                    in_data = is_start;
                }
                (true, "row") => {
                    if let Some(r) = attr(&e, "r", path)? {
                        cellref::parse_row(&r).ok_or_else(|| outside("a row numbered", &r))?;
                    }
                }
                (true, "c") => {
                    if let Some(r) = attr(&e, "r", path)? {
                        cellref::parse_cell(&r).ok_or_else(|| outside("a cell at", &r))?;
                    }
                }
                (true, "f") => {
                    if let Some(r) = attr(&e, "ref", path)? {
                        let area = cellref::parse_area(&r).ok_or_else(|| outside("a formula over", &r))?;
                        let kind = attr(&e, "t", path)?;
                        if matches!(kind.as_deref(), Some("array" | "dataTable")) && area.cells() > 1 {
                            facts.arrays.push(area);
                        }
                    }
                }
                _ => {}
            },
            Event::End(e) if e.local_name().as_ref() == "sheetData" => in_data = false,
            Event::Eof => return Ok(facts),
            _ => {}
        }
        if !seen_data && reader.buffer_position() > MAX_SHEET_PROLOGUE {
            return Err(PluginError::malformed(format!(
                "sheet `{sheet}` has no cell data in its first {} MiB; it is not a worksheet calamine can stream",
                MAX_SHEET_PROLOGUE / MIB
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheets_are_chosen_by_name_then_number() {
        let sheets: Vec<SheetEntry> = ["客户", "2", "Notes"]
            .iter()
            .enumerate()
            .map(|(i, n)| SheetEntry {
                name: (*n).to_owned(),
                rel_id: format!("rId{i}"),
            })
            .collect();
        assert_eq!(choose_sheet(&sheets, None).unwrap().name, "客户");
        assert_eq!(choose_sheet(&sheets, Some("Notes")).unwrap().name, "Notes");
        assert_eq!(choose_sheet(&sheets, Some("2")).unwrap().name, "2");
        assert_eq!(choose_sheet(&sheets, Some("3")).unwrap().name, "Notes");
        let err = choose_sheet(&sheets, Some("0")).unwrap_err();
        assert_eq!(err.kind, dataport_plugin_sdk::ErrorKind::InvalidOption);
        assert!(err.message.contains("`客户`, `2`, `Notes`"), "{}", err.message);
        assert!(choose_sheet(&sheets, Some("notes")).is_err());
        assert!(choose_sheet(&[], None).is_err());
    }

    #[test]
    fn declared_entry_counts_including_zip64() {
        // A zip64 end record (56 bytes), its locator and the classic end record saying 0xFFFF.
        let mut file = Vec::new();
        file.extend_from_slice(b"PK\x06\x06");
        file.extend_from_slice(&[0; 20]);
        file.extend_from_slice(&70_000u64.to_le_bytes()); // entries on this disk
        file.extend_from_slice(&70_000u64.to_le_bytes()); // entries
        file.extend_from_slice(&[0; 16]);
        file.extend_from_slice(b"PK\x06\x07");
        file.extend_from_slice(&[0; 4]);
        file.extend_from_slice(&0u64.to_le_bytes()); // the zip64 record's offset
        file.extend_from_slice(&[0; 4]);
        file.extend_from_slice(b"PK\x05\x06");
        file.extend_from_slice(&[0; 4]);
        file.extend_from_slice(&[0xFF; 4]);
        file.extend_from_slice(&[0; 10]);
        let mut source = std::io::Cursor::new(file);
        assert_eq!(declared_entries(&mut source).unwrap(), Some(70_000));
        assert_eq!(source.position(), 0);
        let err = check_entries(70_000, &Limits::default()).unwrap_err();
        assert!(err.message.contains("`max_zip_entries`"), "{}", err.message);
        assert_eq!(
            declared_entries(&mut std::io::Cursor::new(b"PK\x03\x04 no end")).unwrap(),
            None
        );
    }

    #[test]
    fn shared_string_counts_must_fit_the_part() {
        let sst = |u: &str| SstHeader {
            unique_count: Some(u.to_owned()),
            count: Some("5".to_owned()),
        };
        assert!(check_sst("sst", &sst("100"), 400).is_ok());
        assert!(check_sst("sst", &sst("116"), 400).is_ok());
        assert!(check_sst("sst", &sst("117"), 400).is_err());
        assert!(check_sst("sst", &sst("1000000000000"), 1000).is_err());
        assert!(check_sst("sst", &sst("99999999999999999999999"), 1000).is_err());
        assert!(check_sst("sst", &sst("+5"), 1000).is_err());
        assert!(check_sst("sst", &sst(" 5"), 1000).is_err());
    }
}
