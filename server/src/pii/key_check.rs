//! The server refuses to start with a data key other than the one its database was written
//! with. The first start stores the key's check value (`FieldCipher::key_check_value`); every
//! later start compares. A database that holds personal data from before check values existed
//! is checked by decrypting one stored value instead, then given its check value.
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use entity::{data_key_check, ledger_entries, staff_accounts, staff_change_requests, users};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set,
    sea_query::OnConflict,
};

use super::cipher::FieldCipher;

const MISMATCH: &str = "the data key does not match the personal data in this database: start \
    with the data key it was written with (BANGBAN_PII_DATA_KEY, or data.key in \
    the data directory); nothing was read or written";

/// Compares (or, on the first start, records) the data key's check value.
pub async fn ensure_data_key_matches(
    db: &DatabaseConnection,
    cipher: &FieldCipher,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mine = cipher.key_check_value();
    if let Some(stored) = stored_check(db).await? {
        if stored != mine {
            bail!(MISMATCH);
        }
        return Ok(());
    }
    if let Some(sample) = some_sealed_value(db).await?
        && cipher.decrypt(&sample).is_err()
    {
        bail!(MISMATCH);
    }
    data_key_check::Entity::insert(data_key_check::ActiveModel {
        id: Set(1),
        check_value: Set(mine.clone()),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(data_key_check::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .context("storing the data key's check value")?;
    // Two instances starting at once with different keys: the one whose value was kept wins.
    if stored_check(db).await?.as_deref() != Some(mine.as_str()) {
        bail!(MISMATCH);
    }
    Ok(())
}

async fn stored_check(db: &DatabaseConnection) -> anyhow::Result<Option<String>> {
    Ok(data_key_check::Entity::find_by_id(1)
        .one(db)
        .await
        .context("reading the data key's check value")?
        .map(|row| row.check_value))
}

/// One encrypted value written before check values existed, if any (every column that holds
/// them is looked at, in turn).
async fn some_sealed_value(db: &DatabaseConnection) -> anyhow::Result<Option<String>> {
    let phone: Option<Option<String>> = users::Entity::find()
        .select_only()
        .column(users::Column::PhoneEnc)
        .filter(users::Column::PhoneEnc.is_not_null())
        .into_tuple()
        .one(db)
        .await?;
    if let Some(Some(value)) = phone {
        return Ok(Some(value));
    }
    let staff: Option<Option<String>> = staff_accounts::Entity::find()
        .select_only()
        .column(staff_accounts::Column::PhoneEnc)
        .filter(staff_accounts::Column::PhoneEnc.is_not_null())
        .into_tuple()
        .one(db)
        .await?;
    if let Some(Some(value)) = staff {
        return Ok(Some(value));
    }
    let id_number: Option<Option<String>> = staff_accounts::Entity::find()
        .select_only()
        .column(staff_accounts::Column::IdNumberEnc)
        .filter(staff_accounts::Column::IdNumberEnc.is_not_null())
        .into_tuple()
        .one(db)
        .await?;
    if let Some(Some(value)) = id_number {
        return Ok(Some(value));
    }
    let change: Option<String> = staff_change_requests::Entity::find()
        .select_only()
        .column(staff_change_requests::Column::AfterPhoneEnc)
        .into_tuple()
        .one(db)
        .await?;
    if change.is_some() {
        return Ok(change);
    }
    let name: Option<Option<String>> = ledger_entries::Entity::find()
        .select_only()
        .column(ledger_entries::Column::ApplicantNameEnc)
        .filter(ledger_entries::Column::ApplicantNameEnc.is_not_null())
        .into_tuple()
        .one(db)
        .await?;
    Ok(name.flatten())
}
