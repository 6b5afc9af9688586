//! The one request pipeline: authenticate → scope → authorize every target → execute →
//! render, the same for every API. The server adds what surrounds it (dispatch, the audit
//! entry, HTTP).

use crate::{AuditFacts, Dialect, HttpRequest, Reply};

/// A request's answer and what its audit entry records.
#[derive(Debug)]
pub struct Handled {
    pub reply: Reply,
    pub audit: AuditFacts,
}

/// Runs one request through `dialect`. The answer is always rendered by the dialect; the
/// audit facts carry the result code the client saw.
pub async fn handle<D: Dialect>(dialect: &D, req: &HttpRequest<'_>) -> Handled {
    let mut audit = AuditFacts::default();
    let outcome = run(dialect, req, &mut audit).await;
    match &outcome {
        Ok(_) => audit.result = "OK".into(),
        Err(e) => {
            let code = D::error_code(e);
            tracing::info!(dialect = D::NAME, code, "request refused");
            audit.result = code.to_string();
        }
    }
    Handled {
        reply: dialect.render(req, outcome),
        audit,
    }
}

async fn run<D: Dialect>(
    dialect: &D,
    req: &HttpRequest<'_>,
    audit: &mut AuditFacts,
) -> Result<D::Output, D::Error> {
    let signed = dialect.parse(req, audit)?;
    let caller = dialect.authenticate(req, &signed, audit).await?;
    audit.account = Some(caller.account.0);
    let (call, op) = dialect.operation(req, signed, &caller).await?;
    let scope = D::scope(&call);
    let permission = D::permission(&op);
    // Named before the check, so that a denial is audited with what it refused.
    audit.action = permission.action();
    audit.resource = permission.resources(scope);
    dialect
        .service()
        .authorize_permission(&caller, scope, &permission)
        .await?;
    dialect.execute(&call, op).await
}
