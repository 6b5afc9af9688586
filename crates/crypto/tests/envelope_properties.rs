//! Envelope encryption, property-tested: any value (empty and 64 KiB included) comes back
//! exactly under the key and associated data it was sealed with, and under nothing else; a
//! blob with any one byte changed, cut short or extended opens under nothing; a rewrap moves
//! the data key and leaves the value's ciphertext alone.

use coffer_crypto::{open, rewrap, seal, CryptoError, Envelope, SecretKey};
use proptest::prelude::*;
use rand::{RngCore, SeedableRng};

/// The largest value the service stores by default (`Limits::max_value_bytes`).
const MAX_VALUE: usize = 64 * 1024;

/// Value sizes with the edges always in play: empty, one byte, one AES block and around it,
/// the largest value, and anything below 4 KiB.
fn value_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1usize),
        Just(15usize),
        Just(16usize),
        Just(17usize),
        Just(MAX_VALUE),
        0usize..4096,
    ]
}

/// A value of `len` bytes from `seed` (generated, not drawn byte by byte, so 64 KiB values
/// cost nothing to produce or shrink).
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut out);
    out
}

fn key(seed: u64) -> SecretKey {
    SecretKey::from_slice(&bytes(32, seed)).unwrap_or_else(|e| panic!("32 bytes: {e}"))
}

/// One of the envelope's two blobs: the wrapped data key or the value's ciphertext.
fn blob_of(env: &mut Envelope, data_key: bool) -> &mut Vec<u8> {
    if data_key {
        &mut env.wrapped_data_key
    } else {
        &mut env.ciphertext
    }
}

fn refused(result: Result<zeroize::Zeroizing<Vec<u8>>, CryptoError>) -> bool {
    result == Err(CryptoError::Authentication)
}

/// `default` cases, or `PROPTEST_CASES` when set (to search longer than `cargo test` does).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    // 64 cases each, a few seconds in a debug build.
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    #[test]
    fn a_sealed_value_opens_under_its_key_and_aad_only(
        len in value_len(),
        seed in any::<u64>(),
        aad in prop::collection::vec(any::<u8>(), 0..96),
        other_aad in prop::collection::vec(any::<u8>(), 0..96),
        other_key in any::<u64>(),
    ) {
        let value = bytes(len, seed);
        let cmk = key(seed ^ 0x5eed);
        let env = seal(&cmk, &aad, &value);
        let opened = open(&cmk, &aad, &env).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&opened[..], &value[..]);

        // The value is encrypted: nothing of it shows (checked where a match by chance is
        // out of the question).
        if len >= 16 {
            prop_assert!(!env.ciphertext.windows(16).any(|w| w == &value[..16]));
        }
        // A fresh data key and nonce every time: the same value seals differently.
        let again = seal(&cmk, &aad, &value);
        prop_assert_ne!(&again.wrapped_data_key, &env.wrapped_data_key);
        prop_assert_ne!(&again.ciphertext, &env.ciphertext);

        if other_aad != aad {
            prop_assert!(refused(open(&cmk, &other_aad, &env)));
        }
        let wrong = key(other_key);
        if !wrong.ct_eq(&cmk) {
            prop_assert!(refused(open(&wrong, &aad, &env)));
        }
    }

    #[test]
    fn any_changed_byte_is_refused(
        len in value_len(),
        seed in any::<u64>(),
        in_data_key in any::<bool>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let value = bytes(len, seed);
        let cmk = key(seed.rotate_left(7));
        let env = seal(&cmk, b"account|region|secret|version", &value);
        let mut bad = env.clone();
        let blob = blob_of(&mut bad, in_data_key);
        let i = at.index(blob.len());
        blob[i] ^= flip;
        prop_assert!(refused(open(&cmk, b"account|region|secret|version", &bad)));
    }

    #[test]
    fn cut_or_extended_blobs_are_refused(
        len in value_len(),
        seed in any::<u64>(),
        in_data_key in any::<bool>(),
        keep in any::<prop::sample::Index>(),
        extra in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        let value = bytes(len, seed);
        let cmk = key(!seed);
        let env = seal(&cmk, b"aad", &value);
        let mut cut = env.clone();
        let field = blob_of(&mut cut, in_data_key);
        let n = keep.index(field.len());
        field.truncate(n);
        prop_assert!(refused(open(&cmk, b"aad", &cut)));

        let mut longer = env.clone();
        blob_of(&mut longer, in_data_key).extend_from_slice(&extra);
        prop_assert!(refused(open(&cmk, b"aad", &longer)));
    }

    #[test]
    fn rewrap_moves_the_data_key_only(
        len in value_len(),
        seed in any::<u64>(),
        aad in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let value = bytes(len, seed);
        let (from, to) = (key(seed), key(seed.wrapping_add(1)));
        let env = seal(&from, &aad, &value);
        let moved = rewrap(&from, &to, &aad, &env).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&moved.ciphertext, &env.ciphertext);
        let opened = open(&to, &aad, &moved).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&opened[..], &value[..]);
        prop_assert!(refused(open(&from, &aad, &moved)));
        // A rewrap needs the key that wrapped it, and the same associated data.
        prop_assert!(rewrap(&to, &from, &aad, &env).is_err());
        let mut other = aad.clone();
        other.push(0);
        prop_assert!(rewrap(&from, &to, &other, &env).is_err());
    }
}
