//! Tells the end-to-end suite which backend it is built for, so that tests needing the
//! production pair (PostgreSQL + Redis) are reported as ignored on SQLite, not as passed.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(backend_postgres)");
    println!("cargo::rerun-if-env-changed=BANGBAN_TEST_BACKEND");
    if std::env::var("BANGBAN_TEST_BACKEND").as_deref() == Ok("postgres") {
        println!("cargo::rustc-cfg=backend_postgres");
    }
}
