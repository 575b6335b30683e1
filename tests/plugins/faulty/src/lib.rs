//! A test plugin that misbehaves on request, so tests can prove that a panicking plugin fails
//! only its own job (with PLUGIN_ERROR) and the host keeps serving.
//!
//! Format `faulty` (extension `.faulty`): comma-separated lines, the first is the header, every
//! field is text. The option `panic_in` picks where it panics: `open`, `header`, `batch` (the
//! second batch, so some rows were already read), `write` or `finish`. Without it, it behaves.
//!
//! Its library is called `libdataport_testplugin_faulty.so`, which plugin discovery ignores;
//! tests copy it into a plugin directory as `libdataport_plugin_faulty.so`.

use std::io::{BufRead, BufReader, Write};

use dataport_plugin_sdk::{
    ByteSink, ByteSource, Cell, Column, Descriptor, Options, Plugin, PluginError, Reader, RowBatch, Writer,
    export_plugin,
};

/// The plugin value.
pub struct Faulty;

fn panic_in(options: &Options) -> Result<Option<String>, PluginError> {
    options.ensure_known(&["panic_in"])?;
    Ok(options.get("panic_in").map(str::to_owned))
}

impl Plugin for Faulty {
    fn descriptor(&self) -> Descriptor {
        Descriptor::new("faulty", env!("CARGO_PKG_VERSION"))
            .format("faulty")
            .extensions(["faulty"])
            .reads()
            .writes()
    }

    fn open_reader(
        &self,
        _format: &str,
        options: &Options,
        source: Box<dyn ByteSource>,
    ) -> Result<Box<dyn Reader>, PluginError> {
        let panic_in = panic_in(options)?;
        if panic_in.as_deref() == Some("open") {
            panic!("faulty plugin: asked to panic in open_reader");
        }
        Ok(Box::new(FaultyReader {
            lines: BufReader::new(source),
            line: 0,
            batches: 0,
            panic_in,
        }))
    }

    fn open_writer(
        &self,
        _format: &str,
        options: &Options,
        sink: Box<dyn ByteSink>,
    ) -> Result<Box<dyn Writer>, PluginError> {
        Ok(Box::new(FaultyWriter {
            sink,
            panic_in: panic_in(options)?,
        }))
    }
}

struct FaultyReader {
    lines: BufReader<Box<dyn ByteSource>>,
    line: u64,
    batches: u32,
    panic_in: Option<String>,
}

impl FaultyReader {
    fn next_line(&mut self) -> Result<Option<String>, PluginError> {
        let mut text = String::new();
        if self.lines.read_line(&mut text)? == 0 {
            return Ok(None);
        }
        self.line += 1;
        Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
    }
}

impl Reader for FaultyReader {
    fn header(&mut self) -> Result<Vec<String>, PluginError> {
        if self.panic_in.as_deref() == Some("header") {
            panic!("faulty plugin: asked to panic in header");
        }
        Ok(self
            .next_line()?
            .map(|l| l.split(',').map(str::to_owned).collect())
            .unwrap_or_default())
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        self.batches += 1;
        if self.panic_in.as_deref() == Some("batch") && self.batches == 2 {
            panic!("faulty plugin: asked to panic in batch {}", self.batches);
        }
        let mut batch = RowBatch::new();
        while batch.rows.len() < max_rows {
            let Some(line) = self.next_line()? else { break };
            batch.push_row(self.line, line.split(',').map(Cell::from).collect());
        }
        Ok((!batch.is_empty()).then_some(batch))
    }
}

struct FaultyWriter {
    sink: Box<dyn ByteSink>,
    panic_in: Option<String>,
}

impl Writer for FaultyWriter {
    fn write_header(&mut self, columns: &[Column]) -> Result<(), PluginError> {
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        writeln!(self.sink, "{}", names.join(","))?;
        Ok(())
    }

    fn write_rows(&mut self, rows: &RowBatch) -> Result<(), PluginError> {
        if self.panic_in.as_deref() == Some("write") {
            panic!("faulty plugin: asked to panic in write_rows");
        }
        for row in &rows.rows {
            let cells: Vec<String> = row
                .cells
                .iter()
                .map(|c| c.as_text().unwrap_or("").to_owned())
                .collect();
            writeln!(self.sink, "{}", cells.join(","))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        if self.panic_in.as_deref() == Some("finish") {
            panic!("faulty plugin: asked to panic in finish");
        }
        self.sink.flush()?;
        Ok(())
    }
}

export_plugin!(Faulty);
