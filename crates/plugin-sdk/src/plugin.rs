//! The traits a plugin implements.

use dataport_plugin_abi as abi;

use crate::cell::RowBatch;
use crate::column::Column;
use crate::error::PluginError;
use crate::io::{ByteSink, ByteSource};
use crate::option_spec::{Direction, OptionSpec};
use crate::options::Options;

/// What a plugin can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// It implements [`Plugin::open_reader`] (import).
    pub read: bool,
    /// It implements [`Plugin::open_writer`] (export).
    pub write: bool,
    /// Its readers need a seekable [`ByteSource`] (e.g. xlsx, a zip archive). The host then
    /// spools the upload to a temporary file first, so leave it off when you can stream.
    pub needs_seek: bool,
    /// Its writers implement [`Writer::start_sheet`] (workbooks with several sheets).
    pub sheets: bool,
    /// [`Descriptor::options`] lists every option it takes, so the host refuses any other one
    /// before a job starts. Set by [`Descriptor::option`] and [`Descriptor::no_options`].
    pub declares_options: bool,
}

impl Capabilities {
    /// The ABI's `CAP_*` bit set.
    pub fn to_abi(self) -> u32 {
        [
            (self.read, abi::CAP_READ),
            (self.write, abi::CAP_WRITE),
            (self.needs_seek, abi::CAP_NEEDS_SEEK),
            (self.sheets, abi::CAP_SHEETS),
            (self.declares_options, abi::CAP_DECLARES_OPTIONS),
        ]
        .into_iter()
        .fold(0, |bits, (on, bit)| if on { bits | bit } else { bits })
    }

    /// The capabilities of an ABI bit set (unknown bits are ignored).
    pub fn from_abi(bits: u32) -> Capabilities {
        Capabilities {
            read: bits & abi::CAP_READ != 0,
            write: bits & abi::CAP_WRITE != 0,
            needs_seek: bits & abi::CAP_NEEDS_SEEK != 0,
            sheets: bits & abi::CAP_SHEETS != 0,
            declares_options: bits & abi::CAP_DECLARES_OPTIONS != 0,
        }
    }
}

/// Who a plugin is and what it serves; read once by the host at load time.
///
/// Build it with the chained methods:
///
/// ```
/// # use dataport_plugin_sdk::Descriptor;
/// let d = Descriptor::new("csv", env!("CARGO_PKG_VERSION"))
///     .format("csv")
///     .extensions(["csv", "txt"])
///     .reads()
///     .writes();
/// assert!(d.capabilities.read && d.modules.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Descriptor {
    /// Short name, e.g. `csv`.
    pub name: String,
    /// The plugin's own version; use `env!("CARGO_PKG_VERSION")`.
    pub version: String,
    /// Format names it serves (lower case, e.g. `csv`). Each format may be claimed by one loaded
    /// plugin only; the host refuses to start otherwise.
    pub formats: Vec<String>,
    /// File extensions, lower case, without the dot (`csv`, `txt`), used to guess the format from a
    /// file name.
    pub extensions: Vec<String>,
    pub capabilities: Capabilities,
    /// Module names it supports (`customers`, `contacts`, `opportunities`); empty means any.
    pub modules: Vec<String>,
    /// The options it takes ([`Descriptor::option`]); complete when
    /// [`Capabilities::declares_options`] is set.
    pub options: Vec<OptionSpec>,
}

impl Descriptor {
    /// A descriptor with a name and version and nothing else.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Descriptor {
        Descriptor {
            name: name.into(),
            version: version.into(),
            ..Descriptor::default()
        }
    }

    /// Adds a format name.
    pub fn format(mut self, format: impl Into<String>) -> Descriptor {
        self.formats.push(format.into());
        self
    }

    /// Adds file extensions (without the dot).
    pub fn extensions<S: Into<String>>(mut self, exts: impl IntoIterator<Item = S>) -> Descriptor {
        self.extensions.extend(exts.into_iter().map(Into::into));
        self
    }

    /// Adds supported modules (leave empty for "any module").
    pub fn modules<S: Into<String>>(mut self, modules: impl IntoIterator<Item = S>) -> Descriptor {
        self.modules.extend(modules.into_iter().map(Into::into));
        self
    }

    /// Declares [`Capabilities::read`].
    pub fn reads(mut self) -> Descriptor {
        self.capabilities.read = true;
        self
    }

    /// Declares [`Capabilities::write`].
    pub fn writes(mut self) -> Descriptor {
        self.capabilities.write = true;
        self
    }

    /// Declares [`Capabilities::needs_seek`].
    pub fn needs_seek(mut self) -> Descriptor {
        self.capabilities.needs_seek = true;
        self
    }

    /// Declares [`Capabilities::sheets`].
    pub fn sheets(mut self) -> Descriptor {
        self.capabilities.sheets = true;
        self
    }

    /// Declares an option, and that the declared ones are all the plugin takes.
    pub fn option(mut self, option: OptionSpec) -> Descriptor {
        self.options.push(option);
        self.capabilities.declares_options = true;
        self
    }

    /// Declares options ([`option`](Descriptor::option) for each).
    pub fn options(mut self, options: impl IntoIterator<Item = OptionSpec>) -> Descriptor {
        self.options.extend(options);
        self.capabilities.declares_options = true;
        self
    }

    /// Declares that the plugin takes no options (other than those given with
    /// [`option`](Descriptor::option)).
    pub fn no_options(mut self) -> Descriptor {
        self.capabilities.declares_options = true;
        self
    }

    /// The declared options that apply in `direction`.
    pub fn options_for(&self, direction: Direction) -> impl Iterator<Item = &OptionSpec> {
        self.options.iter().filter(move |o| o.applies_to(direction))
    }
}

/// Reads one file. One instance per import job; calls are sequential, possibly from different
/// threads (hence `Send`).
///
/// The host calls [`header`](Reader::header) exactly once, first, then
/// [`next_batch`](Reader::next_batch) until it returns `Ok(None)` or an error. After an error
/// the host stops using the reader.
pub trait Reader: Send {
    /// The column names in file order (for most formats the first row). An empty file may
    /// return an empty header.
    fn header(&mut self) -> Result<Vec<String>, PluginError>;

    /// The next rows: `Ok(Some(batch))` covering at most `max_rows` source rows (each included
    /// row and each row error about a left-out row counts once; `max_rows >= 1`), or `Ok(None)`
    /// at the end. Problems confined to one row go into [`RowBatch::errors`] and reading goes on;
    /// return `Err` only when the file as a whole cannot be read further. A batch may hold only
    /// errors, but return `Ok(None)` rather than an empty batch at the end.
    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError>;

    /// Where the reader stands: called after `header` and after batches, to let an interrupted
    /// import continue from [`Checkpoint::offset`] of its input instead of the client sending it
    /// whole again. The rows not yet handed out must be exactly those a reader of the same
    /// plugin, format and options, [`resume`](Reader::resume)d from the checkpoint over the input
    /// from that offset, hands out. `Ok(None)` (the default) when the reader cannot say.
    fn checkpoint(&mut self) -> Result<Option<Checkpoint>, PluginError> {
        Ok(None)
    }

    /// Called once, first, on a reader whose input starts at `at.offset` of a file that a reader
    /// of this plugin read up to `at` ([`checkpoint`](Reader::checkpoint)): from here on behave
    /// as that reader would have (same header, rows numbered from `at.next_row`). Refuse a
    /// state you do not recognise with [`ErrorKind::Unsupported`](crate::ErrorKind). The
    /// default refuses.
    fn resume(&mut self, at: &Checkpoint) -> Result<(), PluginError> {
        let _ = at;
        Err(PluginError::unsupported(
            "this reader cannot resume from a byte offset",
        ))
    }

    /// Asked after [`header`](Reader::header) and again after each batch until it answers: how
    /// many rows and row errors the reader will hand out, counted from the input rather than
    /// by handing them out (an xlsx sheet's rows with values, not its declared dimension), so
    /// that progress is shown against it. The host only shows it (`dataport plugin-check`
    /// checks it against what was read). `None` (the default) while the reader does not know.
    fn rows_total(&mut self) -> Option<u64> {
        None
    }
}

/// Where a reader stands in its input (see [`Reader::checkpoint`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Offset in the input, counted from its first byte, at which the rows not yet handed out
    /// begin.
    pub offset: u64,
    /// The number the next row gets.
    pub next_row: u64,
    /// The reader's own state, kept by the host as opaque bytes (at most
    /// [`abi::CHECKPOINT_STATE_CAPACITY`](crate::abi::CHECKPOINT_STATE_CAPACITY)); start it with a
    /// version byte.
    pub state: Vec<u8>,
}

/// Writes one file. One instance per export job; calls are sequential.
///
/// The host calls [`write_header`](Writer::write_header) once, then
/// [`write_rows`](Writer::write_rows) any number of times, then [`finish`](Writer::finish)
/// once. A writer of a plugin with [`Capabilities::sheets`] may also get
/// [`start_sheet`](Writer::start_sheet) after a sheet's rows, followed by that sheet's header and
/// rows. A writer dropped without `finish` (the job failed) may leave incomplete output; the host
/// discards it.
pub trait Writer: Send {
    /// Writes the header of the current sheet. Rows carry one cell per column, in this order.
    fn write_header(&mut self, columns: &[Column]) -> Result<(), PluginError>;
    /// Writes rows; row numbers and `rows.errors` are meaningless here and must be ignored.
    fn write_rows(&mut self, rows: &RowBatch) -> Result<(), PluginError>;
    /// Completes the file and flushes the sink.
    fn finish(&mut self) -> Result<(), PluginError>;
    /// Ends the current sheet and starts a new one called `name`. The default refuses.
    fn start_sheet(&mut self, name: &str) -> Result<(), PluginError> {
        Err(PluginError::unsupported(format!(
            "this format has a single sheet; cannot start sheet `{name}`"
        )))
    }
}

impl<R: Reader + ?Sized> Reader for Box<R> {
    fn header(&mut self) -> Result<Vec<String>, PluginError> {
        (**self).header()
    }
    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        (**self).next_batch(max_rows)
    }
    fn checkpoint(&mut self) -> Result<Option<Checkpoint>, PluginError> {
        (**self).checkpoint()
    }
    fn resume(&mut self, at: &Checkpoint) -> Result<(), PluginError> {
        (**self).resume(at)
    }
    fn rows_total(&mut self) -> Option<u64> {
        (**self).rows_total()
    }
}

impl<W: Writer + ?Sized> Writer for Box<W> {
    fn write_header(&mut self, columns: &[Column]) -> Result<(), PluginError> {
        (**self).write_header(columns)
    }
    fn start_sheet(&mut self, name: &str) -> Result<(), PluginError> {
        (**self).start_sheet(name)
    }
    fn write_rows(&mut self, rows: &RowBatch) -> Result<(), PluginError> {
        (**self).write_rows(rows)
    }
    fn finish(&mut self) -> Result<(), PluginError> {
        (**self).finish()
    }
}

/// A format plugin: its descriptor and its reader/writer constructors.
///
/// Export it from a `cdylib` crate with [`export_plugin!`](crate::export_plugin); the same type is
/// used natively (as an rlib) by calling these methods directly. The plugin value is created once
/// per loaded library and shared by all jobs, so keep per-file state in the readers and writers.
pub trait Plugin: Send + Sync + 'static {
    /// Who this plugin is. Called once at load time; must not fail.
    fn descriptor(&self) -> Descriptor;

    /// Opens a reader for `format` (one of the descriptor's formats) over `source`. Validate the
    /// options here (see [`Options::ensure_known`]); reading may start lazily in
    /// [`Reader::header`]. The default refuses with `Unsupported`.
    fn open_reader(
        &self,
        format: &str,
        options: &Options,
        source: Box<dyn ByteSource>,
    ) -> Result<Box<dyn Reader>, PluginError> {
        let _ = (options, source);
        Err(PluginError::unsupported(format!(
            "format `{format}` cannot be read by this plugin"
        )))
    }

    /// Opens a writer for `format` over `sink`. The default refuses with `Unsupported`.
    fn open_writer(
        &self,
        format: &str,
        options: &Options,
        sink: Box<dyn ByteSink>,
    ) -> Result<Box<dyn Writer>, PluginError> {
        let _ = (options, sink);
        Err(PluginError::unsupported(format!(
            "format `{format}` cannot be written by this plugin"
        )))
    }
}

/// Reads a whole file natively: the header, then every batch of at most `max_rows`, merged into
/// one [`RowBatch`]. Handy in tests.
pub fn read_all(reader: &mut dyn Reader, max_rows: usize) -> Result<(Vec<String>, RowBatch), PluginError> {
    let header = reader.header()?;
    let mut all = RowBatch::new();
    while let Some(mut batch) = reader.next_batch(max_rows.max(1))? {
        all.append(&mut batch);
    }
    Ok((header, all))
}
