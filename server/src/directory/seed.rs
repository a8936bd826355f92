//! Demo data for 沁水县 (division code 140521): its 7 towns and 5 townships, a few villages each,
//! service points, a small catalogue, and demo staff (a county admin and an agent at every point,
//! sharing one generated password shown once on the console). Every region is marked `demo`; the township codes
//! follow the statutory pattern but the village lists are invented — the county loads its real
//! lists with `createRegion`. Loading is idempotent (nothing happens when the county exists).
//!
//! A second, smaller demo county (阳城县, 140522) can be loaded beside it (`bangban seed-demo
//! --second-county`), with its own points, catalogue and demo staff (`demo2-…`): one deployment
//! serves many counties, and the demo shows that nothing crosses between them.
use chrono::{DateTime, Utc};
use entity::{regions, service_points, staff_accounts};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use crate::{
    auth::{Role, password::hash_password},
    directory::{
        catalogue::{ItemFields, write_item},
        model::{HandlingType, RegionLevel, ServicePointKind},
        points::{ServicePointInput, insert_service_point},
        regions::{NewRegion, insert_region},
    },
    error::AppResult,
};

pub const COUNTY_CODE: &str = "140521";

/// A demo county: its regions, points and the prefix of its demo staff's usernames.
pub struct DemoCounty {
    pub code: &'static str,
    pub name: &'static str,
    /// The county-level points: kind, name, address, public phone.
    pub county_points: &'static [(ServicePointKind, &'static str, &'static str, &'static str)],
    /// Townships: code, name, two villages.
    pub townships: &'static [(&'static str, &'static str, [&'static str; 2])],
    /// The first digits of the county's phone numbers (`0356-7` for the first county).
    pub phone_prefix: &'static str,
    /// Demo usernames start with it: `demo-admin`, `demo-agent-01` …
    pub username_prefix: &'static str,
    /// Where the county hall stands.
    pub location: (f64, f64),
    /// Where the first township centre stands (the others step north-east from it).
    pub townships_from: (f64, f64),
}

/// 沁水县: the demo county loaded on a development machine's first start.
pub const FIRST_COUNTY: DemoCounty = DemoCounty {
    code: COUNTY_CODE,
    name: "沁水县",
    county_points: &[
        (
            ServicePointKind::CountyZone,
            "县政务服务大厅帮办代办服务专区",
            "沁水县政务服务中心一楼",
            "0356-7000001",
        ),
        (
            ServicePointKind::WindowUnit,
            "县市场监督管理局窗口",
            "沁水县政务服务中心二楼",
            "0356-7000002",
        ),
        (
            ServicePointKind::WindowUnit,
            "县人力资源和社会保障局窗口",
            "沁水县政务服务中心二楼",
            "0356-7000003",
        ),
    ],
    townships: &TOWNSHIPS,
    phone_prefix: "0356-7",
    username_prefix: "demo",
    location: (35.689, 112.187),
    townships_from: (35.60, 112.10),
};

/// 阳城县: the second demo county (invented lists), loaded on request.
pub const SECOND_COUNTY: DemoCounty = DemoCounty {
    code: "140522",
    name: "阳城县",
    county_points: &[(
        ServicePointKind::CountyZone,
        "县政务服务大厅帮办代办服务专区",
        "阳城县政务服务中心一楼",
        "0356-4000001",
    )],
    townships: &[
        ("140522100", "凤城镇", ["东关社区", "西关社区"]),
        ("140522101", "北留镇", ["北留村", "郭峪村"]),
    ],
    phone_prefix: "0356-4",
    username_prefix: "demo2",
    location: (35.486, 112.415),
    townships_from: (35.45, 112.35),
};

const TOWNSHIPS: [(&str, &str, [&str; 2]); 12] = [
    ("140521100", "龙港镇", ["城内社区", "杏园社区"]),
    ("140521101", "中村镇", ["中村村", "松峪村"]),
    ("140521102", "郑庄镇", ["郑庄村", "河头村"]),
    ("140521103", "端氏镇", ["端氏村", "坪上村"]),
    ("140521104", "嘉峰镇", ["嘉峰村", "李庄村"]),
    ("140521105", "郑村镇", ["郑村村", "湘峪村"]),
    ("140521106", "柿庄镇", ["柿庄村", "板山村"]),
    ("140521200", "土沃乡", ["土沃村", "南峪村"]),
    ("140521201", "张村乡", ["张村村", "下峪村"]),
    ("140521202", "胡底乡", ["胡底村", "樊庄村"]),
    ("140521203", "固县乡", ["固县村", "东峪村"]),
    ("140521204", "十里乡", ["十里村", "孝良村"]),
];

/// The demo staff created with the demo directory: a county admin and an agent at every demo
/// point, all marked demo, sharing one generated password (shown once, on the console).
#[derive(Clone, Debug)]
pub struct DemoStaff {
    /// The county admin's username.
    pub admin: String,
    /// The agents' usernames, one per demo point, in the order the points were created.
    pub agents: Vec<String>,
    /// The one password of every demo account.
    pub password: String,
}

/// What loading the demo set did.
#[derive(Clone, Debug)]
pub enum DemoLoad {
    /// The county exists already: nothing was loaded.
    Existed,
    /// The directory was loaded, with its demo staff when they were asked for.
    Loaded { staff: Option<DemoStaff> },
}

/// Loads the first demo county unless it already exists: the regions, points and catalogue,
/// and (`with_staff`) the demo staff.
pub async fn load_demo(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    with_staff: bool,
) -> AppResult<DemoLoad> {
    load_county(db, now, &FIRST_COUNTY, with_staff).await
}

/// Loads a demo county unless it already exists.
pub async fn load_county(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    demo: &DemoCounty,
    with_staff: bool,
) -> AppResult<DemoLoad> {
    let exists = regions::Entity::find()
        .filter(regions::Column::Code.eq(demo.code))
        .one(db)
        .await?
        .is_some();
    if exists {
        return Ok(DemoLoad::Existed);
    }
    let mut points = Vec::new();
    let txn = crate::db::begin_write(db).await?;
    let county = insert_region(
        &txn,
        now,
        NewRegion {
            parent_id: None,
            code: demo.code.into(),
            name: demo.name.into(),
            demo: true,
        },
    )
    .await?;
    let point =
        |region_id, kind, name: &str, address: &str, phone: &str, location| ServicePointInput {
            region_id,
            kind,
            name: name.into(),
            address: address.into(),
            public_phone: Some(phone.into()),
            location,
            opening_hours: None,
        };
    for (kind, name, address, phone) in demo.county_points {
        points.push(
            insert_service_point(
                &txn,
                now,
                point(county.id, *kind, name, address, phone, Some(demo.location)),
            )
            .await?,
        );
    }
    let prefix = demo.phone_prefix;
    for (i, (code, name, villages)) in demo.townships.iter().enumerate() {
        let township = insert_region(
            &txn,
            now,
            NewRegion {
                parent_id: Some(county.id),
                code: (*code).into(),
                name: (*name).into(),
                demo: true,
            },
        )
        .await?;
        let offset = i as f64 * 0.03;
        points.push(
            insert_service_point(
                &txn,
                now,
                point(
                    township.id,
                    ServicePointKind::TownshipCenter,
                    &format!("{name}综合便民服务中心"),
                    &format!("{name}人民政府院内"),
                    &format!("{prefix}0001{i:02}"),
                    Some((
                        demo.townships_from.0 + offset,
                        demo.townships_from.1 + offset,
                    )),
                ),
            )
            .await?,
        );
        for (j, village) in villages.iter().enumerate() {
            let village_region = insert_region(
                &txn,
                now,
                NewRegion {
                    parent_id: Some(township.id),
                    code: format!("{code}{:03}", 200 + j),
                    name: (*village).into(),
                    demo: true,
                },
            )
            .await?;
            points.push(
                insert_service_point(
                    &txn,
                    now,
                    point(
                        village_region.id,
                        ServicePointKind::VillagePoint,
                        &format!("{village}便民服务点"),
                        &format!("{name}{village}村委会"),
                        &format!("{prefix}002{i:02}{j}"),
                        None,
                    ),
                )
                .await?,
            );
        }
    }
    let item = |main: &str,
                business: &str,
                kind: &str,
                handling,
                days,
                levels: &[RegionLevel],
                materials: &[&str]| ItemFields {
        main_item: main.into(),
        in_provincial_list: true,
        business_name: business.into(),
        item_type: kind.into(),
        on_integrated_platform: true,
        handling_type: handling,
        at_most_one_visit: true,
        promised_working_days: days,
        materials: materials.iter().map(|m| (*m).to_string()).collect(),
        levels: levels.to_vec(),
    };
    use RegionLevel::{County, Township, Village};
    let catalogue = [
        item(
            "个体工商户登记",
            "个体工商户设立登记",
            "行政许可",
            HandlingType::Immediate,
            0,
            &[County, Township],
            &["经营者身份证明", "经营场所使用证明"],
        ),
        item(
            "企业登记",
            "有限责任公司设立登记",
            "行政许可",
            HandlingType::Promised,
            3,
            &[County],
            &["公司登记申请书", "公司章程", "股东主体资格证明"],
        ),
        item(
            "城乡居民基本养老保险参保登记",
            "城乡居民养老保险参保登记",
            "公共服务",
            HandlingType::Immediate,
            0,
            &[County, Township, Village],
            &["居民身份证", "户口簿"],
        ),
        item(
            "社会保障卡申领",
            "社会保障卡首次申领",
            "公共服务",
            HandlingType::Promised,
            10,
            &[County, Township, Village],
            &["居民身份证", "近期免冠照片"],
        ),
        item(
            "农村宅基地审批",
            "农村村民宅基地申请审批",
            "行政许可",
            HandlingType::Promised,
            20,
            &[Township],
            &["宅基地申请表", "户口簿", "村民会议决议"],
        ),
        item(
            "残疾人证办理",
            "残疾人证新办",
            "行政确认",
            HandlingType::Promised,
            15,
            &[County, Township],
            &["居民身份证", "户口簿", "近期免冠照片"],
        ),
    ];
    for fields in catalogue {
        write_item(&txn, now, county.id, None, &fields.validate("seed.")?).await?;
    }
    let staff = if with_staff {
        Some(demo_staff(&txn, now, demo.username_prefix, county.id, &points).await?)
    } else {
        None
    };
    txn.commit().await?;
    Ok(DemoLoad::Loaded { staff })
}

/// A county admin and an agent (on duty) at every demo point, marked demo, with one generated
/// password (hashed once: every demo account shares it).
async fn demo_staff(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    prefix: &str,
    county_id: Uuid,
    points: &[service_points::Model],
) -> AppResult<DemoStaff> {
    let password: String = {
        use rand::Rng;
        const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut rng = rand::rngs::OsRng;
        (0..16)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect()
    };
    let password_hash = hash_password(password.clone()).await?;
    let account = |username: String, display_name: String, role: Role, unit_id, point_id| {
        staff_accounts::ActiveModel {
            id: Set(Uuid::now_v7()),
            username: Set(username),
            display_name: Set(display_name),
            password_hash: Set(password_hash.clone()),
            role: Set(role.as_str().to_string()),
            unit_id: Set(Some(unit_id)),
            active: Set(true),
            failed_logins: Set(0),
            locked_until: Set(None),
            created_at: Set(now),
            service_point_id: Set(point_id),
            public_phone: Set(None),
            on_duty: Set(true),
            id_number_enc: Set(None),
            id_number_bidx: Set(None),
            phone_enc: Set(None),
            phone_bidx: Set(None),
            email: Set(None),
            post: Set(Some("演示".into())),
            demo: Set(true),
            wechat_user_id: Set(None),
            wechat_bound_at: Set(None),
        }
    };
    let admin = format!("{prefix}-admin");
    account(
        admin.clone(),
        "演示管理员".into(),
        Role::CountyAdmin,
        county_id,
        None,
    )
    .insert(txn)
    .await?;
    let mut agents = Vec::new();
    for (n, point) in points.iter().enumerate() {
        let username = format!("{prefix}-agent-{:02}", n + 1);
        let role = match point
            .kind
            .parse::<ServicePointKind>()
            .map(|k| k.level())
            .unwrap_or(RegionLevel::County)
        {
            RegionLevel::Village => Role::VillageAgent,
            RegionLevel::Township => Role::TownshipAgent,
            _ => Role::CountyAgent,
        };
        account(
            username.clone(),
            format!("演示帮办员{:02}", n + 1),
            role,
            point.region_id,
            Some(point.id),
        )
        .insert(txn)
        .await?;
        agents.push(username);
    }
    Ok(DemoStaff {
        admin,
        agents,
        password,
    })
}

/// The deployment's counties, oldest first (the CLI's `--region-code` default is the only one).
pub async fn counties(db: &DatabaseConnection) -> AppResult<Vec<regions::Model>> {
    Ok(regions::Entity::find()
        .filter(regions::Column::Level.eq(RegionLevel::County.as_str()))
        .order_by_asc(regions::Column::CreatedAt)
        .all(db)
        .await?)
}
