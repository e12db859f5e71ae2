//! Network facts the device API's rules need: the prefix a client address belongs to (IPv4 /24,
//! IPv6 /48), so that one host, or one small network, counts once however many clients it fakes.

use core::net::IpAddr;

/// `203.0.113.0/24` for an IPv4 address, `2001:db8:1::/48` for an IPv6 one (IPv4-mapped IPv6
/// addresses count as IPv4).
#[must_use]
pub fn prefix(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => prefix(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_group_by_their_network() {
        let v4 = |text: &str| prefix(text.parse().expect("address"));
        assert_eq!(v4("203.0.113.7"), "203.0.113.0/24");
        assert_eq!(v4("203.0.113.200"), v4("203.0.113.1"), "one /24");
        assert_ne!(v4("203.0.114.1"), v4("203.0.113.1"));
        assert_eq!(v4("2001:db8:1:2::5"), "2001:db8:1::/48");
        assert_eq!(v4("2001:db8:1:ffff::1"), v4("2001:db8:1::"), "one /48");
        assert_eq!(v4("::ffff:198.51.100.9"), "198.51.100.0/24", "mapped IPv4 counts as IPv4");
    }
}
