//! The contract between the server and the APIs it speaks.
//!
//! Every API (Alibaba, Tencent, Huawei, the admin API, and the next one) implements
//! [`Dialect`]: it recognises its requests, reads the signed envelope, authenticates it,
//! turns it into one value of its own operation enum, names the permission that operation
//! needs, executes it and renders the answer in its cloud's wire format. [`handle`] is the one
//! pipeline that runs those steps in the same order for every API, so authorization and the
//! server's admission of an operation (the audit log's health, later throttling, quotas and
//! metrics) are written once.
//!
//! Authorization fails closed by construction: [`Dialect::permission`] returns a
//! [`Permission`] for every operation (an exhaustive `match` on the dialect's enum, with no
//! catch-all arm), and there is no value that means "no check". An operation the pipeline
//! cannot authorize does not run.

mod pipeline;
mod refusal;
mod request;

use std::future::Future;
use std::sync::Arc;

pub use coffer_core::service::AuthenticatedKey;
use coffer_core::Service;
pub use coffer_core::{Action, AuditFacts, Permission, Scope, Target};
pub use pipeline::{handle, Admission, Admit, AdmitAll, Handled, Stage};
pub use refusal::{refuse, Refusal};
pub use request::{HttpRequest, Reply};

/// One API that coffer speaks. The server asks each dialect in a fixed order whether a request
/// is its own (see the server's dispatch), then runs [`handle`] with the first that says yes.
///
/// The steps, in the order the pipeline calls them:
/// 1. [`recognises`](Dialect::recognises): cheap, from headers and path only.
/// 2. [`parse`](Dialect::parse): the signed envelope (access key id, signature fields, the
///    operation's wire name, raw parameters). Nothing in it is trusted yet.
/// 3. [`authenticate`](Dialect::authenticate): signature, clock window, replay; returns the
///    caller.
/// 4. [`operation`](Dialect::operation): the caller's scope and the typed operation with its
///    parameters. It runs after authentication so that an unsigned request learns nothing
///    about which parameters would have been accepted.
/// 5. [`permission`](Dialect::permission), checked by the pipeline for every target.
/// 6. The server's [`Admission`] (audit log health, request rates).
/// 7. [`execute`](Dialect::execute).
/// 8. [`render`](Dialect::render) the result or the first error, in the cloud's format.
pub trait Dialect: Send + Sync + 'static {
    /// The dialect's name in audit entries and logs (`alibaba`, `tencent`, ...).
    const NAME: &'static str;
    /// The request as read off the wire, before its signature is checked.
    type Signed: Send;
    /// What operations need besides their own parameters: at least the caller's scope.
    type Call: Send + Sync;
    /// One variant per wire operation, carrying its parsed parameters.
    type Operation: Send;
    /// What a successful operation returns, before rendering.
    type Output: Send;
    /// The dialect's error: a wire code, a status and a message.
    type Error: Send + From<coffer_core::Error>;

    /// The service operations run on (the pipeline authorizes through it).
    fn service(&self) -> &Service;

    /// Whether the request is addressed to this API.
    fn recognises(&self, req: &HttpRequest<'_>) -> bool;

    /// Reads the signed envelope. Fills in what the audit entry can know this early (the
    /// operation's wire name and the access key id claimed).
    fn parse(
        &self,
        req: &HttpRequest<'_>,
        audit: &mut AuditFacts,
    ) -> Result<Self::Signed, Self::Error>;

    /// Checks the signature, the clock window and replay, and returns the verified caller.
    /// A dialect may record the account in `audit` as soon as the signature proves it, so
    /// that a request refused later in the checks is still audited under its account.
    fn authenticate(
        &self,
        req: &HttpRequest<'_>,
        signed: &Self::Signed,
        audit: &mut AuditFacts,
    ) -> impl Future<Output = Result<Arc<AuthenticatedKey>, Self::Error>> + Send;

    /// Resolves the caller's scope and parses the operation with its parameters.
    fn operation(
        &self,
        req: &HttpRequest<'_>,
        signed: Self::Signed,
        caller: &AuthenticatedKey,
    ) -> impl Future<Output = Result<(Self::Call, Self::Operation), Self::Error>> + Send;

    /// The scope (account and coffer region) the call acts in.
    fn scope(call: &Self::Call) -> &Scope;

    /// What the caller must be allowed before `op` runs. Implement it as an exhaustive match
    /// on the operation enum, without a `_` arm, so that a new operation needs a rule.
    fn permission(op: &Self::Operation) -> Permission;

    /// The rate group `op` counts against: operations that share one request quota in the
    /// cloud's published limits (Tencent's each API alone, Alibaba's "secret reads" together,
    /// ...). `None`: never throttled (the admin API, operations no cloud limits). The server
    /// limits a group's requests per account when its `--limits` profile gives the group a
    /// rate. Like [`permission`](Dialect::permission), an exhaustive match.
    fn rate_group(op: &Self::Operation) -> Option<&'static str>;

    /// The operation's name as metrics label it: from the operation enum (its
    /// `OperationKind`), never from request text, so that the labels stay a fixed set.
    fn operation_name(op: &Self::Operation) -> &'static str;

    /// Runs the operation.
    fn execute(
        &self,
        call: &Self::Call,
        op: Self::Operation,
    ) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;

    /// The wire code of an error, as the audit entry records it.
    fn error_code(error: &Self::Error) -> &str;

    /// The error for a request the server refused for its shape (see [`Refusal`]), in this
    /// API's words. `req` carries the headers, path and query; its body is empty or a prefix.
    fn refusal(&self, req: &HttpRequest<'_>, refusal: Refusal) -> Self::Error;

    /// The answer in the cloud's format.
    fn render(&self, req: &HttpRequest<'_>, outcome: Result<Self::Output, Self::Error>) -> Reply;
}

/// Derives for operation enums: `#[derive(strum::EnumDiscriminants)]` with
/// `#[strum_discriminants(name(OperationKind), derive(strum::EnumIter, strum::IntoStaticStr))]`
/// gives every dialect a field-less list of its operations, which the fail-closed tests walk
/// so that a new operation joins them without anyone remembering to add it.
pub use strum;
