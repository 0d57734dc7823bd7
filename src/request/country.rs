//! ISO 3166-1 alpha-2 country codes: the full list of the 249 officially assigned codes,
//! taken from the iso-codes data (as shipped by pycountry 24) and kept sorted for search.

use crate::manifest::Problem;

/// A checked, upper-case ISO 3166-1 alpha-2 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CountryCode(&'static str);

impl CountryCode {
    /// Accepts any case and surrounding spaces; the code is kept in upper case.
    pub(crate) fn parse(input: &str) -> Result<CountryCode, Problem> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(Problem::Missing);
        }
        let upper = trimmed.to_ascii_uppercase();
        ASSIGNED
            .binary_search(&upper.as_str())
            .map(|i| CountryCode(ASSIGNED[i]))
            .map_err(|_| Problem::Country(trimmed.to_owned()))
    }

    pub(crate) fn as_str(self) -> &'static str {
        self.0
    }

    /// Every assigned code, upper case, sorted.
    pub(crate) fn all() -> &'static [&'static str] {
        &ASSIGNED
    }
}

const ASSIGNED: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA",
    "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV",
    "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU",
    "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES",
    "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM",
    "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE",
    "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM",
    "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY",
    "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT",
    "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU",
    "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA",
    "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM",
    "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL",
    "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE",
    "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_and_unique() {
        assert!(ASSIGNED.windows(2).all(|w| w[0] < w[1]));
        assert!(ASSIGNED.iter().all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())));
    }

    #[test]
    fn real_codes_pass_normalized() {
        assert_eq!(CountryCode::parse("cn").unwrap().as_str(), "CN");
        assert_eq!(CountryCode::parse(" US ").unwrap().as_str(), "US");
        assert_eq!(CountryCode::parse("AX").unwrap().as_str(), "AX");
    }

    #[test]
    fn two_letters_are_not_enough() {
        for bad in ["XX", "UK", "EU", "ZZ", "C", "CHN", "1A"] {
            assert_eq!(CountryCode::parse(bad), Err(Problem::Country(bad.into())), "{bad}");
        }
        assert_eq!(CountryCode::parse(""), Err(Problem::Missing));
    }
}
