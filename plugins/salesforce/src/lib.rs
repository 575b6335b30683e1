//! placeholder: the salesforce layout plugin is being written.
