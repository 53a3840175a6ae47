//! Compiles `proto/levibot/v1/*.proto` in pure Rust (protox: no protoc binary needed) into
//! prost messages, tonic clients and servers, and an encoded descriptor set for reflection.

use std::{env, error::Error, fs, path::PathBuf};

use prost::Message;

const FILES: &[&str] = &[
    "levibot/v1/common.proto",
    "levibot/v1/backend.proto",
    "levibot/v1/ai_engine.proto",
    "levibot/v1/portfolio.proto",
    "levibot/v1/trade_store.proto",
    "levibot/v1/automl.proto",
    "levibot/v1/policy_store.proto",
    "levibot/v1/health.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());
    let descriptors = protox::compile(FILES, [&proto_root])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("levibot_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
