//! No code generation: having a build script gives the crate an `OUT_DIR`, which sits inside the
//! cargo target directory of the build and so tells `default_plugin_dirs` where the bundled
//! plugins were built.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
}
