//! The parts' XML: [`Xml`], quick-xml with the checks every part gets, for the parsers of the
//! small parts and the sheet; and names for the byte-level scanners (the row count, the `<c>`
//! attribute parser), which read tags without quick-xml's events.

use std::borrow::Cow;
use std::cell::Cell;
use std::io::{BufReader, Read};

use dataport_plugin_sdk::PluginError;
use quick_xml::errors::SyntaxError;
use quick_xml::events::{BytesStart, Event};

use crate::messages::{self, Part};

/// quick-xml over a part, with the checks every part gets: no DOCTYPE, no undefined entity,
/// well-formed as far as quick-xml checks, and complete (its root element closed). It tells the
/// budget where each item ended.
pub(crate) struct Xml<'a, 'g> {
    reader: quick_xml::Reader<&'a mut Input<'g>>,
    mark: &'a Cell<u64>,
    part: &'a Part,
    depth: u64,
    root: bool,
    ended: bool,
}

/// A part's checked bytes, buffered: a concrete `BufRead`, so the parser's many small calls
/// into it are inlined, and only a refill goes through `dyn Read`.
pub(crate) type Input<'g> = BufReader<&'g mut dyn Read>;

impl<'a, 'g> Xml<'a, 'g> {
    pub(crate) fn new(input: &'a mut Input<'g>, mark: &'a Cell<u64>, part: &'a Part) -> Xml<'a, 'g> {
        let mut reader = quick_xml::Reader::from_reader(input);
        let config = reader.config_mut();
        config.check_end_names = false;
        config.trim_text(false);
        Xml {
            reader,
            mark,
            part,
            depth: 0,
            root: false,
            ended: false,
        }
    }

    /// The next event, checked.
    #[inline]
    pub(crate) fn next<'b>(&mut self, buf: &'b mut Vec<u8>) -> Result<Event<'b>, PluginError> {
        buf.clear();
        let event = self.reader.read_event_into(buf).map_err(|e| match e {
            // The input ended inside markup: cut short.
            quick_xml::Error::Syntax(syntax) if !matches!(syntax, SyntaxError::InvalidBangMarkup) => {
                messages::truncated_xml(self.part)
            }
            _ => messages::invalid_xml(self.part, self.reader.error_position()),
        })?;
        self.mark.set(self.reader.buffer_position());
        match &event {
            Event::DocType(_) => return Err(messages::doctype(&self.part.path)),
            Event::GeneralRef(r) => {
                let known = if r.is_char_ref() {
                    matches!(r.resolve_char_ref(), Ok(Some(_)))
                } else {
                    matches!(&**r, "lt" | "gt" | "amp" | "apos" | "quot")
                };
                if !known {
                    return Err(messages::undefined_entity(self.part, r));
                }
            }
            Event::Start(_) => {
                self.depth += 1;
                self.root = true;
            }
            Event::End(_) => self.depth = self.depth.saturating_sub(1),
            Event::Empty(_) => self.root = true,
            Event::Eof => {
                self.ended = true;
                if !self.root || self.depth > 0 {
                    return Err(messages::truncated_xml(self.part));
                }
            }
            _ => {}
        }
        Ok(event)
    }

    /// Reads (and checks) whatever the parse function left.
    pub(crate) fn finish(&mut self) -> Result<(), PluginError> {
        let mut buf = Vec::new();
        while !self.ended {
            self.next(&mut buf)?;
        }
        Ok(())
    }

    pub(crate) fn position(&self) -> u64 {
        self.reader.buffer_position()
    }

    /// The part's path in the archive.
    pub(crate) fn path(&self) -> &str {
        &self.part.path
    }

    pub(crate) fn invalid(&self) -> PluginError {
        messages::invalid_xml(self.part, self.position())
    }

    /// The raw value of attribute `name` (matched on its local name), if present, borrowed
    /// from the event (the sheet has millions of cell references: no copy each).
    pub(crate) fn attr<'e>(
        &self,
        e: &'e BytesStart<'_>,
        name: &str,
    ) -> Result<Option<Cow<'e, str>>, PluginError> {
        for a in e.attributes().with_checks(false) {
            let a = a.map_err(|_| self.invalid())?;
            if a.key.local_name().as_ref() == name {
                return Ok(Some(a.value));
            }
        }
        Ok(None)
    }

    /// [`Xml::attr`], copied.
    pub(crate) fn attr_owned(&self, e: &BytesStart<'_>, name: &str) -> Result<Option<String>, PluginError> {
        Ok(self.attr(e, name)?.map(Cow::into_owned))
    }
}

/// The local part of a qualified name: everything after its first `:`, as quick-xml's
/// `QName::local_name` takes it for the event-based parse, so both match the same names.
pub(crate) fn local_name(name: &[u8]) -> &[u8] {
    match memchr::memchr(b':', name) {
        Some(colon) => &name[colon + 1..],
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::name::QName;

    #[test]
    fn local_names_are_quick_xmls() {
        for name in ["row", "x:row", "x:", ":c", "a:b:c", ""] {
            assert_eq!(
                local_name(name.as_bytes()),
                QName(name).local_name().into_inner().as_bytes(),
                "{name}"
            );
        }
    }
}
