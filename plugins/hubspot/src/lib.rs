//! placeholder: the hubspot layout plugin is being written.
