//! The frames the server and a plugin worker exchange over the worker's stdin and stdout:
//! `[u32 length][u8 tag][payload]`, little-endian, with length-prefixed strings. Whole batches
//! cross in one frame each (no per-cell round trips); bytes cross in the chunks the plugin asks
//! for.

use std::io::{self, Read, Write};

use dataport_plugin_abi::Status;
use dataport_plugin_sdk::{
    Capabilities, Cell, Column, ColumnKind, Descriptor, ErrorKind, OptionKind, OptionSpec, Options,
    PluginError, RowBatch,
};

/// The largest frame either side accepts (a batch of wide rows fits many times over).
const MAX_FRAME: usize = 1 << 30;

/// Frame tags. Requests go to the worker; replies and callbacks come back.
pub(crate) mod tag {
    pub const DESCRIBE: u8 = 1;
    pub const OPEN_READER: u8 = 2;
    pub const HEADER: u8 = 3;
    pub const NEXT_BATCH: u8 = 4;
    pub const OPEN_WRITER: u8 = 5;
    pub const WRITE_HEADER: u8 = 6;
    pub const WRITE_ROWS: u8 = 7;
    pub const START_SHEET: u8 = 8;
    pub const FINISH: u8 = 9;
    /// Replies to the worker's callbacks.
    pub const READ_DATA: u8 = 20;
    pub const SEEK_DONE: u8 = 21;
    pub const WRITE_DONE: u8 = 22;
    pub const CALLBACK_FAILED: u8 = 23;

    pub const OK: u8 = 101;
    pub const DESCRIBED: u8 = 102;
    pub const HEADER_IS: u8 = 103;
    pub const BATCH_IS: u8 = 104;
    pub const END_OF_DATA: u8 = 105;
    pub const FAILED: u8 = 106;
    /// The plugin's byte callbacks, forwarded to the server.
    pub const READ: u8 = 110;
    pub const SEEK: u8 = 111;
    pub const WRITE: u8 = 112;
    pub const FLUSH: u8 = 113;
}

/// One frame: a tag and its payload.
pub(crate) struct Frame {
    pub tag: u8,
    pub body: Vec<u8>,
}

impl Frame {
    pub fn new(tag: u8) -> Frame {
        Frame {
            tag,
            body: Vec::new(),
        }
    }

    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        if self.body.len() + 1 > MAX_FRAME {
            return Err(io::Error::other(format!(
                "a frame of {} bytes is over the limit",
                self.body.len() + 1
            )));
        }
        let len = u32::try_from(self.body.len() + 1).map_err(|_| io::Error::other("frame too large"))?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&[self.tag])?;
        out.write_all(&self.body)?;
        out.flush()
    }

    /// The next frame; `Ok(None)` at a clean end of the stream (the other side is gone).
    pub fn read_from(input: &mut impl Read) -> io::Result<Option<Frame>> {
        let mut len = [0u8; 4];
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = u32::from_le_bytes(len) as usize;
        if len == 0 || len > MAX_FRAME {
            return Err(io::Error::other(format!("a frame of {len} bytes")));
        }
        let mut body = vec![0u8; len];
        input.read_exact(&mut body)?;
        let tag = body.remove(0);
        Ok(Some(Frame { tag, body }))
    }

    pub fn u8(mut self, v: u8) -> Frame {
        self.body.push(v);
        self
    }

    pub fn u64(mut self, v: u64) -> Frame {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn i64(mut self, v: i64) -> Frame {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bytes(mut self, v: &[u8]) -> Frame {
        self = self.u64(v.len() as u64);
        self.body.extend_from_slice(v);
        self
    }

    pub fn str(self, v: &str) -> Frame {
        self.bytes(v.as_bytes())
    }

    pub fn strs(mut self, v: &[String]) -> Frame {
        self = self.u64(v.len() as u64);
        for s in v {
            self = self.str(s);
        }
        self
    }

    pub fn options(mut self, options: &Options) -> Frame {
        self = self.u64(options.len() as u64);
        for (k, v) in options.iter() {
            self = self.str(k).str(v);
        }
        self
    }

    pub fn error(self, e: &PluginError) -> Frame {
        self.u8(e.kind.status().0 as u8)
            .str(&e.message)
            .u64(e.row.unwrap_or(0))
            .u8(u8::from(e.row_only))
    }

    pub fn descriptor(mut self, d: &Descriptor) -> Frame {
        self = self
            .str(&d.name)
            .str(&d.version)
            .strs(&d.formats)
            .strs(&d.extensions)
            .strs(&d.modules)
            .u64(u64::from(d.capabilities.to_abi()))
            .u64(d.options.len() as u64);
        for o in &d.options {
            self = self
                .str(&o.name)
                .u64(u64::from(o.kind.to_abi()))
                .u64(u64::from(o.uses_to_abi()))
                .str(&o.default)
                .strs(&o.choices)
                .str(&o.help);
        }
        self
    }

    pub fn columns(mut self, columns: &[Column]) -> Frame {
        self = self.u64(columns.len() as u64);
        for c in columns {
            self = self
                .str(&c.name)
                .u64(u64::from(c.kind.to_abi()))
                .u8(u8::from(c.required))
                .strs(&c.choices)
                .str(&c.comment);
        }
        self
    }

    pub fn batch(mut self, batch: &RowBatch) -> Frame {
        self = self.u64(batch.rows.len() as u64);
        for row in &batch.rows {
            self = self.u64(row.number).u64(row.cells.len() as u64);
            for cell in &row.cells {
                self = match cell {
                    Cell::Null => self.u8(0),
                    Cell::Text(t) => self.u8(1).str(t),
                    Cell::Int(i) => self.u8(2).i64(*i),
                    Cell::Float(f) => self.u8(3).u64(f.to_bits()),
                    Cell::Bool(b) => self.u8(4).u8(u8::from(*b)),
                    Cell::Date(d) => self.u8(5).i64(i64::from(*d)),
                    Cell::DateTime(t) => self.u8(6).i64(*t),
                    Cell::Formula(t) => self.u8(7).str(t),
                };
            }
        }
        self = self.u64(batch.errors.len() as u64);
        for e in &batch.errors {
            self = self.u64(e.row).u8(e.kind.status().0 as u8).str(&e.message);
        }
        self
    }

    /// A reader over the payload.
    pub fn parse(&self) -> Parse<'_> {
        Parse { rest: &self.body }
    }
}

/// Reads a frame's payload in the order it was written.
pub(crate) struct Parse<'a> {
    rest: &'a [u8],
}

type Parsed<T> = Result<T, String>;

impl Parse<'_> {
    fn take(&mut self, n: usize) -> Parsed<&[u8]> {
        if self.rest.len() < n {
            return Err("a frame ended early".into());
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub fn u8(&mut self) -> Parsed<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u64(&mut self) -> Parsed<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    pub fn i64(&mut self) -> Parsed<i64> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    /// A count or byte length: never more than the bytes left, as every item takes one.
    fn len(&mut self) -> Parsed<usize> {
        let n = self.u64()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.rest.len())
            .ok_or_else(|| format!("a length of {n} with {} bytes left", self.rest.len()))
    }

    pub fn bytes(&mut self) -> Parsed<Vec<u8>> {
        let n = self.len()?;
        Ok(self.take(n)?.to_vec())
    }

    pub fn str(&mut self) -> Parsed<String> {
        String::from_utf8(self.bytes()?).map_err(|_| "a string is not UTF-8".into())
    }

    pub fn strs(&mut self) -> Parsed<Vec<String>> {
        (0..self.len()?).map(|_| self.str()).collect()
    }

    pub fn options(&mut self) -> Parsed<Options> {
        (0..self.len()?).map(|_| Ok((self.str()?, self.str()?))).collect()
    }

    pub fn error(&mut self) -> Parsed<PluginError> {
        let kind = ErrorKind::from_status(Status(i32::from(self.u8()?)));
        let mut e = PluginError::new(kind, self.str()?);
        e.row = Some(self.u64()?).filter(|r| *r > 0);
        e.row_only = self.u8()? != 0;
        Ok(e)
    }

    pub fn descriptor(&mut self) -> Parsed<Descriptor> {
        let name = self.str()?;
        let version = self.str()?;
        let formats = self.strs()?;
        let extensions = self.strs()?;
        let modules = self.strs()?;
        let capabilities = Capabilities::from_abi(self.u64()? as u32);
        let mut options = Vec::new();
        for _ in 0..self.len()? {
            let name = self.str()?;
            let kind = OptionKind::from_abi(self.u64()? as u32);
            let uses = self.u64()? as u32;
            let default = self.str()?;
            let choices = self.strs()?;
            let spec = OptionSpec::new(name, kind, self.str()?)
                .default_value(default)
                .choices(choices)
                .with_abi_uses(uses);
            options.push(spec);
        }
        Ok(Descriptor {
            name,
            version,
            formats,
            extensions,
            capabilities,
            modules,
            options,
        })
    }

    pub fn columns(&mut self) -> Parsed<Vec<Column>> {
        (0..self.len()?)
            .map(|_| {
                let name = self.str()?;
                let kind = ColumnKind::from_abi(self.u64()? as u32);
                let required = self.u8()? != 0;
                Ok(Column {
                    name,
                    kind,
                    required,
                    choices: self.strs()?,
                    comment: self.str()?,
                })
            })
            .collect()
    }

    pub fn batch(&mut self) -> Parsed<RowBatch> {
        let mut batch = RowBatch::new();
        for _ in 0..self.len()? {
            let number = self.u64()?;
            let cells = (0..self.len()?)
                .map(|_| {
                    Ok(match self.u8()? {
                        0 => Cell::Null,
                        1 => Cell::Text(self.str()?),
                        2 => Cell::Int(self.i64()?),
                        3 => Cell::Float(f64::from_bits(self.u64()?)),
                        4 => Cell::Bool(self.u8()? != 0),
                        5 => Cell::Date(i32::try_from(self.i64()?).map_err(|_| "a date out of range")?),
                        6 => Cell::DateTime(self.i64()?),
                        7 => Cell::Formula(self.str()?),
                        other => return Err(format!("a cell tag {other}")),
                    })
                })
                .collect::<Parsed<Vec<Cell>>>()?;
            batch.push_row(number, cells);
        }
        for _ in 0..self.len()? {
            let row = self.u64()?;
            let kind = ErrorKind::from_status(Status(i32::from(self.u8()?)));
            batch.push_error(row, kind, self.str()?);
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut batch = RowBatch::new();
        batch.push_row(
            2,
            vec![
                Cell::Null,
                Cell::text("北京"),
                Cell::Int(-7),
                Cell::Float(12.5),
                Cell::Bool(true),
                Cell::Date(-1),
                Cell::DateTime(i64::MIN),
                Cell::Formula("=1".into()),
            ],
        );
        batch.push_error(3, ErrorKind::Encoding, "line 3 is not UTF-8");
        let columns = vec![Column::new("a").kind(ColumnKind::Decimal2)];
        let options: Options = [("delimiter", "|")].into_iter().collect();
        let descriptor = Descriptor::new("psv", "1.0.0")
            .format("psv")
            .reads()
            .needs_seek()
            .option(
                OptionSpec::new("bom", OptionKind::Bool, "a mark")
                    .writing()
                    .default_value("true"),
            )
            .option(
                OptionSpec::new("d", OptionKind::Char, "sep")
                    .reading()
                    .writing()
                    .choices([",", ";"]),
            );
        let frame = Frame::new(tag::WRITE_ROWS)
            .batch(&batch)
            .columns(&columns)
            .options(&options)
            .descriptor(&descriptor)
            .str("x");
        let mut wire = Vec::new();
        frame.write_to(&mut wire).unwrap();
        let back = Frame::read_from(&mut wire.as_slice()).unwrap().unwrap();
        assert_eq!(back.tag, tag::WRITE_ROWS);
        let mut p = back.parse();
        assert_eq!(p.batch().unwrap(), batch);
        assert_eq!(p.columns().unwrap(), columns);
        assert_eq!(p.options().unwrap(), options);
        assert_eq!(p.descriptor().unwrap(), descriptor);
        assert_eq!(p.str().unwrap(), "x");
        assert!(p.u8().is_err(), "nothing is left");
        assert!(Frame::read_from(&mut &b""[..]).unwrap().is_none());
    }
}
