//! XML names for the byte-level scanners (the row count, the `<c>` attribute parser), which
//! read tags without quick-xml's events.

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
