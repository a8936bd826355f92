//! `cargo run -p migration -- up|down|fresh|status` against `BANGBAN_DATABASE_URL`
//! (or `DATABASE_URL`). The server applies migrations itself; this is for operators.
use migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::Database;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(message) = run().await {
        eprintln!("migration: {message}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let url = std::env::var("BANGBAN_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .map_err(|_| "set BANGBAN_DATABASE_URL (or DATABASE_URL)".to_string())?;
    let command = std::env::args().nth(1).unwrap_or_else(|| "up".into());
    let db = Database::connect(&url).await.map_err(|e| e.to_string())?;
    let result = match command.as_str() {
        "up" => Migrator::up(&db, None).await,
        "down" => Migrator::down(&db, Some(1)).await,
        "fresh" => Migrator::fresh(&db).await,
        "status" => Migrator::status(&db).await,
        other => {
            return Err(format!(
                "unknown command {other:?}; use up, down, fresh or status"
            ));
        }
    };
    result.map_err(|e| e.to_string())
}
