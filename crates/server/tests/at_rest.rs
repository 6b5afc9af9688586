//! Encryption at rest, through the real binary: a known value never reaches the database
//! file or its WAL in any encoding, and a ciphertext moved to another version's row is
//! refused instead of decrypted.

mod common;

use base64::Engine;
use common::Server;

const MARKER: &str = "coffer-plaintext-marker-7d1f0c9e";

fn encodings(value: &str) -> Vec<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        value.as_bytes().to_vec(),
        b64.encode(value).into_bytes(),
        b64.encode(&value[1..]).into_bytes(),
        b64.encode(&value[2..]).into_bytes(),
        value
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into_bytes(),
        value.encode_utf16().flat_map(u16::to_le_bytes).collect(),
    ]
}

fn files_under(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .expect("read data dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.path().display().to_string(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect()
}

fn assert_absent(dir: &std::path::Path, value: &str) {
    let files = files_under(dir);
    assert!(
        files.iter().any(|(n, _)| n.ends_with("coffer.db")),
        "database file missing"
    );
    for (name, bytes) in files {
        for needle in encodings(value) {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{name} contains the secret value in some encoding"
            );
        }
    }
}

#[test]
fn values_are_never_on_disk_and_ciphertexts_are_bound_to_their_row() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let c = server.client();
    let v1 = format!("{MARKER}-v1");
    let v2 = format!("{MARKER}-v2");
    c.ok(
        "CreateSecret",
        &[
            ("SecretName", "at-rest"),
            ("VersionId", "v1"),
            ("SecretData", &v1),
        ],
    );
    c.ok(
        "PutSecretValue",
        &[
            ("SecretName", "at-rest"),
            ("VersionId", "v2"),
            ("SecretData", &v2),
        ],
    );
    // While running: the WAL holds the fresh commits.
    assert_absent(&data, MARKER);
    assert!(
        !server.log_text().contains(MARKER),
        "the log contains a secret value"
    );
    assert!(server.terminate(), "SIGTERM did not shut down cleanly");
    // After a clean stop the WAL is checkpointed into the main file.
    assert_absent(&data, MARKER);

    // Move v1's sealed value into v2's row. The bytes are genuine ciphertext, but their
    // associated data names v1, so opening them as v2 must fail.
    {
        let db = rusqlite::Connection::open(data.join("coffer.db")).expect("open db");
        let cols: Vec<String> = {
            let mut st = db
                .prepare("SELECT name FROM pragma_table_info('versions')")
                .expect("pragma");
            st.query_map([], |r| r.get::<_, String>(0))
                .expect("columns")
                .filter_map(Result::ok)
                .collect()
        };
        let blob_cols: Vec<&String> = cols
            .iter()
            .filter(|c| c.contains("wrapped") || c.contains("cipher"))
            .collect();
        assert!(!blob_cols.is_empty(), "no ciphertext columns in {cols:?}");
        for col in blob_cols {
            let sql = format!(
                "UPDATE versions SET {col} = (SELECT {col} FROM versions WHERE version_id = 'v1') WHERE version_id = 'v2'"
            );
            assert_eq!(db.execute(&sql, []).expect("tamper"), 1);
        }
    }
    let server = Server::start(&data);
    let c = server.client();
    let (status, body) = c.call("GetSecretValue", &[("SecretName", "at-rest")]);
    assert_eq!(status, 500, "a moved ciphertext must not decrypt: {body}");
    assert_eq!(body["Code"], "InternalFailure");
    assert!(!body.to_string().contains(MARKER));
    // The untouched version still reads.
    let ok = c.ok(
        "GetSecretValue",
        &[("SecretName", "at-rest"), ("VersionId", "v1")],
    );
    assert_eq!(ok["SecretData"], v1.as_str());
    assert!(
        !server.log_text().contains(MARKER),
        "the log contains a secret value"
    );
}
