//! The defences: everything checked about an uploaded xlsx, as its parts are read.
//!
//! An xlsx is a zip archive of XML parts, and an upload may be hostile: a zip bomb, an entity
//! bomb, endless text, lying sizes, references outside the grid. So [`inspect`] walks the
//! archive in bounded memory, and [`SheetCheck::run`] reads the sheet under the same budgets:
//!
//! 1. the file must start with a zip local header (an OLE2 file, i.e. a legacy `.xls` or a
//!    password-protected workbook, gets its own message) and open as a zip archive whose central
//!    directory can be read;
//! 2. at most `max_zip_entries` entries, and no two whose names differ only in case (parts are
//!    found case-insensitively, so one of the two would be read silently);
//! 3. every part read (package and workbook relationships, workbook, shared
//!    strings, styles, theme, and the chosen sheet) is *streamed*, once, through its
//!    decompressor into the XML parser, counting the bytes actually produced. The budgets are
//!    checked first against the sizes the archive declares (a part that declares itself a bomb
//!    is refused before a byte is inflated), then on every read against the real bytes: a part
//!    is never read past its declared size (the sizes an archive declares can lie; one whose
//!    real size differs is refused). Budgets:
//!    decompressed bytes per part and in total; the compression ratio only once the parts read
//!    have expanded past [`RATIO_FLOOR`] (long repeated strings compress very well, so a ratio
//!    alone is no bomb); and no single XML item (a text, a tag, a comment) longer than
//!    [`MAX_XML_ITEM`], which keeps the parser's buffer bounded (an inline-string bomb is one
//!    endless text; if it is also compressed more than `max_ratio`-fold it is reported as a
//!    bomb);
//! 4. every part is parsed to its end: it must be well-formed as far as the parser checks, end
//!    with its root element closed (truncated XML), declare no DOCTYPE (entity bombs) and use no
//!    undefined entity. On the way the small parts are read (which sheets exist and where), the
//!    shared strings' `uniqueCount` is compared with the part's real size, and every cell, row,
//!    dimension and formula reference must lie within Excel's grid ([`crate::cellref`]). The
//!    sheet's `<dimension>` is only a hint (LibreOffice writes `A1:AH65536`, Gnumeric
//!    `A1:XFD1048576`): the streaming reader never allocates it.
//!
//! Nothing here keeps decompressed data beyond one XML item. Every refusal is a
//! `MALFORMED_FILE` in Chinese and English naming the part and what it is for ([`crate::messages`]).

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use dataport_plugin_sdk::PluginError;
use flate2::read::DeflateDecoder;
use quick_xml::events::Event;
use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use crate::count;
use crate::messages::{self, Part};
use crate::options::Limits;
use crate::rows::RawCell;
use crate::sheet::{self, Context};
use crate::strings::{self, SstHeader};
use crate::styles;
use crate::xml::{Input, Xml};

const MIB: u64 = 1 << 20;
/// The compression ratio counts only once the parts read have expanded past this many bytes.
pub(crate) const RATIO_FLOOR: u64 = 100 * MIB;
/// The longest XML item (text, tag, comment) the pre-scan buffers: no spreadsheet writes one
/// near it (a cell holds 32 767 characters).
pub(crate) const MAX_XML_ITEM: u64 = 32 * MIB;

/// What the pre-scan learnt, for the reader.
#[derive(Debug)]
pub(crate) struct Inspection {
    /// The chosen sheet's name, as the workbook names it.
    pub sheet: String,
    /// Its 1-based position in the workbook.
    pub sheet_number: usize,
    /// The names of all the workbook's sheets, in order.
    pub sheet_names: Vec<String>,
}

/// The chosen sheet, still to be read ([`SheetCheck::run`]), with what the other parts say
/// about its values.
pub(crate) struct SheetCheck<R> {
    scanner: Scanner<R>,
    part: Part,
    name: String,
    context: Context,
}

/// Which sheet to read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wanted<'a> {
    /// A name, else a 1-based index; the first sheet when `None`.
    Sheet(Option<&'a str>),
    /// The first of these names the workbook has, if any.
    AnyOf(&'a [String]),
}

/// Checks `source` as described in the module docs, all but the chosen sheet's XML, and chooses
/// the sheet. Returns the sheet, to be read on the reader's thread ([`SheetCheck::run`]);
/// `None` when the workbook has none of the sheets [`Wanted::AnyOf`] names.
pub(crate) fn inspect<R: Read + Seek>(
    mut source: R,
    limits: &Limits,
    wanted: Wanted<'_>,
) -> Result<Option<(Inspection, SheetCheck<R>)>, PluginError> {
    check_signature(&mut source)?;
    // The zip crate sizes its entry table by the count the archive declares (bounded by the
    // directory's size), so the count is checked before it parses the directory, and again after.
    if let Some(declared) = declared_entries(&mut source)? {
        check_entries(declared, limits)?;
    }
    let zip = ZipArchive::new(source).map_err(|e| match e {
        ZipError::Io(e) if e.kind() != io::ErrorKind::UnexpectedEof => PluginError::from(e),
        ZipError::UnsupportedArchive(_) => messages::unsupported_zip(),
        _ => messages::central_directory(),
    })?;
    check_entries(zip.len() as u64, limits)?;
    // Parts are found case-insensitively (as Excel and calamine do): two names that differ only
    // in case would leave one of them unread, whichever it is.
    let mut index: HashMap<String, (usize, String)> = HashMap::with_capacity(zip.len());
    for i in 0..zip.len() {
        let Some(Ok(name)) = zip.name_for_index(i) else {
            continue;
        };
        if name.ends_with('/') {
            continue; // a directory entry
        }
        let name = name.into_owned();
        if let Some((_, first)) = index.get(&normalize(&name)) {
            return Err(messages::case_duplicates(first, &name));
        }
        index.insert(normalize(&name), (i, name));
    }
    let mut scanner = Scanner {
        zip,
        index,
        limits: *limits,
        total: 0,
        consumed: 0,
    };

    // The parts a workbook reader needs, in the order and with the path rules of calamine's
    // `Xlsx::new` (what the files written by every tested writer follow).
    let package_rels = Part::relationships("_rels/.rels");
    let package = scanner.scan(&package_rels, parse_relationships)?;
    let office_doc = package
        .as_ref()
        .and_then(|(rels, _)| {
            rels.iter()
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

    let mut context = Context::default();
    let sst = Part::shared_strings(format!("{xl_path}sharedStrings.xml"));
    if let Some(((header, strings), bytes)) = scanner.scan(&sst, strings::parse_sst)? {
        check_sst(&sst.path, &header, bytes)?;
        context.strings = strings;
    }
    scanner.scan(&Part::theme(format!("{xl_path}theme/theme1.xml")), check_xml)?;
    if let Some((formats, _)) = scanner.scan(
        &Part::styles(format!("{xl_path}styles.xml")),
        styles::parse_styles,
    )? {
        context.formats = formats;
    }
    let workbook_rels = Part::relationships(format!("{xl_path}_rels/{workbook_name}.rels"));
    let rels = scanner.scan(&workbook_rels, parse_relationships)?;
    let workbook = Part::workbook(format!("{xl_path}{workbook_name}"));
    let ((sheets, is_1904), _) = scanner
        .scan(&workbook, parse_workbook)?
        .ok_or_else(|| messages::no_workbook(&workbook.path))?;
    context.is_1904 = is_1904;
    // A workbook cannot be read without them.
    if package.is_none() {
        return Err(messages::missing_part(&package_rels));
    }
    let Some((rels, _)) = rels else {
        return Err(messages::missing_part(&workbook_rels));
    };

    let (sheet_number, chosen) = match wanted {
        Wanted::Sheet(wanted) => choose_sheet(&sheets, wanted, &workbook)?,
        Wanted::AnyOf(names) => {
            let found = names
                .iter()
                .find_map(|name| sheets.iter().enumerate().find(|(_, s)| s.name == *name));
            match found {
                Some((i, sheet)) => (i + 1, sheet),
                None => return Ok(None),
            }
        }
    };
    let target = rels
        .iter()
        .rev()
        .find(|r| r.id == chosen.rel_id)
        .map(|r| r.target.as_str())
        .ok_or_else(|| messages::no_relationship(&chosen.name, &chosen.rel_id, &workbook_rels))?;
    let sheet_path = match target.strip_prefix('/') {
        Some(absolute) => absolute.to_owned(),
        None => format!("{xl_path}{target}"),
    };
    let name = chosen.name.clone();
    let sheet = Part::sheet(sheet_path, &name);
    if !scanner.index.contains_key(&normalize(&sheet.path)) {
        return Err(messages::missing_sheet_part(&name, &sheet.path, &workbook_rels));
    }
    Ok(Some((
        Inspection {
            sheet: name.clone(),
            sheet_number,
            sheet_names: sheets.into_iter().map(|s| s.name).collect(),
        },
        SheetCheck {
            scanner,
            part: sheet,
            name,
            context,
        },
    )))
}

fn check_entries(entries: u64, limits: &Limits) -> Result<(), PluginError> {
    if entries > limits.max_entries {
        return Err(messages::too_many_entries(entries, limits.max_entries));
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
        [0xD0, 0xCF, 0x11, 0xE0] => Err(messages::ole2()),
        [] => Err(messages::empty_file()),
        _ => Err(messages::no_zip_header()),
    }
}

/// How archive paths are keyed: `\` as `/`, case-insensitively.
fn normalize(path: &str) -> String {
    path.replace('\\', "/").to_ascii_lowercase()
}

struct Scanner<R> {
    zip: ZipArchive<R>,
    /// Normalised name → the entry's index and real name.
    index: HashMap<String, (usize, String)>,
    limits: Limits,
    /// Decompressed bytes of every part scanned so far.
    total: u64,
    /// Compressed bytes of the parts scanned before the current one.
    consumed: u64,
}

impl<R: Read + Seek> SheetCheck<R> {
    /// Reads the sheet in one pass through its checks ([`sheet::parse`]), handing its cells to
    /// `emit` a chunk of whole rows at a time. Returns the rows after the header that hold
    /// something (what progress is measured against).
    pub(crate) fn run(
        mut self,
        emit: &mut dyn FnMut(Vec<RawCell>) -> Result<(), PluginError>,
    ) -> Result<u64, PluginError> {
        let (name, context) = (self.name, self.context);
        let (rows, _) = self
            .scanner
            .scan(&self.part, |xml| sheet::parse(xml, &name, &context, emit))?
            .ok_or_else(|| messages::undecompressable(&self.part))?;
        Ok(rows)
    }
}

impl<R: Read + Seek + Clone> SheetCheck<R> {
    /// The sheet's row count on a reader of its own ([`crate::count`]): the archive again, and
    /// the sheet's entry, never inflated past its declared size or the entry budget.
    pub(crate) fn row_counter(&self) -> Option<RowCounter<R>> {
        let &(index, _) = self.scanner.index.get(&normalize(&self.part.path))?;
        Some(RowCounter {
            zip: self.scanner.zip.clone(),
            index,
            part: self.part.clone(),
            max_bytes: self.scanner.limits.max_entry_bytes,
        })
    }
}

/// See [`SheetCheck::row_counter`].
pub(crate) struct RowCounter<R> {
    zip: ZipArchive<R>,
    index: usize,
    part: Part,
    max_bytes: u64,
}

impl<R: Read + Seek> RowCounter<R> {
    /// The rows [`sheet::parse`] will count, or `None` if the scan cannot tell (the part is
    /// encrypted or compressed in a way the parse refuses, or its bytes cannot be read).
    pub(crate) fn run(mut self) -> Option<u64> {
        let (payload, declared, _) = open_part(&mut self.zip, self.index, &self.part).ok()?;
        let limit = declared.min(self.max_bytes);
        count::count_rows(BufReader::with_capacity(64 * 1024, payload.take(limit))).ok()?
    }
}

impl<R: Read + Seek> Scanner<R> {
    /// Checks `part` in one streaming pass and returns what `parse` returned and the part's
    /// real size, or `None` if the archive has no such part. Its bytes are decompressed into
    /// the XML parser `parse`, whatever it leaves being parsed too (for well-formedness), and
    /// every read counts them against the budgets and the ratio, while the one-item limit
    /// bounds the parser's buffer. The budgets are checked first from the sizes the archive
    /// declares ([`check_declared`]), and a part is never read past its declared size, so a
    /// bomb is refused before it is parsed at length. (A first pass that only inflated used to
    /// do that; it inflated every legitimate sheet twice, a third of an xlsx import's reader
    /// thread.)
    fn scan<T>(
        &mut self,
        part: &Part,
        parse: impl FnOnce(&mut Xml<'_, '_>) -> Result<T, PluginError>,
    ) -> Result<Option<(T, u64)>, PluginError> {
        let Some(&(i, _)) = self.index.get(&normalize(&part.path)) else {
            return Ok(None);
        };
        let (payload, declared, compressed) = open_part(&mut self.zip, i, part)?;
        check_declared(
            &self.limits,
            (self.total, self.consumed),
            part,
            declared,
            compressed,
        )?;
        let mark = Cell::new(0);
        let mut tripped = None;
        let mut guarded = Guarded {
            payload,
            out: 0,
            declared,
            part,
            total: &mut self.total,
            consumed_before: self.consumed,
            limits: &self.limits,
            mark: &mark,
            tripped: &mut tripped,
        };
        let mut input: Input<'_> = BufReader::with_capacity(64 * 1024, &mut guarded as &mut dyn Read);
        let mut xml = Xml::new(&mut input, &mark, part);
        let parsed = parse(&mut xml).and_then(|parsed| xml.finish().map(|()| parsed));
        drop(xml);
        // After a parse error the rest of the part is still decompressed against the budgets, so
        // that a bomb with broken XML is reported as the bomb (after a parse that reached the
        // end there is nothing left).
        let rest = io::copy(&mut input, &mut io::sink());
        drop(input);
        let (size, consumed) = (guarded.out, guarded.payload.consumed());
        drop(guarded);
        self.consumed += consumed;
        // A tripped limit explains whatever error it caused downstream.
        if let Some(limit) = tripped {
            return Err(limit);
        }
        let parsed = parsed?;
        rest.map_err(|_| messages::undecompressable(part))?;
        if size != declared {
            return Err(messages::size_mismatch(part, declared, size));
        }
        Ok(Some((parsed, size)))
    }
}

/// The ratio rule: `total` decompressed bytes (all parts so far) from `consumed` compressed ones
/// break it only past [`RATIO_FLOOR`].
fn exceeds_ratio(limits: &Limits, total: u64, consumed: u64) -> bool {
    total > RATIO_FLOOR && total > consumed.saturating_mul(limits.max_ratio)
}

/// The budgets and the ratio, first from the sizes the archive declares: a part that says
/// it is a bomb is refused before a byte is inflated, and one that lies is refused as soon
/// as it outgrows its declared size ([`Guarded`]).
fn check_declared(
    limits: &Limits,
    (total_before, consumed_before): (u64, u64),
    part: &Part,
    declared: u64,
    compressed: u64,
) -> Result<(), PluginError> {
    let total = total_before.saturating_add(declared);
    let consumed = consumed_before.saturating_add(compressed);
    if exceeds_ratio(limits, total, consumed) {
        return Err(messages::declared_ratio(
            &part.path,
            limits.max_ratio,
            total,
            consumed,
            RATIO_FLOOR / MIB,
        ));
    }
    if declared > limits.max_entry_bytes {
        return Err(messages::entry_budget(&part.path, limits.max_entry_bytes / MIB));
    }
    if total > limits.max_total_bytes {
        return Err(messages::total_budget(limits.max_total_bytes / MIB));
    }
    Ok(())
}

/// The decompressed bytes of entry `i`, and the sizes the archive declares for it
/// (decompressed, compressed).
fn open_part<'a, R: Read + Seek>(
    zip: &'a mut ZipArchive<R>,
    i: usize,
    part: &Part,
) -> Result<(Payload<zip::read::ZipFile<'a, R>>, u64, u64), PluginError> {
    let file = zip
        .by_index_raw(i)
        .map_err(|_| messages::undecompressable(part))?;
    if file.encrypted() {
        return Err(messages::encrypted(part));
    }
    let (declared, compressed) = (file.size(), file.compressed_size());
    let payload = match file.compression() {
        CompressionMethod::Stored => Payload::Stored(Counted {
            inner: file,
            count: 0,
        }),
        CompressionMethod::Deflated => Payload::Deflated(DeflateDecoder::new(Counted {
            inner: file,
            count: 0,
        })),
        other => return Err(messages::compression_method(part, other)),
    };
    Ok((payload, declared, compressed))
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
    /// Decompressed bytes of this part so far.
    out: u64,
    /// What the archive declares this part decompresses to: never more is read.
    declared: u64,
    part: &'a Part,
    /// Decompressed bytes of all the parts so far.
    total: &'a mut u64,
    /// Compressed bytes of the parts before this one.
    consumed_before: u64,
    limits: &'a Limits,
    /// Where the XML parser's last complete item ended, in this part's decompressed bytes.
    mark: &'a Cell<u64>,
    tripped: &'a mut Option<PluginError>,
}

impl<R: Read> Guarded<'_, R> {
    fn check(&self) -> Result<(), PluginError> {
        let (path, limits) = (self.part.path.as_str(), self.limits);
        if self.out > self.declared {
            return Err(messages::size_mismatch(self.part, self.declared, self.out));
        }
        if self.out > limits.max_entry_bytes {
            return Err(messages::entry_budget(path, limits.max_entry_bytes / MIB));
        }
        if *self.total > limits.max_total_bytes {
            return Err(messages::total_budget(limits.max_total_bytes / MIB));
        }
        let consumed = self.consumed_before + self.payload.consumed();
        if exceeds_ratio(limits, *self.total, consumed) {
            return Err(messages::ratio(
                path,
                limits.max_ratio,
                *self.total,
                consumed,
                RATIO_FLOOR / MIB,
            ));
        }
        self.check_item()
    }

    /// The parser buffers an item whole: one that no spreadsheet writes stops here, as a bomb
    /// when the part is compressed beyond the ratio.
    fn check_item(&self) -> Result<(), PluginError> {
        let (path, limits) = (self.part.path.as_str(), self.limits);
        if self.out.saturating_sub(self.mark.get()) > MAX_XML_ITEM {
            let own = self.payload.consumed();
            return Err(if self.out > own.saturating_mul(limits.max_ratio) {
                messages::item_bomb(path, MAX_XML_ITEM / MIB, limits.max_ratio, self.out, own)
            } else {
                messages::item_too_long(path, MAX_XML_ITEM / MIB)
            });
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

/// Only the checks every part gets.
fn check_xml(xml: &mut Xml<'_, '_>) -> Result<(), PluginError> {
    xml.finish()
}

struct Relationship {
    id: String,
    kind: String,
    /// Raw, as the relationships name it.
    target: String,
}

fn parse_relationships(xml: &mut Xml<'_, '_>) -> Result<Vec<Relationship>, PluginError> {
    let mut buf = Vec::new();
    let mut rels = Vec::new();
    loop {
        match xml.next(&mut buf)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                if let Some(id) = xml.attr_owned(&e, "Id")? {
                    rels.push(Relationship {
                        id,
                        kind: xml.attr_owned(&e, "Type")?.unwrap_or_default(),
                        target: xml.attr_owned(&e, "Target")?.unwrap_or_default(),
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

/// The sheets, and whether dates count from 1904 (`<workbookPr date1904="1">`).
fn parse_workbook(xml: &mut Xml<'_, '_>) -> Result<(Vec<SheetEntry>, bool), PluginError> {
    let mut buf = Vec::new();
    let mut sheets = Vec::new();
    let mut is_1904 = false;
    loop {
        match xml.next(&mut buf)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sheet" => {
                let raw = xml.attr_owned(&e, "name")?.unwrap_or_default();
                let name = quick_xml::escape::unescape(&raw)
                    .map_err(|_| xml.invalid())?
                    .into_owned();
                let rel_id = xml.attr_owned(&e, "id")?.unwrap_or_default();
                sheets.push(SheetEntry { name, rel_id });
            }
            // `<x15:workbookPr>` in `<extLst>` shares the local name, never with `date1904`.
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "workbookPr" => {
                if let Some(v) = xml.attr(&e, "date1904")? {
                    is_1904 = v == "1" || v == "true";
                }
            }
            Event::Eof => return Ok((sheets, is_1904)),
            _ => {}
        }
    }
}

/// The sheet `wanted` names (the first by default) and its 1-based number.
fn choose_sheet<'s>(
    sheets: &'s [SheetEntry],
    wanted: Option<&str>,
    workbook: &Part,
) -> Result<(usize, &'s SheetEntry), PluginError> {
    let Some(wanted) = wanted else {
        return sheets
            .first()
            .map(|s| (1, s))
            .ok_or_else(|| messages::no_sheets(workbook));
    };
    if let Some(i) = sheets.iter().position(|s| s.name == wanted) {
        return Ok((i + 1, &sheets[i]));
    }
    if let Ok(n) = wanted.trim().parse::<usize>()
        && let Some(sheet) = n.checked_sub(1).and_then(|i| sheets.get(i))
    {
        return Ok((n, sheet));
    }
    let names: Vec<String> = sheets.iter().map(|s| format!("`{}`", s.name)).collect();
    Err(PluginError::invalid_option(format!(
        "option `sheet`: the workbook has no sheet `{wanted}` (by name or 1-based number); its sheets are {}",
        names.join(", ")
    )))
}

/// `uniqueCount` (readers reserve that many strings up front, calamine among them) must be a
/// number the part can actually hold (each `<si>` takes several bytes).
fn check_sst(path: &str, sst: &SstHeader, bytes: u64) -> Result<(), PluginError> {
    let number = |attr: &str, value: &str| {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(messages::sst_not_a_number(path, attr, value));
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
            return Err(messages::sst_count(path, unique, bytes));
        }
    }
    Ok(())
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
        let wb = Part::workbook("xl/workbook.xml");
        let choose = |wanted| choose_sheet(&sheets, wanted, &wb).map(|(n, s)| (n, s.name.as_str()));
        assert_eq!(choose(None).unwrap(), (1, "客户"));
        assert_eq!(choose(Some("Notes")).unwrap(), (3, "Notes"));
        assert_eq!(choose(Some("2")).unwrap(), (2, "2"));
        assert_eq!(choose(Some("3")).unwrap(), (3, "Notes"));
        let err = choose(Some("0")).unwrap_err();
        assert_eq!(err.kind, dataport_plugin_sdk::ErrorKind::InvalidOption);
        assert!(err.message.contains("`客户`, `2`, `Notes`"), "{}", err.message);
        assert!(choose(Some("notes")).is_err());
        assert!(choose_sheet(&[], None, &wb).is_err());
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
