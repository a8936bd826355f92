//! The `bangban` binary: `serve` (default), `migrate`, `add-county`, `create-staff`,
//! `print-schema`, `seed-demo`, `audit-verify`.
use std::{io::BufRead, path::PathBuf, sync::Arc};

use bangban_server::{
    Application,
    auth::{Role, service},
    clock::{Clock, SystemClock},
    config::Settings,
    db, directory, graphql, telemetry,
};
use clap::{Parser, Subcommand};

/// The server allocates many small, short-lived values per request (GraphQL values, rows):
/// mimalloc serves them faster than the system allocator (the reads bench, README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "bangban", version, about = "Bangban 帮办代办 server")]
struct Cli {
    /// A TOML settings file (also `BANGBAN_CONFIG`); environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a staff account (e.g. the first county admin). The password is read from
    /// `BANGBAN_STAFF_PASSWORD` or, if unset, from the first line of standard input.
    CreateStaff {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// village_agent, township_agent, township_admin, county_agent, county_admin,
        /// inspector or auditor.
        #[arg(long)]
        role: String,
        /// The unit's division code (default: the county, while the deployment has only one).
        #[arg(long)]
        region_code: Option<String>,
    },
    /// Add a county to the deployment (one deployment serves many counties); its admin is then
    /// created with `create-staff --role county_admin --region-code <code>`.
    AddCounty {
        /// The county's six-digit division code.
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
    },
    /// Print the GraphQL SDL.
    PrintSchema,
    /// Load the 沁水县 demo directory (idempotent: nothing happens when the county exists).
    SeedDemo {
        /// Load the second demo county, 阳城县, beside the first.
        #[arg(long)]
        second_county: bool,
    },
    /// Walk the audit log's hash chain; exit 1 and name the first broken link if any.
    AuditVerify,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli).await {
        eprintln!("bangban: {error:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config)?;
    telemetry::init(&settings.log);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let mode = match (&settings.database.url, &settings.redis.url) {
                (None, None) => "embedded SQLite + in-process queues",
                (Some(_), Some(_)) => "PostgreSQL + Redis",
                (Some(_), None) => "external database + in-process queues (single instance only)",
                (None, Some(_)) => "embedded SQLite + Redis",
            };
            let app = Application::build(settings, Arc::new(SystemClock)).await?;
            println!(
                "Bangban listening on http://{}/graphql ({mode})",
                app.address()
            );
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let connection = db::connect(&settings).await?;
            db::migrate(&connection).await?;
            println!("migrations applied");
        }
        Command::CreateStaff {
            username,
            display_name,
            role,
            region_code,
        } => {
            let role: Role = role
                .parse()
                .map_err(|_| anyhow::anyhow!("unknown role {role:?}"))?;
            let password = match std::env::var("BANGBAN_STAFF_PASSWORD") {
                Ok(password) => password,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let connection = db::connect(&settings).await?;
            db::migrate(&connection).await?;
            let unit = match region_code {
                Some(code) => {
                    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
                    entity::regions::Entity::find()
                        .filter(entity::regions::Column::Code.eq(code.as_str()))
                        .one(&connection)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("no region with code {code}"))?
                }
                None => {
                    let counties = directory::seed::counties(&connection)
                        .await
                        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
                    match <[_; 1]>::try_from(counties) {
                        Ok([only]) => only,
                        Err(counties) if counties.is_empty() => anyhow::bail!(
                            "no county yet: run `bangban add-county` (or `bangban seed-demo`) first"
                        ),
                        Err(_) => anyhow::bail!(
                            "this deployment serves several counties: give --region-code"
                        ),
                    }
                }
            };
            let now = SystemClock.now();
            let txn = db::begin_write(&connection).await?;
            let staff = service::create_staff(
                &txn,
                now,
                service::NewStaff {
                    username,
                    display_name,
                    password,
                    role,
                    unit_id: Some(unit.id),
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            bangban_server::audit::record(
                &txn,
                now,
                bangban_server::audit::Entry {
                    actor: bangban_server::audit::Actor::System,
                    action: "staff.create",
                    target_kind: "staff",
                    target_id: Some(staff.id.to_string()),
                    details: serde_json::json!({"username": staff.username, "role": staff.role, "via": "cli"}),
                    county: unit.county_id,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            txn.commit().await?;
            println!("created staff account {} ({})", staff.username, staff.id);
        }
        Command::PrintSchema => print!("{}", graphql::sdl()),
        Command::AddCounty { code, name } => {
            let connection = db::connect(&settings).await?;
            db::migrate(&connection).await?;
            let now = SystemClock.now();
            let txn = db::begin_write(&connection).await?;
            let county = directory::regions::insert_region(
                &txn,
                now,
                directory::regions::NewRegion {
                    parent_id: None,
                    code,
                    name,
                    demo: false,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            bangban_server::audit::record(
                &txn,
                now,
                bangban_server::audit::Entry {
                    actor: bangban_server::audit::Actor::System,
                    action: "region.create",
                    target_kind: "region",
                    target_id: Some(county.id.to_string()),
                    details: serde_json::json!({"code": county.code, "name": county.name, "via": "cli"}),
                    county: Some(county.id),
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            txn.commit().await?;
            println!(
                "added county {} {} ({})",
                county.code, county.name, county.id
            );
        }
        Command::SeedDemo { second_county } => {
            if settings.is_production() {
                anyhow::bail!("BANGBAN_ENV=production refuses demo data");
            }
            let connection = db::connect(&settings).await?;
            db::migrate(&connection).await?;
            let now = SystemClock.now();
            bangban_server::calendar::service::ensure_official(&connection, now)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            let demo = if second_county {
                &directory::seed::SECOND_COUNTY
            } else {
                &directory::seed::FIRST_COUNTY
            };
            let loaded =
                directory::seed::load_county(&connection, now, demo, settings.seed_demo_staff)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            match loaded {
                directory::seed::DemoLoad::Loaded { staff: Some(demo) } => println!(
                    "demo directory loaded, with demo staff: county admin `{}` and an agent at every demo point (`{}` … `{}`), password: {}",
                    demo.admin,
                    demo.agents.first().map(String::as_str).unwrap_or_default(),
                    demo.agents.last().map(String::as_str).unwrap_or_default(),
                    demo.password
                ),
                directory::seed::DemoLoad::Loaded { staff: None } => {
                    println!("demo directory loaded (no demo staff)")
                }
                directory::seed::DemoLoad::Existed => {
                    println!("the county exists already; nothing loaded")
                }
            }
        }
        Command::AuditVerify => {
            let connection = db::connect(&settings).await?;
            let report = bangban_server::audit::verify(&connection)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            match report.first_broken {
                None => println!("audit log intact: {} rows checked", report.rows_checked),
                Some((seq, why)) => {
                    println!(
                        "audit log BROKEN at row {seq}: {why} ({} rows intact before it)",
                        report.rows_checked
                    );
                    std::process::exit(1);
                }
            }
        }
    }
    Ok(())
}
