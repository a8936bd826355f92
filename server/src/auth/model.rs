//! Roles and the Viewer.
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::AppError;

crate::stored_enum! {
    /// Staff roles (seed §四 and the product brief). Stored as snake_case text.
    pub enum Role {
        /// 村（社区）帮办代办员
        VillageAgent = "village_agent",
        /// 乡镇帮办代办员
        TownshipAgent = "township_agent",
        /// 乡镇便民服务中心管理员
        TownshipAdmin = "township_admin",
        /// 县政务服务中心帮办代办员
        CountyAgent = "county_agent",
        /// 县政务服务中心管理员
        CountyAdmin = "county_admin",
        /// 投诉处理人员
        Inspector = "inspector",
        /// 审计人员（只读）
        Auditor = "auditor",
    }
}

crate::stored_enum! {
    /// Who a session belongs to (the access token's `knd` claim).
    pub enum SubjectKind {
        /// A resident, signed in through WeChat.
        Resident = "resident",
        /// A staff member, signed in with a password.
        Staff = "staff",
    }
}

/// The authenticated caller of one request or socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewer {
    Anonymous,
    Resident {
        user_id: Uuid,
        session_id: Uuid,
        expires_at: DateTime<Utc>,
    },
    Staff {
        staff_id: Uuid,
        session_id: Uuid,
        role: Role,
        unit_id: Option<Uuid>,
        expires_at: DateTime<Utc>,
    },
}

impl Viewer {
    pub fn session_id(&self) -> Option<Uuid> {
        match self {
            Viewer::Anonymous => None,
            Viewer::Resident { session_id, .. } | Viewer::Staff { session_id, .. } => {
                Some(*session_id)
            }
        }
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Viewer::Anonymous => None,
            Viewer::Resident { expires_at, .. } | Viewer::Staff { expires_at, .. } => {
                Some(*expires_at)
            }
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Viewer::Anonymous)
    }

    /// The signed-in resident's id: UNAUTHENTICATED for an anonymous caller, FORBIDDEN with
    /// `staff_message` for staff (say what staff should do instead, if anything).
    pub fn require_resident(&self, staff_message: &str) -> Result<Uuid, AppError> {
        match self {
            Viewer::Resident { user_id, .. } => Ok(*user_id),
            Viewer::Anonymous => Err(AppError::Unauthenticated(LOG_IN_FIRST.into())),
            Viewer::Staff { .. } => Err(AppError::Forbidden(staff_message.into())),
        }
    }

    /// The signed-in staff member's id: UNAUTHENTICATED for an anonymous caller, FORBIDDEN
    /// "staff only" for a resident.
    pub fn require_staff(&self) -> Result<Uuid, AppError> {
        match self {
            Viewer::Staff { staff_id, .. } => Ok(*staff_id),
            Viewer::Anonymous => Err(AppError::Unauthenticated(LOG_IN_FIRST.into())),
            Viewer::Resident { .. } => Err(AppError::Forbidden("staff only".into())),
        }
    }
}

/// What an anonymous caller is told where a signed-in person is needed.
pub const LOG_IN_FIRST: &str = "log in first";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_codes_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(*role));
        }
        assert!("admin".parse::<Role>().is_err());
    }
}
