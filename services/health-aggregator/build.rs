//! Rebuilds the crate when a trade-store migration changes: the migrations check embeds the
//! trade-store's `migrations/` with `sqlx::migrate!`, and the compiler does not watch that
//! folder by itself.

fn main() {
    println!("cargo:rerun-if-changed=../trade-store/migrations");
}
