//! Just enough DER to read a certificate's subject: the certificate has been verified by rustls
//! already, so this only walks it; anything unexpected gives `None`, never a panic.

/// One DER element: its tag and its content, and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    let (content, after) = rest.split_at_checked(len)?;
    Some((tag, content, after))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
/// `[0]`, the optional version of a TBSCertificate.
const VERSION: u8 = 0xa0;

/// The short names of the attributes a subject usually has, by their OID's DER content
/// (2.5.4.N is `55 04 N`).
fn attribute_name(oid: &[u8]) -> Option<&'static str> {
    match oid {
        [0x55, 0x04, 0x03] => Some("CN"),
        [0x55, 0x04, 0x06] => Some("C"),
        [0x55, 0x04, 0x07] => Some("L"),
        [0x55, 0x04, 0x08] => Some("ST"),
        [0x55, 0x04, 0x0a] => Some("O"),
        [0x55, 0x04, 0x0b] => Some("OU"),
        _ => None,
    }
}

/// The subject of the certificate in `der` as `CN=crm,O=Example`, its attributes in the order
/// the certificate has them (attributes of other types left out), or `None` when it cannot be
/// read.
pub(super) fn subject(der: &[u8]) -> Option<String> {
    let (SEQUENCE, cert, _) = element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(cert)? else {
        return None;
    };
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == VERSION {
        rest = after;
    }
    // serialNumber, signature, issuer, validity; then the subject.
    for _ in 0..4 {
        rest = element(rest)?.2;
    }
    let (SEQUENCE, mut name, _) = element(rest)? else {
        return None;
    };
    let mut parts = Vec::new();
    while !name.is_empty() {
        let (SET, mut set, after) = element(name)? else {
            return None;
        };
        name = after;
        while !set.is_empty() {
            let (SEQUENCE, pair, after) = element(set)? else {
                return None;
            };
            set = after;
            let (OID, oid, value) = element(pair)? else {
                return None;
            };
            let (_, value, _) = element(value)?;
            if let (Some(short), Ok(text)) = (attribute_name(oid), std::str::from_utf8(value)) {
                parts.push(format!("{short}={text}"));
            }
        }
    }
    Some(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_reads_as_nothing() {
        assert_eq!(subject(&[]), None);
        assert_eq!(subject(&[0x30, 0x82, 0xff]), None);
        assert_eq!(subject(&[0x30, 0x00]), None);
    }
}
