//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds `migrations/` at compile
//! time, and the compiler does not watch that folder by itself.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
