//! Targets that run a request through a whole dialect: `coffer_api::handle` (parse,
//! authenticate, operation, permission, authorize, execute, render) on the harness's service.
//!
//! The input is a request in the wire format; it is signed again with the admin key before it
//! is handled (fresh timestamp and nonce), so the fuzzer's mutations reach the operation
//! parsers and the core instead of dying at the signature check. An input that starts with
//! `!` is handled as it is, unsigned, to reach authentication's own error paths.
//!
//! Checked on every answer:
//! - no panic, in the handler or in any task it starts (libFuzzer's panic hook aborts);
//! - a status a server may send, and never a 5xx or an internal-error code: with the store
//!   healthy every input is either served or refused as the client's fault;
//! - a JSON answer is JSON and an XML answer is well-formed XML;
//! - the canary secret's value appears only in successful answers, never in an error and
//!   never in the audit facts.

use coffer_api::{AdmitAll, Dialect, Handled};

use crate::harness::{self, Harness, ACCESS_KEY_ID, ACCESS_KEY_SECRET, REQUEST_ID};
use crate::resign::{Scheme, Signer};
use crate::wire::WireRequest;

/// Error codes the dialects give `core::Error::Internal` (Tencent answers them with 200).
const INTERNAL_CODES: [&str; 4] = ["InternalFailure", "InternalError", "CSMS.0500", "Internal"];

fn run<D: Dialect>(h: &Harness, dialect: &D, data: &[u8], scheme: impl Fn(&WireRequest) -> Scheme) {
    let (raw, data) = match data.split_first() {
        Some((b'!', rest)) => (true, rest),
        _ => (false, data),
    };
    h.clock.advance_millis(1);
    let mut req = WireRequest::parse(data);
    if !raw {
        let nonce = harness::fresh_nonce();
        let signer = Signer {
            access_key_id: ACCESS_KEY_ID,
            secret: ACCESS_KEY_SECRET,
            now: h.service.now().as_secs(),
            nonce: &nonce,
        };
        scheme(&req).sign(&mut req, &signer);
    }
    let http = req.http(REQUEST_ID);
    // The server hands a request to the first dialect that claims it; one this dialect does
    // not claim never reaches it.
    if !dialect.recognises(&http) {
        return;
    }
    let handled = h.rt.block_on(coffer_api::handle(dialect, &AdmitAll, &http));
    if trace() {
        eprintln!(
            "coffer-fuzz: {} {} {} {}",
            D::NAME,
            handled.audit.operation,
            handled.reply.status,
            handled.audit.result
        );
    }
    check(h, D::NAME, &handled);
}

/// `COFFER_FUZZ_TRACE=1` prints each request's operation and result (to see how far a corpus
/// gets: `<target binary> -runs=0 <corpus dir>`).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("COFFER_FUZZ_TRACE").is_some())
}

fn check(h: &Harness, dialect: &str, handled: &Handled) {
    let reply = &handled.reply;
    let audit = &handled.audit;
    assert!(
        (200..500).contains(&reply.status),
        "{dialect}: status {} ({})",
        reply.status,
        audit.result
    );
    assert!(
        !INTERNAL_CODES.contains(&audit.result.as_str()),
        "{dialect}: internal error answered"
    );
    assert!(
        !audit.result.is_empty(),
        "{dialect}: no result in the audit facts"
    );
    if reply.content_type.contains("json") && !reply.body.is_empty() {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&reply.body) {
            panic!("{dialect}: the JSON answer does not parse: {e}");
        }
    }
    if reply.content_type.contains("xml") {
        let mut reader = quick_xml::Reader::from_reader(&reply.body[..]);
        let mut buf = Vec::new();
        loop {
            match reader.read_event_into(&mut buf) {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => buf.clear(),
                Err(e) => panic!("{dialect}: the XML answer is not well-formed: {e}"),
            }
        }
    }
    let canary = h.canary.as_bytes();
    // Compared without an early exit: libFuzzer watches ordinary comparisons (memcmp, `==` on
    // slices) and feeds the bytes they compare with back into its inputs, so a plain search
    // would teach it the canary, and a request that merely quotes it back would look like a
    // leak. Folding the differences leaves it only the final all-or-nothing test.
    let contains = |hay: &[u8]| {
        hay.windows(canary.len())
            .any(|w| w.iter().zip(canary).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
    };
    if audit.result != "OK" {
        assert!(
            !contains(&reply.body),
            "{dialect}: an error answer ({}) carries a secret value",
            audit.result
        );
    }
    let facts = format!("{audit:?}");
    assert!(
        !contains(facts.as_bytes()),
        "{dialect}: the audit facts carry a secret value"
    );
}

pub fn alibaba(data: &[u8]) {
    let h = harness::get();
    run(h, &h.alibaba, data, |r| {
        if r.has_header("authorization") {
            Scheme::AlibabaAcs3
        } else {
            Scheme::AlibabaRpc
        }
    });
}

pub fn tencent(data: &[u8]) {
    let h = harness::get();
    run(h, &h.tencent, data, |r| {
        if r.has_header("authorization") || r.has_header("x-tc-action") {
            Scheme::Tc3
        } else {
            Scheme::TencentV1
        }
    });
}

pub fn huawei(data: &[u8]) {
    let h = harness::get();
    run(h, &h.huawei, data, |_| Scheme::Huawei);
}

pub fn native(data: &[u8]) {
    let h = harness::get();
    // The admin API can delete or disable the harness's own key and account, after which
    // every later input would fail authentication and fuzz nothing. Requests that name either
    // are skipped; every other id reaches the same routes.
    let req = WireRequest::parse(data.strip_prefix(b"!").unwrap_or(data));
    let names_admin = req.path.split('/').any(|seg| {
        let seg = coffer_auth::encoding::percent_decode(seg.as_bytes(), "path").unwrap_or_default();
        seg == ACCESS_KEY_ID || seg == h.admin_account
    });
    if names_admin {
        return;
    }
    run(h, &h.native, data, |_| Scheme::SigV4);
}

pub fn aws(data: &[u8]) {
    let h = harness::get();
    run(h, &h.aws, data, |_| Scheme::SigV4Aws);
}
