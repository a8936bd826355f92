//! Identity in the API: `me`, the logins, refresh, logout and phone binding.
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{
    auth::{
        account,
        model::{Role, SubjectKind},
        service::{self, Profile, Tokens},
    },
    graphql::context::{ContextExt, GqlResult},
};

/// Who the signed-in person is.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ViewerKind {
    /// A resident or enterprise contact signed in through the mini-program (群众/企业).
    Resident,
    /// A member of staff (帮办代办员, administrator, inspector, auditor).
    Staff,
}

/// The signed-in person, as they may see themselves.
pub struct ViewerType(Profile);

/// The signed-in person, as they may see themselves.
#[Object(name = "Viewer")]
impl ViewerType {
    /// Stable id of the person (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Resident or staff: decides which parts of the app to show.
    async fn kind(&self) -> ViewerKind {
        match self.0.kind {
            SubjectKind::Resident => ViewerKind::Resident,
            SubjectKind::Staff => ViewerKind::Staff,
        }
    }
    /// Staff only: the role that decides what this person may do.
    async fn role(&self) -> Option<Role> {
        self.0.role
    }
    /// Staff only: the unit (region or service point) the person belongs to.
    async fn unit_id(&self) -> Option<ID> {
        self.0.unit_id.map(|id| ID(id.to_string()))
    }
    /// Staff only: the name shown to residents and on the public roster.
    async fn display_name(&self) -> Option<&str> {
        self.0.display_name.as_deref()
    }
    /// Residents only: the bound mobile number, masked (`138****5678`); null until bound.
    async fn phone(&self) -> Option<&str> {
        self.0.phone_masked.as_deref()
    }
    /// Staff only: whether a WeChat is bound (`bindStaffWechat`), so that what concerns this
    /// person can reach them by subscribe message.
    async fn wechat_bound(&self) -> Option<bool> {
        self.0.wechat_bound
    }
}

/// Tokens for a new or refreshed session.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer <accessToken>` on HTTP, or in the WebSocket
    /// `connection_init` payload as `{"Authorization": "Bearer <accessToken>"}`.
    access_token: String,
    /// Opaque, single use: exchange it with `refreshSession` before `expiresAt`. Keep it in
    /// `wx.setStorage`, never in logs. Using it twice ends the session.
    refresh_token: String,
    /// When the access token stops working.
    expires_at: DateTime<Utc>,
    /// The person the tokens belong to.
    viewer: ViewerType,
}

async fn payload(ctx: &Context<'_>, tokens: Tokens) -> GqlResult<AuthPayload> {
    let state = ctx.state();
    let profile = account::profile(state, &tokens.viewer).await?;
    Ok(AuthPayload {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        expires_at: tokens.expires_at,
        viewer: ViewerType(profile),
    })
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The signed-in person. UNAUTHENTICATED without a valid access token.
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<ViewerType> {
        Ok(ViewerType(
            account::profile(ctx.state(), ctx.viewer()).await?,
        ))
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Sign in with the code from `wx.login()` (valid 5 minutes, single use). A code that is
    /// invalid, expired or used answers BAD_USER_INPUT (field `code`): call `wx.login()` again.
    /// UPSTREAM_WECHAT when WeChat stays busy; RATE_LIMITED (with `retryAfter`) when too many
    /// logins come from one address.
    async fn login_with_wechat(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `code` from `wx.login()`.")] code: String,
    ) -> GqlResult<AuthPayload> {
        let tokens = service::login_with_wechat(ctx.state(), &code, ctx.client_ip()).await?;
        payload(ctx, tokens).await
    }

    /// Staff sign-in. Wrong credentials answer UNAUTHENTICATED without saying which part was
    /// wrong; repeated failures lock the account for a while (RATE_LIMITED with `retryAfter`).
    async fn login_staff(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The login name (not case-sensitive).")] username: String,
        #[graphql(desc = "The account's password.")] password: String,
    ) -> GqlResult<AuthPayload> {
        let tokens =
            service::login_staff(ctx.state(), &username, &password, ctx.client_ip()).await?;
        payload(ctx, tokens).await
    }

    /// Exchange a refresh token for a new access token and a new refresh token (the old one is
    /// spent). Presenting a spent refresh token ends the whole session: log in again.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `refreshToken` of the latest `AuthPayload`.")] refresh_token: String,
    ) -> GqlResult<AuthPayload> {
        let tokens = service::refresh_session(ctx.state(), &refresh_token).await?;
        payload(ctx, tokens).await
    }

    /// End the current session: its access and refresh tokens stop working at once.
    /// Returns false when the session had already ended.
    async fn logout(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        Ok(service::logout(ctx.state(), ctx.viewer()).await?)
    }

    /// Bind the mobile number from a `<button open-type="getPhoneNumber">` code (valid
    /// 5 minutes, single use). The number is stored encrypted and shown masked.
    async fn bind_phone(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `code` of the `bindgetphonenumber` event (`e.detail.code`).")]
        code: String,
    ) -> GqlResult<ViewerType> {
        Ok(ViewerType(
            account::bind_phone(ctx.state(), ctx.viewer(), &code).await?,
        ))
    }

    /// Staff: bind the WeChat behind a `wx.login()` code to the signed-in staff account, so
    /// that what concerns them (a case transferred to their unit, a case due soon) reaches them
    /// by subscribe message once they consent (`recordSubscribeConsent`). One WeChat per staff
    /// account and one staff account per WeChat: a WeChat bound to another staff account
    /// answers CONFLICT; binding another WeChat replaces the old one (and its consents).
    /// BAD_USER_INPUT (field `code`) for an invalid or used code; RATE_LIMITED when repeated.
    async fn bind_staff_wechat(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `code` from `wx.login()` in the staff's mini-program.")] code: String,
    ) -> GqlResult<ViewerType> {
        let state = ctx.state();
        crate::auth::staff_wechat::bind(state, ctx.viewer(), &code).await?;
        Ok(ViewerType(account::profile(state, ctx.viewer()).await?))
    }

    /// Staff: unbind the signed-in staff account's WeChat; staff pushes stop at once.
    async fn unbind_staff_wechat(&self, ctx: &Context<'_>) -> GqlResult<ViewerType> {
        let state = ctx.state();
        crate::auth::staff_wechat::unbind(state, ctx.viewer()).await?;
        Ok(ViewerType(account::profile(state, ctx.viewer()).await?))
    }
}
