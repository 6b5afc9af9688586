//! The hosts an account other than the operator may register database instances on.
//!
//! Registering an instance makes the server connect to the host and port it names (to check
//! the admin login) and tells the caller how that went: without a limit, a tenant's admin
//! could probe any address the server can reach. The operator names what tenants may use
//! (`coffer serve --db-hosts-allowed`); by default nothing, so only the operator registers
//! instances.

use std::net::IpAddr;

/// Address ranges and host names, as `coffer serve --db-hosts-allowed` gives them:
/// `10.0.0.0/8`, `192.0.2.7`, `fd00::/8`, `db.internal`, or `*.db.internal` (any name below).
/// Names match names only and addresses match addresses only: a name is never resolved to
/// decide, since what it resolves to can change between the check and the connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbHostAllowList {
    nets: Vec<(IpAddr, u8)>,
    names: Vec<String>,
    suffixes: Vec<String>,
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let ((a, width), (b, width_net)) = (bits(ip), bits(net));
    if width != width_net {
        return false;
    }
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(width - prefix);
    a >> shift == b >> shift
}

impl DbHostAllowList {
    /// Parses a comma-separated list; the reason names the first entry that is none of the
    /// forms above.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = DbHostAllowList::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || format!("{entry:?} is not an address, an address/prefix or a host name");
            if let Some((addr, prefix)) = entry.split_once('/') {
                let ip = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
                let max = bits(ip).1;
                let prefix: u8 = prefix.parse().map_err(|_| bad())?;
                // `::ffff:10.0.0.0/104` is `10.0.0.0/8`.
                let prefix = if addr.contains(':') && max == 32 {
                    prefix.checked_sub(96).ok_or_else(bad)?
                } else {
                    prefix
                };
                if prefix > max {
                    return Err(bad());
                }
                out.nets.push((ip, prefix));
            } else if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
                let ip = canonical(ip);
                out.nets.push((ip, bits(ip).1));
            } else {
                let name = entry.to_ascii_lowercase();
                let (wild, rest) = match name.strip_prefix("*.") {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, name.clone()),
                };
                let valid = !rest.is_empty()
                    && rest.len() <= 253
                    && rest.split('.').all(|label| {
                        !label.is_empty()
                            && label.len() <= 63
                            && label
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    });
                if !valid {
                    return Err(bad());
                }
                if wild {
                    out.suffixes.push(format!(".{rest}"));
                } else {
                    out.names.push(rest);
                }
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty() && self.names.is_empty() && self.suffixes.is_empty()
    }

    /// Whether `host` (as a registration names it) is on the list.
    pub fn allows(&self, host: &str) -> bool {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            let ip = canonical(ip);
            return self
                .nets
                .iter()
                .any(|(net, prefix)| in_net(ip, *net, *prefix));
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        self.names.contains(&name)
            || self
                .suffixes
                .iter()
                .any(|s| name.len() > s.len() && name.ends_with(s.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_addresses_and_names_match_their_own_kind() {
        let l = DbHostAllowList::parse(
            "10.0.0.0/8, 192.0.2.7, fd00::/8, db.internal, *.pg.internal, ::ffff:172.16.0.0/108",
        )
        .unwrap();
        for yes in [
            "10.1.2.3",
            "10.255.255.255",
            "192.0.2.7",
            "fd12::1",
            "[fd12::1]",
            "::ffff:10.0.0.9",
            "DB.internal",
            "db.internal.",
            "a.pg.internal",
            "x.y.pg.internal",
            "172.16.4.4",
        ] {
            assert!(l.allows(yes), "{yes}");
        }
        for no in [
            "11.0.0.1",
            "192.0.2.8",
            "127.0.0.1",
            "fe80::1",
            "other.internal",
            "pg.internal",
            "db.internal.evil",
            "xdb.internal",
            "172.32.0.1",
            "",
        ] {
            assert!(!l.allows(no), "{no}");
        }
    }

    #[test]
    fn the_empty_list_allows_nothing_and_bad_entries_are_named() {
        let empty = DbHostAllowList::parse("").unwrap();
        assert!(empty.is_empty());
        assert!(!empty.allows("127.0.0.1"));
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/x",
            "a b",
            "*.",
            "::/129",
            "exa mple",
        ] {
            let e = DbHostAllowList::parse(bad).unwrap_err();
            assert!(e.contains(bad.trim()), "{bad}: {e}");
        }
        assert!(DbHostAllowList::parse("0.0.0.0/0")
            .unwrap()
            .allows("8.8.8.8"));
    }
}
