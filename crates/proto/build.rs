//! Compiles proto/dataport/v1/dataport.proto with protox (pure Rust), so a fresh clone builds
//! without a system `protoc`. Also writes the encoded descriptor set for server reflection, and
//! generates from that same set the serde impls of the canonical proto3 JSON mapping (pbjson).

use std::{env, fs, io, path::PathBuf};

use prost::Message;

fn main() -> io::Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(io::Error::other)?);
    let proto_root = manifest_dir.join("../../proto");
    let proto_file = proto_root.join("dataport/v1/dataport.proto");
    println!("cargo:rerun-if-changed={}", proto_file.display());

    let descriptors = protox::compile([&proto_file], [&proto_root]).map_err(io::Error::other)?;
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(io::Error::other)?);
    let encoded = descriptors.encode_to_vec();
    fs::write(out_dir.join("dataport_descriptor.bin"), &encoded)?;

    // `dataport.v1.serde.rs`: Serialize/Deserialize per the proto3 JSON mapping (lowerCamelCase
    // names, enums by name, 64-bit integers as strings, default values omitted).
    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        .build(&[".dataport.v1"])?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)
}
