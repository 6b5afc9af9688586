//! Page links that resume a walk (the secrets list, the audit log) where the last page ended.
//!
//! A link carries its resume point (a secret name, a position in the audit log) and a MAC
//! over it, the kind of list, the account and the search it belongs to, under a key made when
//! the process starts. A link that was edited, belongs to another account or another search,
//! or comes from before a restart fails the check and is refused with a clear message; the
//! resume point itself is only ever used as a bound of a scoped query, so even a valid link
//! cannot show another account's data.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use coffer_core::AccountId;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::ConsoleError;

/// Longest page link accepted (a resume point is a secret name or a number).
pub const MAX_CURSOR_LEN: usize = 2048;
/// Bytes of the MAC kept in a link.
const TAG_LEN: usize = 16;

pub struct Cursors {
    key: Zeroizing<[u8; 32]>,
}

impl Default for Cursors {
    fn default() -> Self {
        Self::new()
    }
}

impl Cursors {
    pub fn new() -> Self {
        use rand::RngCore;
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut key[..]);
        Self { key }
    }

    fn tag(&self, kind: &str, account: AccountId, search: &str, position: &[u8]) -> Hmac<Sha256> {
        // Lengths first, so that no two different inputs give the same MAC input.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key[..])
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        for part in [kind.as_bytes(), search.as_bytes(), position] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(&account.0.to_be_bytes());
        mac
    }

    /// The link text that resumes a `kind` list of `account` after `position`, for the
    /// search whose canonical text is `search`.
    pub fn seal(&self, kind: &str, account: AccountId, search: &str, position: &str) -> String {
        let tag = self
            .tag(kind, account, search, position.as_bytes())
            .finalize()
            .into_bytes();
        let mut raw = position.as_bytes().to_vec();
        raw.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The resume point of a link made by [`seal`](Self::seal) with the same kind, account
    /// and search; any other text is refused.
    pub fn open(
        &self,
        kind: &str,
        account: AccountId,
        search: &str,
        text: &str,
    ) -> Result<String, ConsoleError> {
        let refused = || {
            ConsoleError::new(
                400,
                "InvalidPageLink",
                "The page link is not valid: it was changed, belongs to another search, or the \
                 server restarted since. Start again from the first page.",
            )
        };
        if text.len() > MAX_CURSOR_LEN {
            return Err(refused());
        }
        let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| refused())?;
        let split = raw.len().checked_sub(TAG_LEN).ok_or_else(refused)?;
        let (position, tag) = raw.split_at(split);
        // `verify_truncated_left` compares in constant time.
        self.tag(kind, account, search, position)
            .verify_truncated_left(tag)
            .map_err(|_| refused())?;
        String::from_utf8(position.to_vec()).map_err(|_| refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_opens_only_for_its_list_account_and_search() {
        let c = Cursors::new();
        let a = AccountId(7);
        let link = c.seal("secrets", a, "name=db", "db/0042");
        assert_eq!(
            c.open("secrets", a, "name=db", &link).ok().as_deref(),
            Some("db/0042")
        );
        assert!(c.open("secrets", AccountId(8), "name=db", &link).is_err());
        assert!(c.open("secrets", a, "name=dc", &link).is_err());
        assert!(c.open("audit", a, "name=db", &link).is_err());
        // Another process's key.
        assert!(Cursors::new().open("secrets", a, "name=db", &link).is_err());
        // Edited, truncated, not base64, too long, empty.
        let mut edited = link.clone().into_bytes();
        edited[0] = if edited[0] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(edited).unwrap_or_default();
        for bad in [
            edited.as_str(),
            &link[..link.len() - 2],
            "%%%",
            "",
            &"A".repeat(5000),
        ] {
            let e = c.open("secrets", a, "name=db", bad).err();
            assert_eq!(e.map(|e| e.code), Some("InvalidPageLink"), "{bad}");
        }
        // A forged position with a made-up MAC.
        let forged = URL_SAFE_NO_PAD.encode([b"zzz".as_slice(), &[0u8; 16]].concat());
        assert!(c.open("secrets", a, "name=db", &forged).is_err());
    }
}
