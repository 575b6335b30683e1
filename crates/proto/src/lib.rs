//! dataport-proto: the `dataport.v1` gRPC contract as Rust types.
//!
//! Generated at build time from `proto/dataport/v1/dataport.proto` by protox and
//! tonic-prost-build; nothing here is written by hand except the small conversions between the
//! proto enums and `dataport-core`'s domain words, which live in the server and client crates.

#![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]

pub mod convert;

/// Package `dataport.v1`.
pub mod v1 {
    tonic::include_proto!("dataport.v1");
}

/// The encoded `FileDescriptorSet` of `dataport.v1`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/dataport_descriptor.bin"));

/// The `Any` type URL of `dataport.v1.ErrorDetail` in the `google.rpc.Status` details of a
/// failed call.
pub const ERROR_DETAIL_TYPE_URL: &str = "type.googleapis.com/dataport.v1.ErrorDetail";

/// The `google.rpc.ErrorInfo` domain of every dataport error; the reason is the `ErrorCode`
/// value name (`FILE_TOO_LARGE`).
pub const ERROR_DOMAIN: &str = "dataport";

/// The fully qualified service name, as health checks and reflection report it.
pub const SERVICE_NAME: &str = "dataport.v1.DataPort";
