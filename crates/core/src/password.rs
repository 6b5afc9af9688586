//! Random passwords (Alibaba GetRandomPassword, Tencent and Huawei peers, and rotation).

use rand::seq::SliceRandom;
use rand::{CryptoRng, Rng};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordOptions {
    pub length: usize,
    pub exclude_characters: String,
    pub exclude_lowercase: bool,
    pub exclude_uppercase: bool,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    /// At least one character of every class that is not excluded.
    pub require_each_included_type: bool,
}

impl Default for PasswordOptions {
    fn default() -> Self {
        Self {
            length: 32,
            exclude_characters: String::new(),
            exclude_lowercase: false,
            exclude_uppercase: false,
            exclude_numbers: false,
            exclude_punctuation: false,
            require_each_included_type: true,
        }
    }
}

/// Draws a password from a cryptographically secure generator. Errors name the option at
/// fault: nothing left to draw from, or a required class emptied by `exclude_characters`.
pub fn generate<R: Rng + CryptoRng>(
    opts: &PasswordOptions,
    rng: &mut R,
) -> Result<Zeroizing<String>> {
    let classes: Vec<Vec<char>> = [
        (LOWER, opts.exclude_lowercase),
        (UPPER, opts.exclude_uppercase),
        (DIGITS, opts.exclude_numbers),
        (PUNCTUATION, opts.exclude_punctuation),
    ]
    .iter()
    .filter(|(_, excluded)| !excluded)
    .map(|(set, _)| {
        set.chars()
            .filter(|c| !opts.exclude_characters.contains(*c))
            .collect::<Vec<char>>()
    })
    .collect();
    let all: Vec<char> = classes.iter().flatten().copied().collect();
    if all.is_empty() {
        return Err(Error::invalid(
            "ExcludeCharacters",
            "the exclusions leave no character to build a password from",
        ));
    }
    let mut chars: Vec<char> = Vec::with_capacity(opts.length);
    if opts.require_each_included_type {
        if classes.iter().any(|c| c.is_empty()) {
            return Err(Error::invalid(
                "ExcludeCharacters",
                "every character of an included type is excluded, so RequireEachIncludedType cannot hold",
            ));
        }
        if classes.len() > opts.length {
            return Err(Error::invalid(
                "PasswordLength",
                "too short to include one character of every included type",
            ));
        }
        for class in &classes {
            chars.extend(class.choose(rng));
        }
    }
    while chars.len() < opts.length {
        chars.extend(all.choose(rng));
    }
    chars.shuffle(rng);
    Ok(Zeroizing::new(chars.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn default_has_every_class() {
        for _ in 0..50 {
            let p = generate(&PasswordOptions::default(), &mut OsRng).unwrap();
            assert_eq!(p.chars().count(), 32);
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| PUNCTUATION.contains(c)));
        }
    }

    #[test]
    fn exclusions_hold() {
        let opts = PasswordOptions {
            length: 64,
            exclude_characters: "abc012".into(),
            exclude_punctuation: true,
            exclude_uppercase: true,
            ..Default::default()
        };
        let p = generate(&opts, &mut OsRng).unwrap();
        assert!(p
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert!(!p.chars().any(|c| "abc012".contains(c)));
    }

    #[test]
    fn impossible_requests_are_errors() {
        let none = PasswordOptions {
            exclude_lowercase: true,
            exclude_uppercase: true,
            exclude_numbers: true,
            exclude_punctuation: true,
            ..Default::default()
        };
        assert!(generate(&none, &mut OsRng).is_err());
        let digits_gone = PasswordOptions {
            exclude_characters: DIGITS.into(),
            ..Default::default()
        };
        assert!(generate(&digits_gone, &mut OsRng).is_err());
        let lenient = PasswordOptions {
            require_each_included_type: false,
            ..digits_gone
        };
        assert!(generate(&lenient, &mut OsRng).is_ok());
    }
}
