//! The configuration files shipped in `deploy/config/` load and validate with the real loader,
//! so they cannot drift from the code.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use levibot_config::ConfigLoader;

#[test]
fn shipped_sample_configs_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let config = ConfigLoader::new()
                .file(&path)
                .load()
                .unwrap_or_else(|err| panic!("{} is invalid: {err}", path.display()));
            assert!(!config.risk.symbols.is_empty());
            seen += 1;
        }
    }
    assert!(
        seen >= 2,
        "expected the example and the docker config in {}",
        dir.display()
    );
}
