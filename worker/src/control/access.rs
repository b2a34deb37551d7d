//! Who may call `/v1/*`: the job's static bearer token (the operator's credential, which may operate), or a
//! person's OIDC token with the role its claims grant. Read routes need [`Role::Read`], the rest
//! [`Role::Operate`]; every operate call is logged with the caller's subject, the audit trail of who
//! savepointed or stopped a job.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sluice_api::control_oidc::Role;

use super::auth::TokenFile;
use super::oidc::{Caller, OidcVerifier, Refusal};
use super::server::{ControlState, error};

/// How the control API authenticates callers.
#[derive(Clone, Default)]
pub struct Access {
    /// None: no token file configured.
    pub token: Option<Arc<TokenFile>>,
    /// None: no OIDC issuer configured.
    pub oidc: Option<Arc<OidcVerifier>>,
}

/// What the job's static token is called in the audit log.
const JOB_TOKEN_SUBJECT: &str = "job-token";

impl Access {
    /// The caller behind the `Authorization` header, or the response refusing it.
    async fn caller(&self, authorization: Option<&[u8]>) -> Result<Caller, Response> {
        if self.token.is_none() && self.oidc.is_none() {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the control API has neither a token (worker.controlTokenFile / SLUICE_CONTROL_TOKEN_FILE) \
                 nor an OIDC issuer (spec.controlApi.oidc / SLUICE_CONTROL_OIDC) configured",
            ));
        }
        if self
            .token
            .as_ref()
            .is_some_and(|t| t.accepts(authorization))
        {
            return Ok(Caller {
                subject: JOB_TOKEN_SUBJECT.into(),
                role: Role::Operate,
            });
        }
        let bearer = authorization
            .and_then(|h| h.strip_prefix(b"Bearer "))
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::trim);
        let (Some(oidc), Some(bearer)) = (&self.oidc, bearer) else {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong bearer token",
            ));
        };
        oidc.verify(bearer).await.map_err(|refusal| {
            tracing::info!(reason = refusal.reason(), "control API token refused");
            let status = match refusal {
                Refusal::NoRole => StatusCode::FORBIDDEN,
                Refusal::KeysUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            error(status, refusal.reason(), refusal.to_string())
        })
    }
}

/// Middleware for read routes.
pub async fn require_read(State(st): State<ControlState>, req: Request, next: Next) -> Response {
    require(&st, Role::Read, req, next).await
}

/// Middleware for operate routes.
pub async fn require_operate(State(st): State<ControlState>, req: Request, next: Next) -> Response {
    require(&st, Role::Operate, req, next).await
}

async fn require(st: &ControlState, needed: Role, req: Request, next: Next) -> Response {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let caller = match st.access.caller(authorization).await {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    if caller.role < needed {
        tracing::info!(subject = %caller.subject, path = %req.uri().path(), "control API call forbidden: read role only");
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token grants the read role; the call needs the operate role",
        );
    }
    if needed == Role::Operate {
        tracing::info!(subject = %caller.subject, method = %req.method(), path = %req.uri().path(), "control API call");
    }
    next.run(req).await
}
