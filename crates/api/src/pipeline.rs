//! The one request pipeline: authenticate → scope → authorize every target → admit →
//! execute → render, the same for every API. The server adds what surrounds it (dispatch,
//! the audit entry, HTTP) and decides admission.

use std::future::Future;

use coffer_core::service::AuthenticatedKey;
use coffer_core::{Permission, Scope};

use crate::{AuditFacts, Dialect, HttpRequest, Reply};

/// An authorized operation about to run, as [`Admission`] sees it. (No `Debug`: the caller
/// carries its key's secret.)
#[derive(Clone, Copy)]
pub struct Admit<'a> {
    /// The dialect's name (`alibaba`, `tencent`, `huawei`, `native`).
    pub dialect: &'static str,
    pub caller: &'a AuthenticatedKey,
    pub scope: &'a Scope,
    /// What the operation was authorized for: its action(s) and targets.
    pub permission: &'a Permission,
    /// The rate group the operation counts against ([`Dialect::rate_group`]).
    pub rate_group: Option<&'static str>,
}

/// The server's last word on an operation the caller is allowed: after authorization and
/// before [`Dialect::execute`], for every request of every dialect. It is where conditions of
/// the server rather than of the caller's rights refuse an operation: the audit log that
/// cannot record it, and request rates. A refusal is a `coffer_core::Error`
/// ([`Unavailable`](coffer_core::Error::Unavailable), `Throttled`), which the dialect renders
/// in its cloud's format like any other error; the operation does not run. (Quotas on what
/// an operation creates are checked where it is written, in the store's transaction.)
pub trait Admission: Send + Sync {
    fn admit(
        &self,
        request: &Admit<'_>,
    ) -> impl Future<Output = Result<(), coffer_core::Error>> + Send;
}

/// Admits every operation: for tests and tools that run a dialect without a server around it.
#[derive(Clone, Copy, Debug, Default)]
pub struct AdmitAll;

impl Admission for AdmitAll {
    async fn admit(&self, _request: &Admit<'_>) -> Result<(), coffer_core::Error> {
        Ok(())
    }
}

/// The step of the pipeline a request failed at, which says what kind of failure it was
/// (metrics count requests by it) without looking at any dialect's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The envelope could not be read (or the server refused the request's shape).
    Parse,
    /// The signature, the clock window, replay or the key itself.
    Authenticate,
    /// The operation or its parameters.
    Operation,
    /// The caller's policies do not allow it.
    Authorize,
    /// The server's admission (audit log health, request rates).
    Admit,
    /// The operation ran and failed.
    Execute,
}

/// A request's answer and what its audit entry records.
#[derive(Debug)]
pub struct Handled {
    pub reply: Reply,
    pub audit: AuditFacts,
    /// The server's [`Admission`] refused the operation (it was authorized but did not run);
    /// the reply is that refusal in the dialect's format.
    pub refused_at_admission: bool,
    /// The operation's name from its enum ([`Dialect::operation_name`]), once it was parsed.
    pub operation: Option<&'static str>,
    /// Where it failed; `None` when it succeeded.
    pub failed_at: Option<Stage>,
}

/// Runs one request through `dialect`, asking `admission` before the operation executes. The
/// answer is always rendered by the dialect; the audit facts carry the result code the client
/// saw.
pub async fn handle<D: Dialect, A: Admission>(
    dialect: &D,
    admission: &A,
    req: &HttpRequest<'_>,
) -> Handled {
    let mut audit = AuditFacts::default();
    let mut refused_at_admission = false;
    let mut progress = Progress {
        stage: Stage::Parse,
        operation: None,
    };
    let outcome = coffer_core::store::serving_request(run(
        dialect,
        admission,
        req,
        &mut audit,
        &mut refused_at_admission,
        &mut progress,
    ))
    .await;
    match &outcome {
        Ok(_) => audit.result = "OK".into(),
        Err(e) => {
            let code = D::error_code(e);
            if refused_at_admission {
                // The admission logs its own refusals, summed up: a client retrying into a
                // rate limit would otherwise write a line per request.
                tracing::debug!(dialect = D::NAME, code, "request refused at admission");
            } else if audit.account.is_some() {
                // Anyone who reaches the port can cause refusals before authentication, so
                // the server logs those itself, a limited number per client address.
                tracing::info!(dialect = D::NAME, code, "request refused");
            }
            audit.result = code.to_string();
        }
    }
    let failed_at = outcome.is_err().then_some(progress.stage);
    Handled {
        reply: dialect.render(req, outcome),
        audit,
        refused_at_admission,
        operation: progress.operation,
        failed_at,
    }
}

/// How far a request got: the step running, and the operation once known.
struct Progress {
    stage: Stage,
    operation: Option<&'static str>,
}

async fn run<D: Dialect, A: Admission>(
    dialect: &D,
    admission: &A,
    req: &HttpRequest<'_>,
    audit: &mut AuditFacts,
    refused_at_admission: &mut bool,
    progress: &mut Progress,
) -> Result<D::Output, D::Error> {
    let signed = dialect.parse(req, audit)?;
    progress.stage = Stage::Authenticate;
    let caller = dialect.authenticate(req, &signed, audit).await?;
    audit.account = Some(caller.account.0);
    progress.stage = Stage::Operation;
    let (call, op) = dialect.operation(req, signed, &caller).await?;
    progress.operation = Some(D::operation_name(&op));
    let scope = D::scope(&call);
    let permission = D::permission(&op);
    // Named before the check, so that a denial is audited with what it refused.
    audit.action = permission.action();
    audit.resource = permission.resources(scope);
    audit.durable_permission = Some(permission.audit_durably());
    progress.stage = Stage::Authorize;
    dialect
        .service()
        .authorize_permission(&caller, scope, &permission)
        .await?;
    let admit = Admit {
        dialect: D::NAME,
        caller: &caller,
        scope,
        permission: &permission,
        rate_group: D::rate_group(&op),
    };
    progress.stage = Stage::Admit;
    if let Err(e) = admission.admit(&admit).await {
        *refused_at_admission = true;
        return Err(e.into());
    }
    progress.stage = Stage::Execute;
    dialect.execute(&call, op).await
}
