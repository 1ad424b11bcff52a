//! Marks the PostgreSQL tests ignored (visible as such in the test
//! runner's summary) unless `PAYOPS_TEST_POSTGRES_URL` is set at build time.

fn main() {
    println!("cargo:rerun-if-env-changed=PAYOPS_TEST_POSTGRES_URL");
    println!("cargo::rustc-check-cfg=cfg(payops_postgres)");
    if std::env::var("PAYOPS_TEST_POSTGRES_URL").is_ok_and(|v| !v.is_empty()) {
        println!("cargo:rustc-cfg=payops_postgres");
    }
}
