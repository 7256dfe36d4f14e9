//! Security identifiers (`S-1-5-21-…`), as the hand-off carries them.

use std::fmt;
use std::str::FromStr;

/// A Windows security identifier: a revision, a 48-bit identifier authority
/// and up to 15 sub-authorities. Written and parsed in the usual form,
/// `S-1-5-21-3387137905-872848467-374347351-1000`.
///
/// ```
/// use pipeway_smb::np::Sid;
///
/// let sid: Sid = "S-1-5-32-544".parse()?;
/// assert_eq!(sid.to_string(), "S-1-5-32-544");
/// assert_eq!(sid.rid(), Some(544));
/// # Ok::<(), pipeway_smb::np::SidParseError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Sid {
    revision: u8,
    authority: [u8; 6],
    sub_authorities: Vec<u32>,
}

/// A string that is not a SID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a SID (S-1-<authority>-<sub-authority>…, at most 15 sub-authorities)")]
pub struct SidParseError(pub String);

impl Sid {
    /// The most sub-authorities a SID has.
    pub const MAX_SUB_AUTHORITIES: usize = 15;

    pub(crate) fn from_parts(revision: u8, authority: [u8; 6], sub_authorities: Vec<u32>) -> Self {
        Self {
            revision,
            authority,
            sub_authorities,
        }
    }

    /// The revision (1 for every SID in use).
    pub fn revision(&self) -> u8 {
        self.revision
    }

    /// The identifier authority (5 for `S-1-5-…`, NT AUTHORITY).
    pub fn authority(&self) -> u64 {
        self.authority
            .iter()
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte))
    }

    pub(crate) fn authority_bytes(&self) -> [u8; 6] {
        self.authority
    }

    /// The sub-authorities, in order.
    pub fn sub_authorities(&self) -> &[u32] {
        &self.sub_authorities
    }

    /// The last sub-authority: the relative id of an account in its domain.
    pub fn rid(&self) -> Option<u32> {
        self.sub_authorities.last().copied()
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let authority = self.authority();
        // As Windows writes it: large authorities in hexadecimal.
        if authority >> 32 == 0 {
            write!(f, "S-{}-{authority}", self.revision)?;
        } else {
            write!(f, "S-{}-0x{authority:012X}", self.revision)?;
        }
        for sub in &self.sub_authorities {
            write!(f, "-{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({self})")
    }
}

impl FromStr for Sid {
    type Err = SidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || SidParseError(s.to_owned());
        let rest = s
            .strip_prefix("S-")
            .or_else(|| s.strip_prefix("s-"))
            .ok_or_else(err)?;
        let mut parts = rest.split('-');
        let revision: u8 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(err)?;
        let authority_text = parts.next().ok_or_else(err)?;
        let authority: u64 = match authority_text
            .strip_prefix("0x")
            .or_else(|| authority_text.strip_prefix("0X"))
        {
            Some(hex) => u64::from_str_radix(hex, 16).map_err(|_| err())?,
            None => authority_text.parse().map_err(|_| err())?,
        };
        if authority >> 48 != 0 {
            return Err(err());
        }
        let sub_authorities = parts
            .map(|p| p.parse::<u32>().map_err(|_| err()))
            .collect::<Result<Vec<_>, _>>()?;
        if sub_authorities.len() > Self::MAX_SUB_AUTHORITIES {
            return Err(err());
        }
        let bytes = authority.to_be_bytes();
        let mut authority = [0u8; 6];
        authority.copy_from_slice(&bytes[2..]);
        Ok(Self {
            revision,
            authority,
            sub_authorities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_usual_forms() {
        for text in [
            "S-1-5-21-3387137905-872848467-374347351-1000",
            "S-1-1-0",
            "S-1-22-2-1001",
            "S-1-0x123456789ABC-7",
        ] {
            assert_eq!(text.parse::<Sid>().unwrap().to_string(), text);
        }
        assert_eq!("s-1-5-18".parse::<Sid>().unwrap().to_string(), "S-1-5-18");
    }

    #[test]
    fn refuses_what_is_not_a_sid() {
        for text in [
            "",
            "S-1",
            "X-1-5",
            "S-1-5-x",
            "S-1-281474976710656",
            "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16",
        ] {
            assert!(text.parse::<Sid>().is_err(), "{text} was accepted");
        }
    }
}
